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
// memory orders, scopes, fence and membar need nothing more for the values
// (the race check between blocks below uses them). What a GPU would leave
// undefined fails the launch with a message naming the kernel and the PTX
// line: an access (ld, st, atom, red) outside every allocation (or outside
// the block's shared memory) or misaligned, a shared memory race (a byte
// that one thread wrote and another accessed, or one read and another
// wrote, between two barriers; atomics of several threads to the same
// bytes are no race, a plain access and another thread's atomic are), a
// shuffle with an exited lane, threads waiting at different barriers, a
// block where no thread can progress, an integer division by zero, and a
// global memory race between blocks (below).
//
// Blocks running one after another hide the races between them, so a
// launch also checks, on global memory, that another block's conflicting
// access is ordered before each access, as the PTX memory model's message
// passing orders it: the writers write, execute a device-scope fence
// (membar.gl or .sys, fence.sc or .acq_rel at .gpu or .sys) and bar.sync,
// then one thread does an atomic on a counter; the reader's thread does an
// atomic on it, bar.sync, then the reading threads execute a fence. The
// model is per block, conservative and simple: an access is released once
// its block (any thread of it, in the order the emulator ran them)
// executes a device-scope fence after it; a block has acquired once it has
// executed an atom (global, device scope) or strong load and then a
// device-scope fence, or an acquire at device scope (ld.acquire,
// atom.acquire or .acq_rel; a release, st.release or atom.release or
// .acq_rel, is a fence before the access). Accesses of two blocks to an
// overlapping byte conflict where one of them writes (RAW, WAR, WAW), but
// for two atomics (atom, red) or strong accesses (ld or st .relaxed,
// .acquire, .release or .volatile) at device scope; at .cta or .cluster
// scope those are plain accesses. A conflict fails the launch (naming both
// blocks, and whether the earlier access was not released or this block
// had not acquired) unless the earlier access was released and this block
// has acquired. A block's atomic on a word takes over the word's earlier
// atomics (it observed them), so the last block may reset a counter with a
// plain store. Each allocation has a 12-byte record per 4-byte word (per
// byte once blocks accessed different bytes of a word): the last write,
// the latest plain read, and one earlier plain read of another block (an
// unreleased one where there is one), as ticks of a clock that counts
// launches, blocks and fences, so that a launch ignores the records of
// earlier ones without clearing them, and a read of read-only data costs
// a compare (and a store, once per block and word). Not checked: that the
// writers' and the reader's atomics are on the same counter, that bar.sync
// orders the threads of a block (the emulator's order stands for it), a
// plain store after another block's strong load.
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

/// The inter-block race check's record of a 4-byte word (or a byte) of
/// device memory (PtxEmulator.cpp).
struct RaceRecord;

/// The device memory kernels may access: the live cuMemAlloc allocations,
/// by their host addresses (device pointers are host pointers in the fake),
/// with the race check's records of them.
class Allocations {
public:
  Allocations();
  Allocations(const Allocations &) = delete;
  Allocations &operator=(const Allocations &) = delete;
  ~Allocations();
  /// Records the allocation [base, base + size).
  void add(uint64_t base, uint64_t size);
  /// Forgets the allocation at `base`; false if there is none.
  bool remove(uint64_t base);
  /// Whether [address, address + size) lies inside one live allocation;
  /// sets [lo, hi) to that allocation's extent.
  bool find(uint64_t address, uint64_t size, uint64_t &lo, uint64_t &hi) const;
  /// The number of live allocations.
  size_t size() const { return ranges_.size(); }

private:
  friend class RaceRecords;
  struct Range {
    uint64_t size = 0;
    /// The race check's records: one per 4-byte word, or per byte once
    /// blocks have accessed different bytes of one word (`bytes`); zeroed
    /// memory from calloc, made by the first launch that touches the
    /// allocation (null before).
    RaceRecord *records = nullptr;
    bool bytes = false;
  };
  /// The range that holds [address, address + size), or null.
  Range *findRange(uint64_t address, uint64_t size, uint64_t &lo, uint64_t &hi);
  std::map<uint64_t, Range> ranges_;
  /// The race check's clock: it ticks at each launch, each block of a
  /// launch and each device-scope fence, and the records hold ticks, so a
  /// launch ignores the records of earlier ones without clearing them.
  uint32_t clock_ = 0;
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

/// Runs `kernel` as `config` says on `memory`, whose race records it
/// updates. On failure sets `message` to one line, "<kernel>: line N: <what
/// happened>", naming the block and thread.
/// Adds the number of instructions executed to `instructions`.
LaunchStatus launch(const Kernel &kernel, const LaunchConfig &config,
                    Allocations &memory, std::string &message,
                    uint64_t &instructions);

} // namespace attn::ptxemu

#endif // ATTN_TEST_RUNTIME_PTXEMULATOR_H
