//===- CpuSession.h - The plan executor on the CPU --------------*- C++ -*-===//
//
// Buffers in anonymous mappings, weights read where the artifact holds them
// (its mapping, or its transposed copies of external tensors), and a thread
// pool: a step evaluates every binding at (S, T) into
// attn_memrefs, runs the dispatches in order (each split into chunks over
// the pool, a barrier between dispatches) and gathers the logits.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CPUSESSION_H
#define ATTN_RUNTIME_CPUSESSION_H

#include "runtime/Mapping.h"
#include "runtime/Session.h"
#include "runtime/ThreadPool.h"

#include <vector>

namespace attn::runtime {

class CpuSession final : public Session {
public:
  /// Allocates the buffers of `artifact` (KV caches zeroed) and starts a
  /// pool of `threads` threads, the caller included (0: one per hardware
  /// thread). Fails for an artifact without CPU kernels.
  static Status create(std::shared_ptr<const Artifact> artifact,
                       unsigned threads, std::unique_ptr<CpuSession> &out);

  Device device() const override { return Device::Cpu; }
  unsigned threads() const { return pool_.size(); }
  Status reset() override;

private:
  CpuSession(std::shared_ptr<const Artifact> artifact, unsigned threads);

  Status step(const ProgramPlan &program, const int32_t *tokens, int64_t S,
              int64_t T, const float *&logits) override;

  /// Per buffer: its memory (empty for weights, which live in the artifact).
  std::vector<Mapping> storage_;
  /// Per buffer: where its elements start.
  std::vector<std::byte *> bases_;
  // Filled at each step; sized for the largest program.
  std::vector<attn_memref> memrefs_;
  std::vector<int64_t> works_;
  std::vector<float> logits_;
  /// Last, so that its workers stop before the memory above goes away.
  ThreadPool pool_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_CPUSESSION_H
