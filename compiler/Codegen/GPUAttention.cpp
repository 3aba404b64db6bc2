//===- GPUAttention.cpp - fused attention kernels for the GPU ------------===//
//
// attn.fused_attention as a flash kernel (prefill: a query per thread, keys
// and values in tiles through shared memory) and as a decode kernel (one
// query per head: the keys spread over the block, or over several blocks
// when there are few heads (flash-decoding), the softmax states merged by
// shuffles, shared memory and a workspace in device memory). Both run
// FlashAttention's online softmax with the -inf and empty-row rules of the
// CPU lowering (compiler/Conversion/AttnToLinalg/FusedAttention.cpp).
//
//===----------------------------------------------------------------------===//

#include "compiler/Codegen/GPUKernelBuilder.h"

#include "compiler/Codegen/Plan.h"

#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernels;

int64_t gpu_kernels::getKeyTile(int64_t headDim) {
  return std::clamp<int64_t>(4096 / headDim, 1, 64);
}

/// Head dimensions up to this many elements are walked by unrolled code.
static constexpr int64_t kUnrollLimit = 128;

/// body(d) for d in [0, n) over a head dimension (a static size): unrolled,
/// so that the private arrays it indexes (a query, an output row) become
/// registers instead of local memory.
static void forEachDim(OpBuilder &b, Location loc, Value n,
                       function_ref<void(Value)> body) {
  std::optional<int64_t> count = getConstantIntValue(n);
  if (!count || *count > kUnrollLimit)
    return forLoop(b, loc, indexConstant(b, loc, 0), n,
                   indexConstant(b, loc, 1), body);
  for (int64_t d = 0; d < *count; ++d)
    body(indexConstant(b, loc, d));
}

/// foldLoop over a head dimension, unrolled as in forEachDim.
static Value foldDim(OpBuilder &b, Location loc, Value n, Value init,
                     function_ref<Value(Value, Value)> step) {
  std::optional<int64_t> count = getConstantIntValue(n);
  if (!count || *count > kUnrollLimit)
    return foldLoop(b, loc, indexConstant(b, loc, 0), n, init, step);
  for (int64_t d = 0; d < *count; ++d)
    init = step(init, indexConstant(b, loc, d));
  return init;
}

namespace {
/// What every attention kernel reads of a fused or cached attention.
struct AttentionParams {
  Value q, k, v, out;
  Type type;
  double scale;
  std::optional<double> fill;
  /// The absolute position of query 0, when causal.
  Value offset;
  /// A cached attention's caches and the number of keys it reads; `k` and
  /// `v` are then the rows appended at `offset`. Null for a fused one.
  Value keyCache, valueCache, length;

  AttentionParams(Operation *op, const KernelValues &values)
      : out(values.output()),
        type(cast<RankedTensorType>(op->getResult(0).getType())
                 .getElementType()) {
    auto lookup = [&](Value index) {
      return index ? values.mapping.lookup(index) : Value();
    };
    if (auto fused = dyn_cast<FusedAttentionOp>(op)) {
      q = values.binding(fused.getQuery());
      k = values.binding(fused.getKey());
      v = values.binding(fused.getValue());
      scale = fused.getScale().convertToDouble();
      offset = lookup(fused.getQueryOffset());
      if (std::optional<APFloat> f = fused.getFill())
        fill = f->convertToDouble();
      return;
    }
    auto cached = cast<CachedAttentionOp>(op);
    q = values.binding(cached.getQuery());
    k = values.binding(cached.getKey());
    v = values.binding(cached.getValue());
    keyCache = values.binding(cached.getKeyCache());
    valueCache = values.binding(cached.getValueCache());
    scale = cached.getScale().convertToDouble();
    fill = cached.getFill().convertToDouble();
    offset = lookup(cached.getPosition());
    length = lookup(cached.getLength());
  }

  Value numKeys(OpBuilder &b, Location loc) const {
    return length ? length : dimOf(b, loc, k, 1);
  }

