//===- Generator.h - The generation loop ------------------------*- C++ -*-===//
//
// Prefill the prompt, then sample a token and decode it at the next position,
// one token per call, until the stop token, the token limit or the end of the
// context. One call per token lets callers stream text and see every step's
// logits without callbacks.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_GENERATOR_H
#define ATTN_RUNTIME_GENERATOR_H

#include "runtime/Sampler.h"
#include "runtime/Session.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace attn::runtime {

struct GenerateOptions {
  SamplingOptions sampling;
  /// Tokens to generate at most; 0 runs the prefill only.
  int64_t maxNewTokens = 32;
  /// Keep the last context-length tokens of a longer prompt instead of
  /// failing.
  bool truncatePrompt = false;
};

/// Why a generation ended. The values are those of attn_stop_reason_t.
enum class StopReason {
  /// Still going.
  None = 0,
  /// The model produced its stop token.
  Eos = 1,
  /// maxNewTokens tokens were generated.
  Length = 2,
  /// The context is full.
  Context = 3,
};

/// "eos", "length", "context", or "none".
const char *stopReasonName(StopReason reason);

/// One generation on a session. Not thread-safe; the session must outlive
/// the generator and do nothing else meanwhile.
class Generator {
public:
  /// Resets `session` and runs the prefill of `prompt` (its `count` ids). An
  /// empty prompt becomes the model's bos_token, if it has one.
  static Status start(Session &session, const int32_t *prompt, size_t count,
                      const GenerateOptions &options,
                      std::unique_ptr<Generator> &out);

  /// The token ids the prefill ran on (after bos and truncation).
  const std::vector<int32_t> &prompt() const { return prompt_; }

  /// The last position's logits of the latest step (vocabSize of them):
  /// the prefill's after start(), a decode step's after each next() that
  /// returns StopReason::None. Valid until the next call to next().
  const float *logits() const { return logits_; }

  /// Samples the next token into `token` (-1 when none was produced) and
  /// sets `reason`. With StopReason::None the token was decoded and the
  /// generation goes on; otherwise `token`, if any, is the last one (with
  /// Eos it is the stop token) and later calls produce nothing.
  Status next(int32_t &token, StopReason &reason);

private:
  Generator(Session &session, const GenerateOptions &options);

  Session &session_;
  GenerateOptions options_;
  Sampler sampler_;
  std::vector<int32_t> prompt_;
  const float *logits_ = nullptr;
  /// The number of tokens in the KV cache: the next token's position.
  int64_t position_ = 0;
  int64_t generated_ = 0;
  StopReason stop_ = StopReason::None;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_GENERATOR_H
