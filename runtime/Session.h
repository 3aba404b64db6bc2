//===- Session.h - One sequence on a device ---------------------*- C++ -*-===//
//
// A session owns what one sequence needs on one device: its Scratch, KVCache
// and Tokens buffers (allocated once, for the largest step) and whatever runs
// the kernels. Session is the backend boundary: the generation loop and the C
// API see only this interface; CpuSession (threads running the artifact's
// shared object) and CudaSession (PTX on a GPU through the driver API)
// implement it. Steps allocate nothing.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_SESSION_H
#define ATTN_RUNTIME_SESSION_H

#include "runtime/Artifact.h"
#include "runtime/Profile.h"

#include <cstdint>
#include <memory>
#include <string_view>

namespace attn::runtime {

/// Where a session runs its kernels. The values are those of the C API's
/// attn_device_t.
enum class Device {
  /// CUDA when the artifact has CUDA kernels and a GPU is usable, else CPU.
  Auto = 0,
  Cpu = 1,
  Cuda = 2,
};

/// "auto", "cpu" or "cuda".
const char *deviceName(Device device);

struct SessionOptions {
  Device device = Device::Auto;
  /// CPU: threads that run kernels, the caller included (0: one per
  /// hardware thread). Unused on CUDA.
  unsigned threads = 0;
  /// Time every kernel (Profile); on CUDA decode then runs kernel by
  /// kernel instead of as a graph.
  bool profile = false;
};

/// One sequence's state on an artifact and a device. Not thread-safe: one
/// thread at a time; sessions on the same artifact are independent.
class Session {
public:
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;
  virtual ~Session();

  /// Creates a session on the device `options` names (resolving Auto),
  /// with its buffers allocated and its KV caches zeroed. The session keeps
  /// the artifact alive.
  static Status create(std::shared_ptr<const Artifact> artifact,
                       const SessionOptions &options,
                       std::unique_ptr<Session> &out);

  const Artifact &artifact() const { return *artifact_; }
  /// Cpu or Cuda, never Auto.
  virtual Device device() const = 0;

  /// Zeroes the KV caches, so the next step starts a new sequence.
  virtual Status reset() = 0;

  /// Runs one step of the program called `program`: the S token ids in
  /// `tokens` at positions [T, T + S). On success `logits` points at the
  /// last position's vocabSize() logits, valid until the next run. Checks
  /// the program, S, T and the ids before the device sees them.
  Status run(std::string_view program, const int32_t *tokens, int64_t S,
             int64_t T, const float *&logits);

  /// The time per kernel so far, or null unless the session profiles.
  const Profile *profile() const { return profile_.get(); }

protected:
  explicit Session(std::shared_ptr<const Artifact> artifact);

  /// run() once its arguments are checked.
  virtual Status step(const ProgramPlan &program, const int32_t *tokens,
                      int64_t S, int64_t T, const float *&logits) = 0;

  /// The index of `program` in the artifact's programs().
  size_t programIndex(const ProgramPlan &program) const {
    return static_cast<size_t>(&program - artifact_->programs().data());
  }

  std::shared_ptr<const Artifact> artifact_;
  /// Set before the first step when the session profiles.
  std::unique_ptr<Profile> profile_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_SESSION_H
