//===- GPUKernelBuilder.h - building blocks of the GPU kernels --*- C++ -*-===//
//
// What attn-kernels-to-gpu builds kernel bodies from: scalar helpers on
// memrefs, loops spread over a block's threads or a warp's lanes, and the
// kernels of the op families with a file of their own (attention in
// GPUAttention.cpp, linear layers in GPUMatmul.cpp). Everything is built
// with the gpu, scf, memref, arith and math dialects inside a gpu.func.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_CODEGEN_GPUKERNELBUILDER_H
#define ATTN_COMPILER_CODEGEN_GPUKERNELBUILDER_H

#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include <limits>
#include <optional>

namespace mlir::attn::gpu_kernels {

inline constexpr double kNegInf = -std::numeric_limits<double>::infinity();
inline constexpr int64_t kWarpSize = 32;

//===----------------------------------------------------------------------===//
// Scalars and loops
//===----------------------------------------------------------------------===//

Value indexConstant(OpBuilder &b, Location loc, int64_t value);

/// Axis `axis` of the memref `v`, constant where static.
Value dimOf(OpBuilder &b, Location loc, Value v, int64_t axis);

/// Every axis of the memref `v`, as dimOf.
SmallVector<Value> dimsOf(OpBuilder &b, Location loc, Value v);

/// `memref[indices]` as `type`: narrow weights (f16, bf16) are widened, as
/// the CPU kernels do.
Value loadAs(OpBuilder &b, Location loc, Value memref, ValueRange indices,
             Type type);

/// for (i = lb; i < ub; i += step) body(i).
void forLoop(OpBuilder &b, Location loc, Value lb, Value ub, Value step,
             function_ref<void(Value)> body);

/// Emits `body` under `if (condition)`.
void emitIf(OpBuilder &b, Location loc, Value condition,
            function_ref<void()> body);

/// Folds `step(acc, i)` over i in [lb, ub) by `stride` (default 1),
/// starting from `init`.
Value foldLoop(OpBuilder &b, Location loc, Value lb, Value ub, Value init,
               function_ref<Value(Value, Value)> step, Value stride = {});

/// `indices` with entry `axis` replaced by `value`.
SmallVector<Value> withIndex(ValueRange indices, int64_t axis, Value value);

/// The row-major multi-index of `linear` in a box of `sizes`.
SmallVector<Value> delinearize(OpBuilder &b, Location loc, Value linear,
                               ArrayRef<Value> sizes);

/// A running maximum usable as exp's offset: 0 where it is still -inf (what
/// the CPU's online softmax does, so that all-masked rows give no NaN).
Value finiteOrZero(OpBuilder &b, Location loc, Value max);

/// `scale * x`, replaced by `fill` where key `key` lies after query
/// `query` + `offset`: the scores every attention op sees.
Value scaleAndMask(OpBuilder &b, Location loc, Value x, double scale,
                   std::optional<double> fill, Value offset, Value query,
                   Value key);

/// x + y.
Value addF(OpBuilder &b, Location loc, Value x, Value y);

/// `value` of every lane of the warp combined by butterfly shuffles, in
/// every lane.
Value warpAllReduce(OpBuilder &b, Location loc, Value value,
                    function_ref<Value(Value, Value)> combine);

/// attn.layer_norm of a row of `n` elements (its element i: `input(i)`):
/// however the caller's threads share the row, `rowSum(term)` is the sum of
/// term(i) over it, in every thread.
struct RowNorm {
  Value mean, stddev;
  /// Computes the mean, then the biased variance of the centered row, and
  /// sqrt(var + eps), as the CPU lowering does.
  RowNorm(OpBuilder &b, Location loc, Value n, Type type, double epsilon,
          function_ref<Value(Value)> input,
          function_ref<Value(function_ref<Value(Value)>)> rowSum);
  /// (x - mean) / stddev * gamma + beta.
  Value apply(OpBuilder &b, Location loc, Value x, Value gamma,
              Value beta) const;
};

/// `value` of every thread of the block combined (warps by shuffles, then
/// their results through `scratch`, shared memory of blockSize / 32
/// elements, folded from `identity`), in every thread. Every thread of the
/// block must call it.
Value blockAllReduce(OpBuilder &b, Location loc, Value value,
                     function_ref<Value(Value, Value)> combine,
                     Value identity, Value scratch, int64_t blockSize);

//===----------------------------------------------------------------------===//
// A kernel's values and its share of the launch
//===----------------------------------------------------------------------===//

/// Where a kernel's values live on the GPU: the bindings as memrefs, and the
/// impl function's S, T, range and index arithmetic mapped to the kernel's.
struct KernelValues {
  SmallVector<Value> bindings;
  /// The bytes each binding's address is a multiple of: its offset's
  /// `attn.alignment`, up to ATTN_DEVICE_BUFFER_ALIGNMENT.
  SmallVector<int64_t> alignments;
  IRMapping mapping;
  /// The binding a tensor of the impl function reads.
  Value binding(Value tensor) const { return bindings[bindingIndex(tensor)]; }
  /// The alignment of the binding a tensor of the impl function reads.
  int64_t alignment(Value tensor) const {
    return alignments[bindingIndex(tensor)];
  }
  Value output() const { return bindings.back(); }

private:
  unsigned bindingIndex(Value tensor) const;
};

/// The block's share of the launch: work items [begin, begin + count), and
/// a loop that spreads iterations over the block's threads.
struct WorkRange {
  Value begin, count;
  int64_t blockSize;
  /// The block's index along y, of gridY (CudaKernels.grid_y): kernels with
  /// gridY > 1 split each work item over them in a way of their own (tiles
  /// y, y + gridY, ... with forEachTile; a decode attention's y-th chunk of
  /// keys).
  Value blockY;
  int64_t gridY = 1;

