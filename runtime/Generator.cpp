//===- Generator.cpp - The generation loop --------------------------------===//

#include "runtime/Generator.h"

namespace attn::runtime {

const char *stopReasonName(StopReason reason) {
  switch (reason) {
  case StopReason::None:
    return "none";
  case StopReason::Eos:
    return "eos";
  case StopReason::Length:
    return "length";
  case StopReason::Context:
    return "context";
  }
  return "none";
}

Generator::Generator(Session &session, const GenerateOptions &options)
    : session_(session), options_(options),
      sampler_(options.sampling,
               static_cast<size_t>(session.artifact().vocabSize())) {}

Status Generator::start(Session &session, const int32_t *prompt, size_t count,
                        const GenerateOptions &options,
                        std::unique_ptr<Generator> &out) {
  ATTN_RETURN_IF_ERROR(validateSamplingOptions(options.sampling));
  if (options.maxNewTokens < 0)
    return makeError(StatusCode::InvalidArgument,
                     "the number of new tokens must be >= 0, not %lld",
                     (long long)options.maxNewTokens);
  const Artifact &model = session.artifact();
  std::unique_ptr<Generator> generator(new Generator(session, options));
  std::vector<int32_t> &tokens = generator->prompt_;
  tokens.assign(prompt, prompt + count);
  if (tokens.empty()) {
    if (model.bosToken() < 0)
      return model.error(StatusCode::InvalidArgument,
                         "the prompt is empty and the model has no "
                         "bos_token to start from");
    tokens.push_back(static_cast<int32_t>(model.bosToken()));
  }
  size_t context = static_cast<size_t>(model.contextLength());
  if (tokens.size() > context) {
    if (!options.truncatePrompt)
      return model.error(StatusCode::InvalidArgument,
                         "the prompt has %zu tokens, more than the context "
                         "length %zu",
                         tokens.size(), context);
    tokens.erase(tokens.begin(), tokens.end() - context);
  }

  ATTN_RETURN_IF_ERROR(session.reset());
  ATTN_RETURN_IF_ERROR(session.run("prefill", tokens.data(),
                                   static_cast<int64_t>(tokens.size()), 0,
                                   generator->logits_));
  generator->position_ = static_cast<int64_t>(tokens.size());
  out = std::move(generator);
  return Status();
}

Status Generator::next(int32_t &token, StopReason &reason) {
  token = -1;
  if (stop_ == StopReason::None && generated_ == options_.maxNewTokens)
    stop_ = StopReason::Length;
  if (stop_ != StopReason::None) {
    reason = stop_;
    return Status();
  }

  const Artifact &model = session_.artifact();
  token = sampler_.sample(logits_);
  ++generated_;
  if (token == model.stopToken())
    stop_ = StopReason::Eos;
  else if (generated_ == options_.maxNewTokens)
    stop_ = StopReason::Length;
  else if (position_ == model.contextLength())
    // The token is valid, but there is no position left to decode it at.
    stop_ = StopReason::Context;
  else {
    ATTN_RETURN_IF_ERROR(session_.run("decode", &token, 1, position_, logits_));
    ++position_;
  }
  reason = stop_;
  return Status();
}

} // namespace attn::runtime
