//===- ThreadPool.cpp - Persistent workers for kernel dispatches ----------===//

#include "runtime/ThreadPool.h"

#include <algorithm>
#include <string>
#include <system_error>

namespace attn::runtime {

/// A waiting thread first polls with a pause between checks, then yields
/// between checks (so that with more threads than cores the thread it waits
/// for gets to run), then blocks. Together some tens of microseconds: longer
/// than the gap between two dispatches of a step.
static constexpr int kPauseIterations = 256;
static constexpr int kYieldIterations = 256;

static inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Polls until `done()` holds or the budget is spent; true if it holds.
template <typename Predicate> static bool spinUntil(Predicate done) {
  for (int i = 0; i < kPauseIterations + kYieldIterations; ++i) {
    if (done())
      return true;
    if (i < kPauseIterations)
      cpuRelax();
    else
      std::this_thread::yield();
  }
  return done();
}

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads - 1);
  try {
    for (unsigned i = 1; i < threads; ++i)
      workers_.emplace_back([this] { workerMain(); });
  } catch (const std::system_error &error) {
    // No destructor runs for a constructor that throws, and destroying a
    // joinable std::thread terminates the process: join the workers that
    // did start before reporting how many were asked for.
    stop();
    throw std::system_error(
        error.code(), "cannot start " + std::to_string(threads) + " threads");
  }
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread &worker : workers_)
    worker.join();
  workers_.clear();
}

void ThreadPool::runChunks() {
  for (;;) {
    int64_t begin = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= work_)
      return;
    invoke_(context_, begin, std::min(work_, begin + chunk_));
  }
}

void ThreadPool::run(int64_t work, void *context, Invoke invoke) {
  if (work <= 0)
    return;
  int64_t chunk = std::max<int64_t>(1, work / (4 * int64_t(size())));
  // A loop of one chunk is not worth waking anybody.
  if (workers_.empty() || chunk >= work) {
    invoke(context, 0, work);
    return;
  }
  context_ = context;
  invoke_ = invoke;
  work_ = work;
  chunk_ = chunk;
  next_.store(0, std::memory_order_relaxed);
  busy_.store(static_cast<unsigned>(workers_.size()),
              std::memory_order_relaxed);
  {
    // Under the mutex so that a worker about to sleep cannot miss it.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();

  runChunks();

  // The barrier: every worker has left runChunks, so every chunk is done.
  auto finished = [this] {
    return busy_.load(std::memory_order_acquire) == 0;
  };
  if (!spinUntil(finished)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
  }
}

void ThreadPool::workerMain() {
  uint64_t seen = 0;
  for (;;) {
    auto ready = [&] {
      return generation_.load(std::memory_order_acquire) != seen;
    };
    if (!spinUntil(ready)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || ready(); });
      if (stopping_)
        return;
    }
    seen = generation_.load(std::memory_order_acquire);
    runChunks();
    if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Taking the mutex orders this notify after the caller's check of
      // busy_ in done_.wait, so the wake-up cannot be lost.
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

} // namespace attn::runtime