  /// body(tile) for this block's tiles of [0, n) in steps of `tileSize`:
  /// tile starts blockY * tileSize, (blockY + gridY) * tileSize, ...
  void forEachTile(OpBuilder &b, Location loc, Value n, int64_t tileSize,
                   function_ref<void(Value)> body) const;

  /// body(indices) for every index of a box of `sizes` whose `axis` lies in
  /// the block's range of work items (sizes[axis] is ignored), one index per
  /// group of `group` consecutive threads (1, or a warp); the last axis
  /// varies fastest across groups, so that neighbours touch neighbours.
  void forEachIndex(OpBuilder &b, Location loc, ArrayRef<Value> sizes,
                    int64_t axis, function_ref<void(ValueRange)> body,
                    int64_t group = 1) const;
};

/// The threads of a warp working on one row together: element j on lane
/// j mod 32, partial results combined with shuffles.
struct WarpRow {
  Value lane;

  /// body(j) for the row's j in [0, n) on this lane.
  void forEach(OpBuilder &b, Location loc, Value n,
               function_ref<void(Value)> body) const;

  /// Folds step(acc, j) over the row's j in [0, n) from `init` (the
  /// identity of `combine`) on each lane, then combines the lanes' results
  /// so that every lane holds the whole row's.
  Value reduce(OpBuilder &b, Location loc, Value n, Value init,
               function_ref<Value(Value, Value)> step,
               function_ref<Value(Value, Value)> combine) const;
};

//===----------------------------------------------------------------------===//
// Attention (GPUAttention.cpp)
//===----------------------------------------------------------------------===//

/// Keys per tile of the flash kernel: a K and a V tile of `keys x head_dim`
/// f32 fit in 32 KiB of shared memory (at most 64 keys).
int64_t getKeyTile(int64_t headDim);

/// Threads per block of the flash kernel, one query each: small tiles of
/// queries, so that a 512-token prefill of 12 heads fills ~100 blocks.
inline constexpr int64_t kFlashBlockSize = 64;
/// Blocks along y of the flash kernel: query tiles of one head spread over
/// up to this many blocks (enough for 1024 queries in 64-query tiles).
inline constexpr int64_t kFlashQueryGroups = 16;

/// The buffers of the flash kernel: per thread its query and unnormalized
/// output (private), per block a tile of keys and one of values (shared).
struct FlashBuffers {
  Value query, acc, keys, values;
};

/// A fused attention as a flash kernel. The block takes one head and its
/// share of the query tiles (WorkRange::forEachTile); its threads take one
/// query each, a tile of blockSize queries at a time. For
/// every tile of keys the block copies K and V into shared memory once
/// (coalesced), then each thread runs FlashAttention's online softmax over
/// them: the running maximum m and sum l in registers, the output in `acc`,
/// rescaled by exp(m - m') when the maximum grows. The result is acc / l,
/// or 0 for a row that saw no key, as in the CPU lowering.
///
/// `op` is an attn.fused_attention or an attn.cached_attention. The latter's
/// appended keys and values are read from its `key` and `value` operands,
/// not from the caches, and the blocks with y = 0 write them into the
/// caches: no block of the launch reads those cache rows, so none waits for
/// another's write.
void emitFlashAttention(OpBuilder &b, Location loc, Operation *op,
                        const KernelValues &values, const WorkRange &range,
                        const FlashBuffers &buffers);

/// Blocks a decode step's attention aims to fill the GPU with: about the SM
/// count of the GPUs the PTX is for (A100: 108, H100: 132). With fewer heads
/// than that, each head's KV cache is split over several blocks
/// (flash-decoding); 12 heads of GPT-2 124M get 11 blocks each.
inline constexpr int64_t kDecodeTargetBlocks = 128;
/// At most this many blocks per head.
inline constexpr int64_t kDecodeMaxSplits = 32;
/// Threads per block of a split decode attention: a split holds about
/// context / splits keys (93 of a 1024-token GPT-2 cache), one per thread.
inline constexpr int64_t kDecodeSplitBlockSize = 128;
/// Keys per split of a decode attention at least (a warp's worth): a short
/// cache takes fewer splits, as FlashDecoding sizes them by the sequence,
/// since each split costs a workspace round trip, a fence, an atomic and a
/// term of the final merge; one split writes its output directly.
inline constexpr int64_t kDecodeMinSplitKeys = kWarpSize;

/// Blocks per head of a decode attention with `heads` heads: 1 when the
/// heads alone fill kDecodeTargetBlocks.
int64_t getDecodeSplits(int64_t heads);

/// Device memory a decode attention split `splits` ways needs
/// (CudaKernels.workspace_bytes), 0 for one split: each block's partial
/// state (output row [heads, splits, valueDim] and maximum and sum
/// [heads, splits, 2], of the attention's `element` type), then a counter
/// per head (i32).
int64_t getDecodeWorkspaceBytes(Type element, int64_t heads, int64_t splits,
                                int64_t valueDim);

/// The buffers of the decode attention kernel: per thread the query and its
/// share of the output (private); per block each warp's maximum, sum and
/// output, and when split whether the block merges the splits (shared) and
/// the launch's workspace (an LLVM pointer).
struct DecodeBuffers {
  Value query, acc, warpMax, warpSum, warpAcc, isLast, workspace;
};

/// A fused attention of one query per head (a decode step). Block (x, y)
/// takes head x and split y of its keys (of splits = min(WorkRange::gridY,
/// max(1, keys / kDecodeMinSplitKeys)), each of ceil(keys / splits) keys;
/// blocks y >= splits have nothing to do); thread t runs the online
/// softmax over keys
/// t, t + blockSize, ... of the split with its own maximum, sum and output.
/// The states then merge (exact in real arithmetic), each rescaled by
/// exp(m - M) to the overall maximum M: across each warp by shuffles, then
/// across warps through shared memory. Unsplit, the block writes the
/// output, as does a split kernel's one split. Split (flash-decoding), each
/// block writes its state to the
/// workspace and counts itself done on its head's counter (an atomic add
/// after a device-scope fence, as CUDA's threadFenceReduction sample); the
/// last of the head's blocks merges the splits' states, writes the output
/// and resets the counter to 0 for the next launch.
/// `op` is a fused or cached attention, as for emitFlashAttention.
void emitDecodeAttention(OpBuilder &b, Location loc, Operation *op,
                         const KernelValues &values, const WorkRange &range,
                         const DecodeBuffers &buffers);

//===----------------------------------------------------------------------===//
// Linear layers (GPUMatmul.cpp)
//===----------------------------------------------------------------------===//

/// Rows and output features of a linear's block tile, and the reduction
/// slice staged per step: 256 threads, each computing 4 x 4 outputs.
inline constexpr int64_t kMatmulTile = 64;
inline constexpr int64_t kMatmulDepth = 16;
inline constexpr int64_t kMatmulThreads = 256;
/// Output features per block of a one-row linear (a decode step's matrix
/// times vector), at most: 32-byte sectors of each [in, out] weight row.
inline constexpr int64_t kMatVecColumns = 8;
/// Blocks a one-row linear with an [out, in] weight aims for, about two per
/// SM: a block keeps ~8 KiB of weight loads in flight, and streaming at an
/// H100's ~3 TB/s over ~0.7 us of latency takes ~2 MiB in flight (Little's
/// law). GPT-2's 768-wide projections had 96 blocks of 8 features.
inline constexpr int64_t kMatVecMinBlocks = 2 * kDecodeTargetBlocks;
/// Reduction steps of a one-row linear's thread with their loads issued
/// together.
inline constexpr int64_t kMatVecUnroll = 8;
/// Bytes of an [out, in] weight row a one-row linear's thread reads per load
/// where alignment allows (ld.v4.b32): 4 times a scalar load's bytes in
/// flight for the same instructions.
inline constexpr int64_t kMatVecLoadBytes = 16;
/// At most this many f32 lanes of partial sums per thread (of 16-bit weights
/// the loop unrolls half as far as of f32), so that registers stay few.
inline constexpr int64_t kMatVecUnrollLanes = 32;
/// Blocks along y of a linear: its row tiles spread over up to this many
/// blocks per column tile (a 1024-token prefill: one row tile each).
inline constexpr int64_t kMatmulRowGroups = 16;

/// A linear as a matrix product tiled through shared memory: the block
/// computes kMatmulTile features for its share of the row tiles of
/// kMatmulTile rows (WorkRange::forEachTile), one tile at a time; per
/// reduction step it stages a kMatmulDepth slice of x (`xs`, [k, row]) and
/// of the weight (`ws`, [k, feature]; coalesced reads in the weight's own
/// layout; out-of-range elements are zeros), and each of its kMatmulThreads
/// threads accumulates 4 x 4 outputs in registers: 8 shared loads per 16
/// multiply-adds.
void emitMatmul(OpBuilder &b, Location loc, LinearOp op,
                const KernelValues &values, const WorkRange &range, Value xs,
                Value ws);

/// emitMatmul's tiles on tensor cores: each warp computes a 32 x 16 corner
/// of the block's 64 x 64 tile as 2 x 2 fragments of mma.sync m16n8k8 on
/// tf32, in 3xTF32: each staged value is split once, where it is stored,
/// into two tf32 (hi: rounded to the nearest tf32; lo: the rest, truncated),
/// kept in `staged` = {x hi, w hi, x lo, w lo}; x·w = lo·hi + hi·lo + hi·hi,
/// accumulated in f32 by the tensor cores. Each product is within about
/// 2^-23 of f32's (whose rounding is 2^-24; an infinite input gives NaN):
/// near-f32 accuracy at several times the f32 pipelines' rate. Needs sm_80
/// or newer. The tiles are padded to 72 columns, so that a warp's fragment
/// loads hit 32 distinct banks.
void emitMatmulTensorCores(OpBuilder &b, Location loc, LinearOp op,
                           const KernelValues &values, const WorkRange &range,
                           ValueRange staged);

/// The shared memory of a one-row linear: each slice's partial sums, and
/// for a linear with a norm its normalized input row and a reduction
/// scratch (null otherwise).
struct MatVecBuffers {
  Value partials, normalized, scratch;
};

/// Output features per block of a one-row linear of `features` outputs:
/// kMatVecColumns, halved for an [out, in] weight (`inOut` false) until the
/// launch has kMatVecMinBlocks blocks (or one feature per block).
int64_t getMatVecColumns(int64_t features, bool inOut);

/// A one-row linear (decode) as matrix times vector: getMatVecColumns
/// features per block (the columns of `partials`), the reduction split over
/// blockSize / columns slices of threads whose partial sums meet in
/// `partials` ([out, in]: summed across each warp by shuffles first).
/// Neighbouring threads read neighbouring weight elements in either layout,
/// each thread kMatVecUnroll loads at once; of an [out, in] weight 16 bytes
/// per load (kMatVecLoadBytes) where the binding's alignment and the row
/// length allow, with the input row's elements alike. With a norm, the block first
/// normalizes the input row into `normalized` (mean and variance by block
/// reductions, then attn.layer_norm's formula) and reads it from there.
void emitMatVec(OpBuilder &b, Location loc, LinearOp op,
                const KernelValues &values, const WorkRange &range,
                const MatVecBuffers &buffers);

} // namespace mlir::attn::gpu_kernels

#endif // ATTN_COMPILER_CODEGEN_GPUKERNELBUILDER_H
