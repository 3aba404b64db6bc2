//===- Profile.h - Time per kernel, when a session profiles -----*- C++ -*-===//
//
// attn-run --profile (attn_session_options_t.profile) makes a session time
// every dispatch: on the CPU with the host clock around each kernel, on CUDA
// with events around each launch (decode then runs kernel by kernel rather
// than as a graph, so that each kernel's time is its own). The table tells
// where a step's time goes, kernel by kernel, which is what tuning a backend
// on a machine borrowed for minutes needs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_PROFILE_H
#define ATTN_RUNTIME_PROFILE_H

#include "runtime/Artifact.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attn::runtime {

/// Calls and time of every (program, kernel) pair. Sized once, so that
/// recording allocates nothing.
class Profile {
public:
  explicit Profile(const Artifact &artifact);

  /// One step of program `program` (its index in Artifact::programs()).
  void addStep(size_t program) { ++steps_[program]; }
  /// One run of kernel `kernel` in program `program`, taking `seconds`.
  void addKernel(size_t program, uint32_t kernel, double seconds);

  /// A table per program that ran: its steps and time in kernels, then its
  /// kernels by decreasing total time with calls, total, mean and share.
  std::string format(const Artifact &artifact, const char *device) const;

private:
  struct Entry {
    uint64_t calls = 0;
    double seconds = 0;
  };
  size_t kernels_;
  /// [program * kernels_ + kernel].
  std::vector<Entry> entries_;
  std::vector<uint64_t> steps_;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_PROFILE_H