  /// Where row `key` of the keys (or, with `values`, of the values) lives:
  /// a memref and a row of it. A cached attention's appended rows come from
  /// its operand, the others from the cache, through one memref of dynamic
  /// strides chosen per row.
  std::pair<Value, Value> row(OpBuilder &b, Location loc, Value key,
                              bool values) const {
    Value rows = values ? v : k;
    if (!length)
      return {rows, key};
    Value cache = values ? valueCache : keyCache;
    // key - offset < appended rows, unsigned: keys before offset wrap.
    Value appendedRow = arith::SubIOp::create(b, loc, key, offset);
    Value appended =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, appendedRow,
                              dimOf(b, loc, rows, 1));
    int64_t dynamic = ShapedType::kDynamic;
    auto anyType = MemRefType::get(
        {dynamic, dynamic, dynamic}, type,
        StridedLayoutAttr::get(b.getContext(), dynamic,
                               {dynamic, dynamic, 1}));
    auto erase = [&](Value memref) -> Value {
      return memref::CastOp::create(b, loc, anyType, memref);
    };
    return {arith::SelectOp::create(b, loc, appended, erase(rows),
                                    erase(cache)),
            arith::SelectOp::create(b, loc, appended, appendedRow, key)};
  }

  /// Element `d` of key (or value) row `key` of head `head`.
  Value load(OpBuilder &b, Location loc, Value head, Value key, Value d,
             bool values) const {
    auto [memref, row] = this->row(b, loc, key, values);
    return loadAs(b, loc, memref, ValueRange{head, row, d}, type);
  }

  /// A cached attention's appended rows of `head` written into the caches
  /// by the block's threads, when `writer` holds; nothing for a fused one.
  void appendRows(OpBuilder &b, Location loc, Value head, Value writer,
                  int64_t blockSize) const {
    if (!length)
      return;
    Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    emitIf(b, loc, writer, [&] {
      for (auto pair : {std::pair(k, keyCache), {v, valueCache}}) {
        Value rows = pair.first, cache = pair.second;
        Value width = dimOf(b, loc, rows, 2);
        Value count =
            arith::MulIOp::create(b, loc, dimOf(b, loc, rows, 1), width);
        forLoop(b, loc, thread, count, indexConstant(b, loc, blockSize),
                [&](Value e) {
                  Value j = arith::DivUIOp::create(b, loc, e, width);
                  Value d = arith::RemUIOp::create(b, loc, e, width);
                  Value x = memref::LoadOp::create(b, loc, rows,
                                                   ValueRange{head, j, d});
                  memref::StoreOp::create(
                      b, loc, x, cache,
                      ValueRange{head, arith::AddIOp::create(b, loc, offset, j),
                                 d});
                });
      }
    });
  }

  /// The scaled, masked score of `query` against `key` from the dot
  /// product of query element d with key element d, given by `qAt` and `kAt`.
  Value score(OpBuilder &b, Location loc, Value query, Value key,
              function_ref<Value(Value)> qAt,
              function_ref<Value(Value)> kAt) const {
    Value dot = foldDim(
        b, loc, dimOf(b, loc, q, 2), floatConstant(b, loc, type, 0.0),
        [&](Value acc, Value d) -> Value {
          return arith::AddFOp::create(
              b, loc, acc, arith::MulFOp::create(b, loc, qAt(d), kAt(d)));
        });
    return scaleAndMask(b, loc, dot, scale, fill, offset, query, key);
  }
};
} // namespace

