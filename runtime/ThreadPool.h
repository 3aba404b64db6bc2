//===- ThreadPool.h - Persistent workers for kernel dispatches --*- C++ -*-===//
//
// A decode step runs hundreds of small dispatches, each split across threads
// and followed by a barrier. Starting threads or allocating per dispatch would
// cost more than the kernels, so the pool keeps its workers for the session's
// lifetime, hands out chunks through one atomic counter, and lets workers spin
// briefly before they sleep, since the next dispatch usually follows at once.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_THREADPOOL_H
#define ATTN_RUNTIME_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace attn::runtime {

/// A fixed set of threads that run parallel loops. One loop runs at a time:
/// parallelFor must not be called from two threads at once, nor from inside
/// a loop body.
class ThreadPool {
public:
  /// A pool whose loops run on `threads` threads: the caller and threads - 1
  /// workers. 0 means one per hardware thread. Throws std::system_error
  /// ("cannot start N threads: ...") when a worker cannot be started, after
  /// joining those that were, and std::bad_alloc.
  explicit ThreadPool(unsigned threads);
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;
  ~ThreadPool();

  /// The number of threads a loop runs on, the caller included.
  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }

  /// Calls body(begin, end) on disjoint chunks that cover [0, work), on the
  /// caller and the workers, and returns once every chunk is done (their
  /// writes are then visible to the caller). Chunks hold about
  /// work / (4 * size()) items, so that threads that finish early take more.
  template <typename Body> void parallelFor(int64_t work, Body &&body) {
    using BodyType = std::remove_reference_t<Body>;
    run(work, &body, [](void *context, int64_t begin, int64_t end) {
      (*static_cast<BodyType *>(context))(begin, end);
    });
  }

private:
  using Invoke = void (*)(void *context, int64_t begin, int64_t end);

  void run(int64_t work, void *context, Invoke invoke);
  /// Claims and runs chunks of the current loop until none are left.
  void runChunks();
  void workerMain();
  /// Wakes the workers to exit and joins them.
  void stop();

  std::vector<std::thread> workers_;

  // The current loop; written by the caller before it bumps generation_.
  void *context_ = nullptr;
  Invoke invoke_ = nullptr;
  int64_t work_ = 0;
  int64_t chunk_ = 1;
  /// The first item no thread has claimed yet.
  std::atomic<int64_t> next_{0};
  /// Workers that have not finished the current loop.
  std::atomic<unsigned> busy_{0};
  /// Counts loops; a worker runs a loop when it sees a new value.
  std::atomic<uint64_t> generation_{0};

  std::mutex mutex_;
  /// Workers sleep on this between loops.
  std::condition_variable wake_;
  /// The caller sleeps on this until busy_ is 0.
  std::condition_variable done_;
  bool stopping_ = false;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_THREADPOOL_H
