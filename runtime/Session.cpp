//===- Session.cpp - Buffers and the plan executor ------------------------===//

#include "runtime/Session.h"

#include <algorithm>
#include <cstring>

namespace attn::runtime {

namespace fb = attn::artifact;

Session::Session(std::shared_ptr<const Artifact> artifact, unsigned threads)
    : artifact_(std::move(artifact)), pool_(threads) {}

Status Session::create(std::shared_ptr<const Artifact> artifact,
                       unsigned threads, std::unique_ptr<Session> &out) {
  std::unique_ptr<Session> session(new Session(std::move(artifact), threads));
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
  size_t bindings = 0, dispatches = 0;
  for (const ProgramPlan &program : model.programs()) {
    bindings = std::max(bindings, program.bindingCount);
    dispatches = std::max(dispatches, program.dispatches.size());
  }
  session->memrefs_.resize(bindings);
  session->works_.resize(dispatches);
  session->logits_.resize(static_cast<size_t>(model.vocabSize()));
  out = std::move(session);
  return Status();
}

void Session::reset() {
  const std::vector<BufferPlan> &buffers = artifact_->buffers();
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].kind == fb::BufferKind_KVCache)
      storage_[i].zero();
}

/// Copies the elements of `view` (rank <= 4, f32) in row-major order.
static void gather(const attn_memref &view, uint32_t rank, float *out) {
  int64_t sizes[ATTN_MAX_RANK], strides[ATTN_MAX_RANK];
  for (uint32_t d = 0; d < ATTN_MAX_RANK; ++d) {
    sizes[d] = d < rank ? view.sizes[d] : 1;
    strides[d] = d < rank ? view.strides[d] : 0;
  }
  const float *data = static_cast<const float *>(view.data);
  for (int64_t i0 = 0; i0 < sizes[0]; ++i0)
    for (int64_t i1 = 0; i1 < sizes[1]; ++i1)
      for (int64_t i2 = 0; i2 < sizes[2]; ++i2)
        for (int64_t i3 = 0; i3 < sizes[3]; ++i3)
          *out++ = data[i0 * strides[0] + i1 * strides[1] + i2 * strides[2] +
                        i3 * strides[3]];
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
  std::memcpy(bases_[program->tokens], tokens, S * sizeof(int32_t));

  attn_memref logitsView;
  Status status = model.evaluateProgram(*program, S, T, bases_.data(),
                                        memrefs_.data(), works_.data(),
                                        logitsView);
  if (!status.ok())
    return model.annotate(std::move(status));

  const attn_memref *bindings = memrefs_.data();
  for (size_t d = 0; d < program->dispatches.size(); ++d) {
    const DispatchPlan &dispatch = program->dispatches[d];
    attn_kernel_fn kernel = model.kernel(dispatch.kernel);
    pool_.parallelFor(works_[d], [&](int64_t begin, int64_t end) {
      kernel(bindings, S, T, begin, end);
    });
    bindings += dispatch.bindings.size();
  }

  gather(logitsView, program->logits.rank, logits_.data());
  logits = logits_.data();
  return Status();
}

} // namespace attn::runtime