/// One step of FlashAttention's online softmax: the running maximum `max`
/// and sum `sum` meet score `s`; `acc` (the unnormalized output) is
/// rescaled by exp(max - max') and gains exp(s - max') times the key's
/// value row `vAt(e)`. Returns max' and sum'.
static std::pair<Value, Value>
onlineSoftmaxStep(OpBuilder &b, Location loc, Value max, Value sum, Value s,
                  Value acc, Value valueDim, function_ref<Value(Value)> vAt) {
  Value newMax = arith::MaximumFOp::create(b, loc, max, s);
  Value shift = finiteOrZero(b, loc, newMax);
  Value correction =
      math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, max, shift));
  Value p =
      math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, s, shift));
  Value newSum = arith::AddFOp::create(
      b, loc, arith::MulFOp::create(b, loc, sum, correction), p);
  forEachDim(b, loc, valueDim, [&](Value e) {
    Value a = memref::LoadOp::create(b, loc, acc, ValueRange{e});
    Value updated = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, a, correction),
        arith::MulFOp::create(b, loc, p, vAt(e)));
    memref::StoreOp::create(b, loc, updated, acc, ValueRange{e});
  });
  return {newMax, newSum};
}

/// acc / sum, or 0 for a row that saw no key (sum = 0), as the CPU's
/// lowering ends.
static Value normalize(OpBuilder &b, Location loc, Value acc, Value sum) {
  Value zero = floatConstant(b, loc, sum.getType(), 0.0);
  Value empty =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, sum, zero);
  return arith::SelectOp::create(b, loc, empty, zero,
                                 arith::DivFOp::create(b, loc, acc, sum));
}

void gpu_kernels::emitFlashAttention(OpBuilder &b, Location loc,
                                     Operation *op,
                                     const KernelValues &values,
                                     const WorkRange &range,
                                     const FlashBuffers &buffers) {
  AttentionParams params(op, values);
  Type type = params.type;
  int64_t keyTile = cast<MemRefType>(buffers.keys.getType()).getDimSize(0);
  Value zero = indexConstant(b, loc, 0), one = indexConstant(b, loc, 1);
  Value headDim = dimOf(b, loc, params.q, 2);
  Value valueDim = dimOf(b, loc, params.v, 2);
  Value numQueries = dimOf(b, loc, params.q, 1);
  Value numKeys = params.numKeys(b, loc);
  Value fzero = floatConstant(b, loc, type, 0.0);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value head = range.begin;
  params.appendRows(b, loc, head,
                    arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          range.blockY, zero),
                    range.blockSize);

  // Every thread walks the same tiles, so that all of them reach each
  // barrier; threads past the last query only help with the copies.
  range.forEachTile(
      b, loc, numQueries, range.blockSize, [&](Value queryTile) {
        Value query = arith::AddIOp::create(b, loc, queryTile, thread);
        Value active = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             query, numQueries);
        auto ifActive = [&](function_ref<void()> body) {
          emitIf(b, loc, active, body);
        };
        ifActive([&] {
          forEachDim(b, loc, headDim, [&](Value d) {
            memref::StoreOp::create(
                b, loc,
                loadAs(b, loc, params.q, ValueRange{head, query, d}, type),
                buffers.query, ValueRange{d});
          });
          forEachDim(b, loc, valueDim, [&](Value e) {
            memref::StoreOp::create(b, loc, fzero, buffers.acc, ValueRange{e});
          });
        });

        auto tileLoop = scf::ForOp::create(
            b, loc, zero, numKeys, indexConstant(b, loc, keyTile),
            ValueRange{floatConstant(b, loc, type, kNegInf), fzero});
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(tileLoop.getBody());
          Value start = tileLoop.getInductionVar();
          Value count = arith::MinUIOp::create(
              b, loc, indexConstant(b, loc, keyTile),
              arith::SubIOp::create(b, loc, numKeys, start));
          // The block copies the tile's keys and values, one element per thread
          // iteration, neighbouring threads on neighbouring elements.
          auto copyTile = [&](bool values, Value to, Value width) {
            forLoop(b, loc, thread, arith::MulIOp::create(b, loc, count, width),
                    indexConstant(b, loc, range.blockSize), [&](Value e) {
                      Value j = arith::DivUIOp::create(b, loc, e, width);
                      Value d = arith::RemUIOp::create(b, loc, e, width);
                      Value key = arith::AddIOp::create(b, loc, start, j);
                      memref::StoreOp::create(
                          b, loc, params.load(b, loc, head, key, d, values),
                          to, ValueRange{j, d});
                    });
          };
          copyTile(/*values=*/false, buffers.keys, headDim);
          copyTile(/*values=*/true, buffers.values, valueDim);
          gpu::BarrierOp::create(b, loc);

          ValueRange carried = tileLoop.getRegionIterArgs();
          auto update = scf::IfOp::create(b, loc, carried.getTypes(), active,
                                          /*withElseRegion=*/true);
          {
            OpBuilder::InsertionGuard g(b);
            b.setInsertionPointToStart(update.elseBlock());
            scf::YieldOp::create(b, loc, carried);
            b.setInsertionPointToStart(update.thenBlock());
            auto keyLoop =
                scf::ForOp::create(b, loc, zero, count, one, carried);
            b.setInsertionPointToStart(keyLoop.getBody());
            Value j = keyLoop.getInductionVar();
            Value s = params.score(
                b, loc, query, arith::AddIOp::create(b, loc, start, j),
                [&](Value d) {
                  return memref::LoadOp::create(b, loc, buffers.query,
                                                ValueRange{d});
                },
                [&](Value d) {
                  return memref::LoadOp::create(b, loc, buffers.keys,
                                                ValueRange{j, d});
                });
            auto [newMax, newSum] = onlineSoftmaxStep(
                b, loc, keyLoop.getRegionIterArgs()[0],
                keyLoop.getRegionIterArgs()[1], s, buffers.acc, valueDim,
                [&](Value e) {
                  return memref::LoadOp::create(b, loc, buffers.values,
                                                ValueRange{j, e});
                });
            scf::YieldOp::create(b, loc, ValueRange{newMax, newSum});
            b.setInsertionPointAfter(keyLoop);
            scf::YieldOp::create(b, loc, keyLoop.getResults());
          }
          // The next tile overwrites what slower threads may still read.
          gpu::BarrierOp::create(b, loc);
          scf::YieldOp::create(b, loc, update.getResults());
        }

        Value sum = tileLoop.getResult(1);
        ifActive([&] {
          forEachDim(b, loc, valueDim, [&](Value e) {
            Value a =
                memref::LoadOp::create(b, loc, buffers.acc, ValueRange{e});
            memref::StoreOp::create(b, loc, normalize(b, loc, a, sum),
                                    params.out, ValueRange{head, query, e});
          });
        });
      });
}

