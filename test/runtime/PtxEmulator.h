//===- PtxEmulator.h - PTX kernels run and checked on the CPU --*- C++ -*-===//
//
// The fake CUDA driver (FakeCuda.cpp) runs the PTX that attnc generates with
// this interpreter, so that the GPU backend's kernels execute, and are
// checked, on a machine without a GPU: like Triton's interpreter mode, plus a
// small compute-sanitizer.
//
// A module is parsed once, when it is loaded, into decoded instructions
// (opcode, types, register slots, immediates, branch targets as instruction
// indices); a launch is a switch over them with no string work. Every thread
// has 64-bit register slots that start as garbage. A launch runs its blocks
// one after another; inside a block one thread runs at a time until it
// reaches a synchronization point (bar.sync waits for every live thread of
// the block at the same barrier, shfl.sync for every lane of its member mask
// at the same instruction, mma.sync for all 32 lanes of the warp at the same
// instruction), then the next thread runs. So an atom or red (on global,
// shared or generic addresses) is one step of a thread running alone, and
// memory orders, scopes, fence and membar need nothing more. What a GPU
// would leave undefined fails the launch with a message naming the kernel
// and the PTX line: an access (ld, st, atom, red) outside every allocation
// (or outside the block's shared memory) or misaligned, a shared memory
// race (a byte that one thread wrote and another accessed, or one read and
// another wrote, between two barriers; atomics of several threads to the
// same bytes are no race, a plain access and another thread's atomic are),
// a shuffle with an exited lane, threads waiting at different barriers, a
// block where no thread can progress, an integer division by zero.
//
// Semantics follow the PTX ISA: f32 arithmetic is IEEE single precision with
// round-to-nearest-even and no contraction (the file is compiled with
// -ffp-contract=off), .ftz flushes subnormal inputs and results, the .approx
// functions are their correctly rounded C library counterparts. atom and
// red have their scalar 32- and 64-bit forms (add, inc, dec, min, max, and,
// or, xor, exch, cas; not those of .b16, .b128, f16, bf16, vectors or cache
// hints); an f32 atomic add flushes subnormals on global memory but not on
// shared memory, as the hardware does. The one tensor-core instruction,
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, reads the upper 19
// bits of each tf32 input and accumulates in f32, one rounded add per k in
// k order (the hardware's order is unspecified).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_RUNTIME_PTXEMULATOR_H
#define ATTN_TEST_RUNTIME_PTXEMULATOR_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace attn::ptxemu {

/// A launch's grid or block extent, or a block or thread index.
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

/// The device memory kernels may access: the live cuMemAlloc allocations,
/// by their host addresses (device pointers are host pointers in the fake).
class Allocations {
public:
  /// Records the allocation [base, base + size).
  void add(uint64_t base, uint64_t size) { ranges_[base] = size; }
  /// Forgets the allocation at `base`; false if there is none.
  bool remove(uint64_t base) { return ranges_.erase(base) != 0; }
  /// Whether [address, address + size) lies inside one live allocation;
  /// sets [lo, hi) to that allocation's extent.
  bool find(uint64_t address, uint64_t size, uint64_t &lo, uint64_t &hi) const;
  /// The number of live allocations.
  size_t size() const { return ranges_.size(); }

private:
  std::map<uint64_t, uint64_t> ranges_;
};

struct Kernel;

/// A parsed PTX module: its kernels, decoded.
class Module {
public:
  ~Module();
  /// Parses PTX `text`. On failure returns null and sets `error` to
  /// "line N: <what>" (e.g. "line 12: unsupported instruction 'prmt.b32'").
  static std::unique_ptr<Module> parse(const char *text, std::string &error);
  /// The kernel (.entry) named `name`, or null.
  const Kernel *kernel(const std::string &name) const;

private:
  Module();
  std::vector<std::unique_ptr<Kernel>> kernels_;
};

/// The size in bytes of a kernel's parameter buffer, and where each
/// parameter lies in it (cuLaunchKernel's kernelParams are copied there).
struct ParamLayout {
  std::vector<unsigned> offsets, sizes;
  unsigned bytes = 0;
};
/// `kernel`'s parameters.
const ParamLayout &paramLayout(const Kernel &kernel);

/// How a launch failed.
enum class LaunchStatus {
  Ok,
  /// Bad launch geometry (more threads than .maxntid, too much shared
  /// memory): CUDA_ERROR_INVALID_VALUE.
  InvalidValue,
  /// An access outside device memory or misaligned: the driver's
  /// CUDA_ERROR_ILLEGAL_ADDRESS.
  IllegalAddress,
  /// A synchronization error, a division by zero, a deadlock:
  /// CUDA_ERROR_LAUNCH_FAILED.
  Failed,
};

/// One launch of a kernel.
struct LaunchConfig {
  Dim3 grid, block;
  /// Dynamic shared memory (the .extern .shared arrays), in bytes.
  unsigned dynamicSharedBytes = 0;
  /// The parameter buffer, laid out as paramLayout() says.
  const uint8_t *params = nullptr;
};

/// Runs `kernel` as `config` says. On failure sets `message` to one line,
/// "<kernel>: line N: <what happened>", naming the block and thread.
/// Adds the number of instructions executed to `instructions`.
LaunchStatus launch(const Kernel &kernel, const LaunchConfig &config,
                    const Allocations &memory, std::string &message,
                    uint64_t &instructions);

} // namespace attn::ptxemu

#endif // ATTN_TEST_RUNTIME_PTXEMULATOR_H
