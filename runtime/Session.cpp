//===- Session.cpp - One sequence on a device -----------------------------===//

#include "runtime/Session.h"

#include "attn/runtime.h"
#include "runtime/CpuSession.h"
#include "runtime/cuda/CudaSession.h"

namespace attn::runtime {

const char *deviceName(Device device) {
  switch (device) {
  case Device::Auto:
    return "auto";
  case Device::Cpu:
    return "cpu";
  case Device::Cuda:
    return "cuda";
  }
  return "auto";
}

Session::Session(std::shared_ptr<const Artifact> artifact)
    : artifact_(std::move(artifact)) {}

Session::~Session() = default;

Status Session::create(std::shared_ptr<const Artifact> artifact,
                       const SessionOptions &options,
                       std::unique_ptr<Session> &out) {
  Device device = options.device;
  if (device == Device::Auto)
    device = artifact->cuda() && cuda::CudaSession::available() ? Device::Cuda
                                                                : Device::Cpu;
  if (device == Device::Cuda) {
    std::unique_ptr<cuda::CudaSession> session;
    ATTN_RETURN_IF_ERROR(cuda::CudaSession::create(
        std::move(artifact), options.profile, session));
    out = std::move(session);
  } else if (device == Device::Cpu) {
    if (options.threads > ATTN_MAX_THREADS)
      return makeError(StatusCode::InvalidArgument,
                       "threads: %u is more than the %d a session may use",
                       options.threads, ATTN_MAX_THREADS);
    std::unique_ptr<CpuSession> session;
    ATTN_RETURN_IF_ERROR(
        CpuSession::create(std::move(artifact), options.threads, session));
    out = std::move(session);
  } else {
    return makeError(StatusCode::InvalidArgument, "unknown device %d",
                     static_cast<int>(device));
  }
  if (options.profile)
    out->profile_ = std::make_unique<Profile>(*out->artifact_);
  return Status();
}

Status Session::run(std::string_view name, const int32_t *tokens, int64_t S,
                    int64_t T, const float *&logits) {
  const Artifact &model = *artifact_;
  const ProgramPlan *program = model.findProgram(name);
  if (!program)
    return model.error(StatusCode::NotFound, "there is no program '%.*s'",
                       (int)name.size(), name.data());
  if (S < 1)
    return model.error(StatusCode::InvalidArgument,
                       "a step needs at least one token");
  if (program->staticS != 0 && S != program->staticS)
    return model.error(StatusCode::InvalidArgument,
                       "program '%.*s' takes %lld tokens per step, not %lld",
                       (int)name.size(), name.data(),
                       (long long)program->staticS, (long long)S);
  if (T < 0 || T > model.contextLength() - S)
    return model.error(StatusCode::InvalidArgument,
                       "a step of %lld tokens at position %lld does not fit "
                       "in the context of %lld tokens",
                       (long long)S, (long long)T,
                       (long long)model.contextLength());
  // Kernels index embeddings with these; an id outside the vocabulary
  // would read outside the table.
  for (int64_t i = 0; i < S; ++i)
    if (tokens[i] < 0 || tokens[i] >= model.vocabSize())
      return model.error(StatusCode::InvalidArgument,
                         "token id %d at index %lld is not in the vocabulary "
                         "[0, %lld)",
                         tokens[i], (long long)i,
                         (long long)model.vocabSize());
  ATTN_RETURN_IF_ERROR(step(*program, tokens, S, T, logits));
  if (profile_)
    profile_->addStep(programIndex(*program));
  return Status();
}

} // namespace attn::runtime
