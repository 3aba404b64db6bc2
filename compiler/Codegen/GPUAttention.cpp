//===- GPUAttention.cpp - fused attention kernels for the GPU ------------===//
//
// attn.fused_attention as a flash kernel (prefill: a query per thread, keys
// and values in tiles through shared memory) and as a decode kernel (one
// query per head: the keys spread over the block, the softmax states merged
// by shuffles and shared memory). Both run FlashAttention's online softmax
// with the -inf and empty-row rules of the CPU lowering
// (compiler/Conversion/AttnToLinalg/FusedAttention.cpp).
//
//===----------------------------------------------------------------------===//

#include "compiler/Codegen/GPUKernelBuilder.h"

#include "compiler/Conversion/AttnToLinalg/Utils.h"
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
/// What every attention kernel reads of a fused attention.
struct AttentionParams {
  Value q, k, v, out;
  Type type;
  double scale;
  std::optional<double> fill;
  /// The absolute position of query 0, when causal.
  Value offset;

  AttentionParams(FusedAttentionOp op, const KernelValues &values)
      : q(values.binding(op.getQuery())), k(values.binding(op.getKey())),
        v(values.binding(op.getValue())), out(values.output()),
        type(op.getType().getElementType()),
        scale(op.getScale().convertToDouble()),
        offset(op.getQueryOffset() ? values.mapping.lookup(op.getQueryOffset())
                                   : Value()) {
    if (std::optional<APFloat> f = op.getFill())
      fill = f->convertToDouble();
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
                                     FusedAttentionOp op,
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
  Value numKeys = dimOf(b, loc, params.k, 1);
  Value fzero = floatConstant(b, loc, type, 0.0);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value head = range.begin;

  // Every thread walks the same tiles, so that all of them reach each
  // barrier; threads past the last query only help with the copies.
  range.forEachTile(
      b, loc, numQueries, range.blockSize, [&](Value queryTile) {
        Value query = arith::AddIOp::create(b, loc, queryTile, thread);
        Value active = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             query, numQueries);
        auto ifActive = [&](function_ref<void()> body) {
          auto guard = scf::IfOp::create(b, loc, active);
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPoint(guard.thenBlock()->getTerminator());
          body();
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
          auto copyTile = [&](Value from, Value to, Value width) {
            forLoop(b, loc, thread, arith::MulIOp::create(b, loc, count, width),
                    indexConstant(b, loc, range.blockSize), [&](Value e) {
                      Value j = arith::DivUIOp::create(b, loc, e, width);
                      Value d = arith::RemUIOp::create(b, loc, e, width);
                      Value key = arith::AddIOp::create(b, loc, start, j);
                      memref::StoreOp::create(
                          b, loc,
                          loadAs(b, loc, from, ValueRange{head, key, d}, type),
                          to, ValueRange{j, d});
                    });
          };
          copyTile(params.k, buffers.keys, headDim);
          copyTile(params.v, buffers.values, valueDim);
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

void gpu_kernels::emitDecodeAttention(OpBuilder &b, Location loc,
                                      FusedAttentionOp op,
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
  Value head = range.begin;

  forEachDim(b, loc, headDim, [&](Value d) {
    memref::StoreOp::create(
        b, loc, loadAs(b, loc, params.q, ValueRange{head, zero, d}, type),
        buffers.query, ValueRange{d});
  });
  forEachDim(b, loc, valueDim, [&](Value e) {
    memref::StoreOp::create(b, loc, fzero, buffers.acc, ValueRange{e});
  });
  auto keyLoop = scf::ForOp::create(b, loc, thread, dimOf(b, loc, params.k, 1),
                                    indexConstant(b, loc, range.blockSize),
                                    ValueRange{negInf, fzero});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(keyLoop.getBody());
    Value key = keyLoop.getInductionVar();
    Value s = params.score(
        b, loc, zero, key,
        [&](Value d) {
          return memref::LoadOp::create(b, loc, buffers.query, ValueRange{d});
        },
        [&](Value d) {
          return loadAs(b, loc, params.k, ValueRange{head, key, d}, type);
        });
    auto [newMax, newSum] = onlineSoftmaxStep(
        b, loc, keyLoop.getRegionIterArgs()[0], keyLoop.getRegionIterArgs()[1],
        s, buffers.acc, valueDim, [&](Value e) {
          return loadAs(b, loc, params.v, ValueRange{head, key, e}, type);
        });
    scf::YieldOp::create(b, loc, ValueRange{newMax, newSum});
  }

  // Across the warp: every lane ends with the warp's maximum, and its sum
  // and output rescaled to it.
  auto shuffleCombine = [&](Value v,
                            function_ref<Value(Value, Value)> combine) {
    return warpAllReduce(b, loc, v, combine);
  };
  auto maximum = [&](Value p, Value q) -> Value {
    return arith::MaximumFOp::create(b, loc, p, q);
  };
  auto add = [&](Value p, Value q) { return addF(b, loc, p, q); };
  Value max = keyLoop.getResult(0);
  Value warpMax = shuffleCombine(max, maximum);
  // exp(m - M): 0 for a thread that saw no key (m = -inf).
  Value rescale = math::ExpOp::create(
      b, loc,
      arith::SubFOp::create(b, loc, max, finiteOrZero(b, loc, warpMax)));
  Value warpSum = shuffleCombine(
      arith::MulFOp::create(b, loc, keyLoop.getResult(1), rescale), add);
  Value first =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, zero);
  forEachDim(b, loc, valueDim, [&](Value e) {
    Value a = memref::LoadOp::create(b, loc, buffers.acc, ValueRange{e});
    Value total =
        shuffleCombine(arith::MulFOp::create(b, loc, a, rescale), add);
    auto guard = scf::IfOp::create(b, loc, first);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(guard.thenBlock()->getTerminator());
    memref::StoreOp::create(b, loc, total, buffers.warpAcc,
                            ValueRange{warp, e});
  });
  {
    auto guard = scf::IfOp::create(b, loc, first);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(guard.thenBlock()->getTerminator());
    memref::StoreOp::create(b, loc, warpMax, buffers.warpMax, ValueRange{warp});
    memref::StoreOp::create(b, loc, warpSum, buffers.warpSum, ValueRange{warp});
  }
  gpu::BarrierOp::create(b, loc);

  // Across warps: thread e computes output element e.
  Value warps = indexConstant(b, loc, range.blockSize / kWarpSize);
  forLoop(
      b, loc, thread, valueDim, indexConstant(b, loc, range.blockSize),
      [&](Value e) {
        Value blockMax =
            foldLoop(b, loc, zero, warps, negInf, [&](Value m, Value w) {
              return maximum(m, memref::LoadOp::create(b, loc, buffers.warpMax,
                                                       ValueRange{w}));
            });
        Value shift = finiteOrZero(b, loc, blockMax);
        auto weighted = [&](Value w, Value x) -> Value {
          Value m =
              memref::LoadOp::create(b, loc, buffers.warpMax, ValueRange{w});
          Value scale = math::ExpOp::create(
              b, loc, arith::SubFOp::create(b, loc, m, shift));
          return arith::MulFOp::create(b, loc, x, scale);
        };
        Value sum = foldLoop(b, loc, zero, warps, fzero, [&](Value a, Value w) {
          return add(a,
                     weighted(w, memref::LoadOp::create(b, loc, buffers.warpSum,
                                                        ValueRange{w})));
        });
        Value acc = foldLoop(b, loc, zero, warps, fzero, [&](Value a, Value w) {
          return add(a,
                     weighted(w, memref::LoadOp::create(b, loc, buffers.warpAcc,
                                                        ValueRange{w, e})));
        });
        memref::StoreOp::create(b, loc, normalize(b, loc, acc, sum), params.out,
                                ValueRange{head, zero, e});
      });
}