int64_t gpu_kernels::getDecodeSplits(int64_t heads) {
  if (heads >= kDecodeTargetBlocks)
    return 1;
  return std::min<int64_t>(kDecodeMaxSplits,
                           llvm::divideCeil(kDecodeTargetBlocks, heads));
}

/// The parts of a split decode attention's workspace, in order: partial
/// outputs, their maxima and sums (of the attention's element type), and
/// counters (i32).
static std::array<MemRefType, 3> getWorkspaceTypes(Type element,
                                                   int64_t heads,
                                                   int64_t splits,
                                                   int64_t valueDim) {
  return {MemRefType::get({heads, splits, valueDim}, element),
          MemRefType::get({heads, splits, 2}, element),
          MemRefType::get({heads}, IntegerType::get(element.getContext(), 32))};
}

/// Bytes of a workspace part; rounded up to 4, so that each part starts
/// aligned for the next.
static int64_t getPartBytes(MemRefType part) {
  int64_t bits = part.getNumElements() * part.getElementTypeBitWidth();
  return llvm::alignTo(llvm::divideCeil(bits, 8), 4);
}

int64_t gpu_kernels::getDecodeWorkspaceBytes(Type element, int64_t heads,
                                             int64_t splits,
                                             int64_t valueDim) {
  if (splits == 1)
    return 0;
  int64_t bytes = 0;
  for (MemRefType part : getWorkspaceTypes(element, heads, splits, valueDim))
    bytes += getPartBytes(part);
  return bytes;
}

