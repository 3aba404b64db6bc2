//===- CpuSession.cpp - The plan executor on the CPU ----------------------===//

#include "runtime/CpuSession.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace attn::runtime {

namespace fb = attn::artifact;

CpuSession::CpuSession(std::shared_ptr<const Artifact> artifact,
                       unsigned threads)
    : Session(std::move(artifact)), pool_(threads) {}

Status CpuSession::create(std::shared_ptr<const Artifact> artifact,
                          unsigned threads, std::unique_ptr<CpuSession> &out) {
  if (!artifact->hasCpuKernels())
    return artifact->error(StatusCode::Unsupported,
                           "the artifact has no CPU kernels (it was compiled "
                           "for CUDA only); run it on a CUDA device");
  std::unique_ptr<CpuSession> session(
      new CpuSession(std::move(artifact), threads));
  const Artifact &model = *session->artifact_;
  const std::vector<BufferPlan> &buffers = model.buffers();
  session->storage_.resize(buffers.size());
  session->bases_.resize(buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    const BufferPlan &buffer = buffers[i];
    if (buffer.kind == fb::BufferKind_Weight) {
      // Kernels never write weights; the const goes for the ABI's sake.
      session->bases_[i] = const_cast<std::byte *>(buffer.weight);
      continue;
    }
    // The loader checked that this product does not overflow. Anonymous
    // mappings come zeroed and page aligned (beyond the 64 bytes promised).
    size_t bytes = static_cast<size_t>(buffer.elements) * dtypeSize(buffer.dtype);
    Status status = Mapping::allocateZeroed(bytes, session->storage_[i]);
    if (!status.ok())
      return model.annotate(std::move(status).withPrefix(
          model.describeBuffer(static_cast<uint32_t>(i)) + ": "));
    session->bases_[i] = session->storage_[i].data();
  }
  session->memrefs_.resize(model.maxBindingCount());
  session->works_.resize(model.maxDispatchCount());
  session->logits_.resize(static_cast<size_t>(model.vocabSize()));
  out = std::move(session);
  return Status();
}

Status CpuSession::reset() {
  const std::vector<BufferPlan> &buffers = artifact_->buffers();
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].kind == fb::BufferKind_KVCache)
      storage_[i].zero();
  return Status();
}

/// A dispatch whose operands hold fewer elements than this (512 KiB of f32)
/// runs on the calling thread: waking the pool and meeting at the barrier
/// costs a few microseconds, as much as such a kernel takes (CogModel's
/// 128x128 matmuls and 64-token prefills ran slower on two threads than on
/// one).
static constexpr int64_t kInlineElements = 128 * 1024;

/// The number of elements `view` spans.
static int64_t viewElements(const attn_memref &view, uint32_t rank) {
  int64_t elements = 1;
  for (uint32_t d = 0; d < rank; ++d)
    elements *= view.sizes[d];
  return elements;
}

Status CpuSession::step(const ProgramPlan &program, const int32_t *tokens,
                        int64_t S, int64_t T, const float *&logits) {
  const Artifact &model = *artifact_;
  std::memcpy(bases_[program.tokens], tokens, S * sizeof(int32_t));

  attn_memref logitsView;
  Status status = model.evaluateProgram(program, S, T, bases_.data(),
                                        memrefs_.data(), works_.data(),
                                        logitsView);
  if (!status.ok())
    return model.annotate(std::move(status));

  const attn_memref *bindings = memrefs_.data();
  for (size_t d = 0; d < program.dispatches.size(); ++d) {
    const DispatchPlan &dispatch = program.dispatches[d];
    attn_kernel_fn kernel = model.kernel(dispatch.kernel);
    int64_t elements = 0;
    for (size_t b = 0; b < dispatch.bindings.size(); ++b)
      elements += viewElements(bindings[b], dispatch.bindings[b].rank);
    // The clock is read only when profiling: a decode step runs ~100
    // dispatches of a few microseconds.
    std::chrono::steady_clock::time_point start;
    if (profile_)
      start = std::chrono::steady_clock::now();
    if (elements < kInlineElements)
      kernel(bindings, S, T, 0, works_[d]);
    else
      pool_.parallelFor(works_[d], [&](int64_t begin, int64_t end) {
        kernel(bindings, S, T, begin, end);
      });
    if (profile_)
      profile_->addKernel(
          programIndex(program), dispatch.kernel,
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        start)
              .count());
    bindings += dispatch.bindings.size();
  }

  gatherF32(logitsView, program.logits.rank, logits_.data());
  logits = logits_.data();
  return Status();
}

} // namespace attn::runtime
