//===- Session.h - Buffers and the plan executor ----------------*- C++ -*-===//
//
// A session owns what one sequence needs: its Scratch, KVCache and Tokens
// buffers (allocated once, for the largest step) and a thread pool. A step
// writes the token ids, evaluates every binding at (S, T), runs the
// dispatches in order with a barrier between them, and gathers the logits.
// Steps allocate nothing.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_SESSION_H
#define ATTN_RUNTIME_SESSION_H

#include "runtime/Artifact.h"
#include "runtime/Mapping.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace attn::runtime {

/// One sequence's state on an artifact. Not thread-safe: one thread at a
/// time; sessions on the same artifact are independent.
class Session {
public:
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Allocates the buffers of `artifact` (KV caches zeroed) and starts a
  /// pool of `threads` threads, the caller included (0: one per hardware
  /// thread). The session keeps the artifact alive.
  static Status create(std::shared_ptr<const Artifact> artifact,
                       unsigned threads, std::unique_ptr<Session> &out);

  const Artifact &artifact() const { return *artifact_; }
  unsigned threads() const { return pool_.size(); }

  /// Zeroes the KV caches, so the next step starts a new sequence.
  void reset();

  /// Runs one step of the program called `program`: the S token ids in
  /// `tokens` at positions [T, T + S). On success `logits` points at the
  /// last position's vocabSize() logits, valid until the next run.
  Status run(std::string_view program, const int32_t *tokens, int64_t S,
             int64_t T, const float *&logits);

private:
  explicit Session(std::shared_ptr<const Artifact> artifact, unsigned threads);

  std::shared_ptr<const Artifact> artifact_;
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

#endif // ATTN_RUNTIME_SESSION_H