namespace {
/// The online-softmax states of `count` parts (a block's warps, or a head's
/// splits): part w's maximum, sum and output element e, the sum and output
/// relative to finiteOrZero(maximum).
struct SoftmaxStates {
  Value count;
  function_ref<Value(Value)> max, sum;
  function_ref<Value(Value, Value)> acc;
};

/// One state: a maximum, and the sum and output element relative to it.
struct SoftmaxState {
  Value max, sum, acc;
};
} // namespace

/// The states of `parts` merged, for output element `e`: M = max_w m_w, and
/// the sums and outputs rescaled by exp(m_w - M) and added (a part that saw
/// no key, m_w = -inf, adds 0).
static SoftmaxState mergeStates(OpBuilder &b, Location loc,
                                const SoftmaxStates &parts, Value e,
                                Type type) {
  Value zero = indexConstant(b, loc, 0);
  Value fzero = floatConstant(b, loc, type, 0.0);
  Value max = foldLoop(b, loc, zero, parts.count,
                       floatConstant(b, loc, type, kNegInf),
                       [&](Value m, Value w) -> Value {
                         return arith::MaximumFOp::create(b, loc, m,
                                                          parts.max(w));
                       });
  Value shift = finiteOrZero(b, loc, max);
  auto weighted = [&](Value w, Value x) -> Value {
    Value scale = math::ExpOp::create(
        b, loc, arith::SubFOp::create(b, loc, parts.max(w), shift));
    return arith::MulFOp::create(b, loc, x, scale);
  };
  Value sum = foldLoop(b, loc, zero, parts.count, fzero, [&](Value a, Value w) {
    return addF(b, loc, a, weighted(w, parts.sum(w)));
  });
  Value acc = foldLoop(b, loc, zero, parts.count, fzero, [&](Value a, Value w) {
    return addF(b, loc, a, weighted(w, parts.acc(w, e)));
  });
  return {max, sum, acc};
}

void gpu_kernels::emitDecodeAttention(OpBuilder &b, Location loc,
                                      Operation *op,
                                      const KernelValues &values,
                                      const WorkRange &range,
                                      const DecodeBuffers &buffers) {
  AttentionParams params(op, values);
  Type type = params.type;
  Value zero = indexConstant(b, loc, 0);
  Value headDim = dimOf(b, loc, params.q, 2);
  Value valueDim = dimOf(b, loc, params.v, 2);
  Value fzero = floatConstant(b, loc, type, 0.0);
  Value negInf = floatConstant(b, loc, type, kNegInf);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value warp =
      arith::DivUIOp::create(b, loc, thread, indexConstant(b, loc, kWarpSize));
  Value lane =
      arith::RemUIOp::create(b, loc, thread, indexConstant(b, loc, kWarpSize));
  Value blockThreads = indexConstant(b, loc, range.blockSize);
  Value head = range.begin;
  bool split = range.gridY > 1;

  params.appendRows(b, loc, head,
                    arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          range.blockY, zero),
                    range.blockSize);

  // The block's keys: all of them, or split y's share of `splits` splits of
  // at least kDecodeMinSplitKeys keys each (blocks past them idle).
  Value numKeys = params.numKeys(b, loc);
  Value firstKey = zero, endKey = numKeys, splits;
  if (split) {
    Value one = indexConstant(b, loc, 1);
    splits = arith::MinUIOp::create(
        b, loc, indexConstant(b, loc, range.gridY),
        arith::MaxUIOp::create(
            b, loc, one,
            arith::DivUIOp::create(b, loc, numKeys,
                                   indexConstant(b, loc, kDecodeMinSplitKeys))));
    Value chunk = arith::CeilDivUIOp::create(b, loc, numKeys, splits);
    firstKey = arith::MulIOp::create(b, loc, range.blockY, chunk);
    endKey = arith::MinUIOp::create(
        b, loc, numKeys, arith::AddIOp::create(b, loc, firstKey, chunk));
  }
  auto attend = [&] {
    forEachDim(b, loc, headDim, [&](Value d) {
      memref::StoreOp::create(
          b, loc, loadAs(b, loc, params.q, ValueRange{head, zero, d}, type),
          buffers.query, ValueRange{d});
    });
    forEachDim(b, loc, valueDim, [&](Value e) {
      memref::StoreOp::create(b, loc, fzero, buffers.acc, ValueRange{e});
    });
    auto keyLoop = scf::ForOp::create(
        b, loc, arith::AddIOp::create(b, loc, firstKey, thread), endKey,
        blockThreads, ValueRange{negInf, fzero});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(keyLoop.getBody());
      Value key = keyLoop.getInductionVar();
      // (Named values: lambdas capture no structured bindings in C++17.)
      std::pair<Value, Value> keyRow =
          params.row(b, loc, key, /*values=*/false);
      std::pair<Value, Value> valueRow =
          params.row(b, loc, key, /*values=*/true);
      Value s = params.score(
          b, loc, zero, key,
          [&](Value d) {
            return memref::LoadOp::create(b, loc, buffers.query, ValueRange{d});
          },
          [&](Value d) {
            return loadAs(b, loc, keyRow.first,
                          ValueRange{head, keyRow.second, d}, type);
          });
      auto [newMax, newSum] = onlineSoftmaxStep(
          b, loc, keyLoop.getRegionIterArgs()[0],
          keyLoop.getRegionIterArgs()[1], s, buffers.acc, valueDim,
          [&](Value e) {
            return loadAs(b, loc, valueRow.first,
                          ValueRange{head, valueRow.second, e}, type);
          });
      scf::YieldOp::create(b, loc, ValueRange{newMax, newSum});
    }

    // Across the warp: every lane ends with the warp's maximum, and its sum
    // and output rescaled to it.
    auto maximum = [&](Value p, Value q) -> Value {
      return arith::MaximumFOp::create(b, loc, p, q);
    };
    auto add = [&](Value p, Value q) { return addF(b, loc, p, q); };
    Value max = keyLoop.getResult(0);
    Value warpMax = warpAllReduce(b, loc, max, maximum);
    // exp(m - M): 0 for a thread that saw no key (m = -inf).
    Value rescale = math::ExpOp::create(
        b, loc,
        arith::SubFOp::create(b, loc, max, finiteOrZero(b, loc, warpMax)));
    Value warpSum = warpAllReduce(
        b, loc, arith::MulFOp::create(b, loc, keyLoop.getResult(1), rescale),
        add);
    Value first =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, zero);
    forEachDim(b, loc, valueDim, [&](Value e) {
      Value a = memref::LoadOp::create(b, loc, buffers.acc, ValueRange{e});
      Value total =
          warpAllReduce(b, loc, arith::MulFOp::create(b, loc, a, rescale), add);
      emitIf(b, loc, first, [&] {
        memref::StoreOp::create(b, loc, total, buffers.warpAcc,
                                ValueRange{warp, e});
      });
    });
    emitIf(b, loc, first, [&] {
      memref::StoreOp::create(b, loc, warpMax, buffers.warpMax,
                              ValueRange{warp});
      memref::StoreOp::create(b, loc, warpSum, buffers.warpSum,
                              ValueRange{warp});
    });
    gpu::BarrierOp::create(b, loc);

    // Across warps: thread e merges output element e.
    auto load = [&](Value memref, ValueRange indices) -> Value {
      return memref::LoadOp::create(b, loc, memref, indices);
    };
    auto warpMaxAt = [&](Value w) { return load(buffers.warpMax, w); };
    auto warpSumAt = [&](Value w) { return load(buffers.warpSum, w); };
    auto warpAccAt = [&](Value w, Value e) {
      return load(buffers.warpAcc, {w, e});
    };
    SoftmaxStates warps{indexConstant(b, loc, range.blockSize / kWarpSize),
                        warpMaxAt, warpSumAt, warpAccAt};
    // The head's output from `parts`' states: thread e merges element e.
    auto storeOutput = [&](const SoftmaxStates &parts) {
      forLoop(b, loc, thread, valueDim, blockThreads, [&](Value e) {
        SoftmaxState state = mergeStates(b, loc, parts, e, type);
        memref::StoreOp::create(b, loc, normalize(b, loc, state.acc, state.sum),
                                params.out, ValueRange{head, zero, e});
      });
    };
    if (!split)
      return storeOutput(warps);
    Value alone = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                        splits, indexConstant(b, loc, 1));
    auto ifAlone = scf::IfOp::create(b, loc, alone, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifAlone.thenBlock()->getTerminator());
    storeOutput(warps);
    b.setInsertionPoint(ifAlone.elseBlock()->getTerminator());

    // Split: the block's state goes to the workspace (thread 0, which takes
    // e = 0, also writes the maximum and sum).
    auto outType = cast<MemRefType>(params.out.getType());
    SmallVector<Value, 3> workspace;
    int64_t offset = 0;
    auto ptrType = LLVM::LLVMPointerType::get(b.getContext());
    for (MemRefType part : getWorkspaceTypes(
             type, outType.getDimSize(0), range.gridY, outType.getDimSize(2))) {
      Value data =
          LLVM::GEPOp::create(b, loc, ptrType, b.getI8Type(), buffers.workspace,
                              ArrayRef<LLVM::GEPArg>{offset});
      workspace.push_back(
          buildMemRefDescriptor(b, loc, data, part, [](int64_t) -> Value {
            llvm_unreachable("workspace shapes are static");
          }));
      offset += getPartBytes(part);
    }
    Value partAcc = workspace[0], partStats = workspace[1],
          counters = workspace[2];
    Value splitIndex = range.blockY;
    Value one = indexConstant(b, loc, 1);
    forLoop(b, loc, thread, valueDim, blockThreads, [&](Value e) {
      SoftmaxState state = mergeStates(b, loc, warps, e, type);
      memref::StoreOp::create(b, loc, state.acc, partAcc,
                              ValueRange{head, splitIndex, e});
      emitIf(b, loc,
             arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, zero),
             [&] {
               memref::StoreOp::create(b, loc, state.max, partStats,
                                       ValueRange{head, splitIndex, zero});
               memref::StoreOp::create(b, loc, state.sum, partStats,
                                       ValueRange{head, splitIndex, one});
             });
    });
    // Every thread's writes reach the device before thread 0 counts the
    // block done; the block that completes the count sees them all.
    NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU);
    gpu::BarrierOp::create(b, loc);
    Type i32 = b.getI32Type();
    Value firstThread =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, thread, zero);
    emitIf(b, loc, firstThread, [&] {
      Value ticket = memref::AtomicRMWOp::create(
          b, loc, arith::AtomicRMWKind::addi,
          arith::ConstantIntOp::create(b, loc, i32, 1), counters,
          ValueRange{head});
      Value last = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq, ticket,
          arith::IndexCastOp::create(
              b, loc, i32,
              arith::SubIOp::create(b, loc, splits, indexConstant(b, loc, 1))));
      memref::StoreOp::create(b, loc, arith::ExtUIOp::create(b, loc, i32, last),
                              buffers.isLast, ValueRange{zero});
    });
    gpu::BarrierOp::create(b, loc);
    Value isLast = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ne, load(buffers.isLast, zero),
        arith::ConstantIntOp::create(b, loc, i32, 0));
    emitIf(b, loc, isLast, [&] {
      NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU);
      auto splitMax = [&](Value w) { return load(partStats, {head, w, zero}); };
      auto splitSum = [&](Value w) { return load(partStats, {head, w, one}); };
      auto splitAcc = [&](Value w, Value e) {
        return load(partAcc, {head, w, e});
      };
      storeOutput({splits, splitMax, splitSum, splitAcc});
      // Ready for the next launch (this kernel's completion orders the store
      // before it).
      emitIf(b, loc, firstThread, [&] {
        memref::StoreOp::create(b, loc,
                                arith::ConstantIntOp::create(b, loc, i32, 0),
                                counters, ValueRange{head});
      });
    });
  };
  if (!split)
    return attend();
  emitIf(b, loc,
         arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, range.blockY,
                               splits),
         attend);
}
