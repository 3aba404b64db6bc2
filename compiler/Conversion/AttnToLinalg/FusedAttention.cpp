//===- FusedAttention.cpp - flash-style lowering of attn.fused_attention --===//
//
// One query row at a time (per head), keys and values in tiles of `keyTile`.
// For the row, the key loop carries the running maximum m and the running
// sum l of exp(s - m) as scalars and the unnormalized output acc as a
// [value_dim] tensor; a tile with scores s rescales them by exp(m - m')
// where m' = max(m, max s). After the last tile the row is acc / l.
//
// Every temporary has a static shape ([keyTile] scores, [value_dim] acc), so
// after bufferization they are hoisted out of the loops and placed on the
// stack: the kernel allocates nothing. The last tile of a row may be short;
// its key index is clamped to the last key (the reads stay in bounds) and
// its padding scores are -inf, weight 0.
//
// Masked scores may be -inf. A row whose scores so far are all -inf has
// m' = -inf; it subtracts 0 instead, so exp(-inf) = 0 rather than NaN, and a
// row that never sees a key ends with l = 0 and an output of 0.
//
// Causal rows stop at their own position when the fill is -1e9 or below
// (GPT-2's -FLT_MAX, CogModel's -1e9, -inf): such a masked key's weight,
// exp(fill - m), is 0 in f32 for any score above fill + 88, so the keys past
// the diagonal (half of a prefill's) need not be visited. Milder fills are
// computed key by key like the unfused chain.
//
//===----------------------------------------------------------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

/// A running maximum usable as exp's offset: 0 where it is still -inf.
static Value finiteOrZero(OpBuilder &b, Location loc, Value max) {
  Type type = max.getType();
  Value negInf = floatConstant(b, loc, type,
                               -std::numeric_limits<double>::infinity());
  Value isNegInf =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, max, negInf);
  return arith::SelectOp::create(b, loc, isNegInf,
                                 floatConstant(b, loc, type, 0.0), max);
}

/// A linalg.generic updating `tensor` in place: element i becomes
/// body(tensor[i]).
static Value updateInPlace(OpBuilder &b, Location loc, Value tensor,
                           function_ref<Value(OpBuilder &, Location, Value)>
                               body) {
  auto type = cast<RankedTensorType>(tensor.getType());
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{}, ValueRange{tensor},
             ArrayRef<AffineMap>{identityMap(b.getContext(), type.getRank())},
             SmallVector<utils::IteratorType>(type.getRank(),
                                              utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, body(nb, l, args[0]));
             })
      .getResult(0);
}

namespace {

struct FusedAttentionToLinalg : public OpConversionPattern<FusedAttentionOp> {
  FusedAttentionToLinalg(MLIRContext *ctx, int64_t keyTileSize)
      : OpConversionPattern(ctx), keyTileSize(keyTileSize) {}

  LogicalResult
  matchAndRewrite(FusedAttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType resultType = op.getType();
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    if (queryType.isDynamicDim(2) || resultType.isDynamicDim(2))
      return rewriter.notifyMatchFailure(
          op, "head and value dims must be static for static tiles");
    Value q = adaptor.getQuery();
    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    SmallVector<OpFoldResult> outSizes = {
        sizesOf(rewriter, loc, q)[0], sizesOf(rewriter, loc, q)[1],
        rewriter.getIndexAttr(resultType.getDimSize(2))};
    Value init = emptyTensor(rewriter, loc, resultType, outSizes);
    // The row's scores tile and accumulator, created once and threaded
    // through every loop, so that bufferization gives each one buffer for
    // the whole kernel (a tensor made inside a loop would be a fresh buffer
    // per iteration, one hoisted out of it a copy per iteration).
    Type elementType = resultType.getElementType();
    // (alloc_tensor rather than tensor.empty: two empties of one shape
    // would be CSE'd into one value, and then share one buffer.)
    Value scores = bufferization::AllocTensorOp::create(
        rewriter, loc, RankedTensorType::get({keyTileSize}, elementType),
        ValueRange{});
    Value acc = bufferization::AllocTensorOp::create(
        rewriter, loc,
        RankedTensorType::get({resultType.getDimSize(2)}, elementType),
        ValueRange{});
    Value heads = tensor::DimOp::create(rewriter, loc, q, c0);
    Value queries = tensor::DimOp::create(rewriter, loc, q, c1);
    auto headLoop = scf::ForOp::create(
        rewriter, loc, c0, heads, c1, ValueRange{init, scores, acc},
        [&](OpBuilder &b, Location l, Value h, ValueRange outer) {
          auto rowLoop = scf::ForOp::create(
              b, l, c0, queries, c1, outer,
              [&](OpBuilder &nb, Location nl, Value i, ValueRange inner) {
                auto [row, usedScores] =
                    attendRow(nb, nl, op, adaptor, h, i, inner[1], inner[2]);
                OpFoldResult one = nb.getIndexAttr(1);
                Value updated = tensor::InsertSliceOp::create(
                    nb, nl, row, inner[0],
                    ArrayRef<OpFoldResult>{h, i, nb.getIndexAttr(0)},
                    ArrayRef<OpFoldResult>{
                        one, one, nb.getIndexAttr(resultType.getDimSize(2))},
                    ArrayRef<OpFoldResult>{one, one, one});
                scf::YieldOp::create(nb, nl,
                                     ValueRange{updated, usedScores, row});
              });
          scf::YieldOp::create(b, l, rowLoop.getResults());
        });
    rewriter.replaceOp(op, headLoop.getResult(0));
    return success();
  }

  /// Output row `i` of head `h` ([value_dim], in `accBuffer`), and the
  /// scores tile after use (in `scoresBuffer`).
  std::pair<Value, Value> attendRow(OpBuilder &b, Location loc,
                                    FusedAttentionOp op, OpAdaptor adaptor,
                                    Value h, Value i, Value scoresBuffer,
                                    Value accBuffer) const {
    MLIRContext *ctx = b.getContext();
    RankedTensorType resultType = op.getType();
    Type elementType = resultType.getElementType();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
    auto queryType = cast<RankedTensorType>(q.getType());
    int64_t headDim = queryType.getDimSize(2);
    double scale = op.getScale().convertToDouble();
    std::optional<double> fill;
    if (std::optional<APFloat> f = op.getFill())
      fill = f->convertToDouble();
    double negInf = -std::numeric_limits<double>::infinity();

    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    Value tile = arith::ConstantIndexOp::create(b, loc, keyTileSize);
    Value numKeys = tensor::DimOp::create(b, loc, k, c1);
    // The row's absolute position, and the keys it visits.
    Value position =
        fill ? arith::AddIOp::create(b, loc, adaptor.getQueryOffset(), i)
                   .getResult()
             : Value();
    Value limit = numKeys;
    if (fill && *fill <= -1e9)
      limit = arith::MinSIOp::create(
          b, loc, numKeys, arith::AddIOp::create(b, loc, position, c1));
    Value lastKey = arith::SubIOp::create(b, loc, limit, c1);

    OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
    auto rowType =
        RankedTensorType::get({headDim}, queryType.getElementType());
    Value qRow = tensor::ExtractSliceOp::create(
        b, loc, rowType, q, ArrayRef<OpFoldResult>{h, i, zero},
        ArrayRef<OpFoldResult>{one, one, b.getIndexAttr(headDim)},
        ArrayRef<OpFoldResult>{one, one, one});
    Value max0 = floatConstant(b, loc, elementType, negInf);
    Value sum0 = floatConstant(b, loc, elementType, 0.0);
    Value acc0 =
        linalg::FillOp::create(b, loc, sum0, accBuffer).getResult(0);
    Value negInfValue = max0;
    Value scaleValue = floatConstant(b, loc, elementType, scale);
    Value fillValue = fill ? floatConstant(b, loc, elementType, *fill) : Value();
    auto fastMath = arith::FastMathFlagsAttr::get(
        ctx, arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);

    // Key index of tile slot t: start + t, clamped to the last key visited
    // so that a short last tile reads in bounds (its slots are masked).
    auto keyIndex = [&](OpBuilder &nb, Location nl, Value start) -> Value {
      Value j = arith::AddIOp::create(nb, nl, start,
                                      linalg::IndexOp::create(nb, nl, 0));
      return arith::MinSIOp::create(nb, nl, j, lastKey);
    };
    auto widen = [&](OpBuilder &nb, Location nl, Value x) -> Value {
      return x.getType() == elementType
                 ? x
                 : arith::ExtFOp::create(nb, nl, elementType, x).getResult();
    };
    // Both products of a tile, over loops (t, x): init[out(t, x)] +=
    // input[in(t, x)] * source[h, key(t), x], the source row gathered by
    // key index (k for the scores, v for the output).
    auto accumulateGathered =
        [&](OpBuilder &lb, Location l, Value input, AffineMap inputMap,
            Value init, AffineMap initMap, Value source, Value start,
            ArrayRef<utils::IteratorType> iterators) -> Value {
      return linalg::GenericOp::create(
                 lb, l, TypeRange{init.getType()}, ValueRange{input},
                 ValueRange{init}, ArrayRef<AffineMap>{inputMap, initMap},
                 iterators,
                 [&](OpBuilder &nb, Location nl, ValueRange args) {
                   Value gathered = tensor::ExtractOp::create(
                       nb, nl, source,
                       ValueRange{h, keyIndex(nb, nl, start),
                                  linalg::IndexOp::create(nb, nl, 1)});
                   Value product = arith::MulFOp::create(
                       nb, nl, widen(nb, nl, args[0]),
                       widen(nb, nl, gathered), fastMath);
                   linalg::YieldOp::create(
                       nb, nl,
                       arith::AddFOp::create(nb, nl, args[1], product,
                                             fastMath)
                           .getResult());
                 })
          .getResult(0);
    };

    auto loop = scf::ForOp::create(
        b, loc, arith::ConstantIndexOp::create(b, loc, 0), limit, tile,
        ValueRange{max0, sum0, acc0, scoresBuffer},
        [&](OpBuilder &lb, Location l, Value start, ValueRange carried) {
          Value max = carried[0], sum = carried[1], acc = carried[2];
          // Loops (t, d): raw[t] = q . k[key(t)].
          Value raw = accumulateGathered(
              lb, l, qRow, projectionMap(ctx, 2, {1}),
              linalg::FillOp::create(lb, l, sum0, carried[3]).getResult(0),
              projectionMap(ctx, 2, {0}), k, start,
              {utils::IteratorType::parallel, utils::IteratorType::reduction});
          // Scaled and masked: slots past the visited keys are -inf, keys
          // past the row's position get the fill.
          Value scores = updateInPlace(
              lb, l, raw, [&](OpBuilder &nb, Location nl, Value x) -> Value {
                Value s = scale == 1.0
                              ? x
                              : arith::MulFOp::create(nb, nl, x, scaleValue)
                                    .getResult();
                Value j = arith::AddIOp::create(
                    nb, nl, start, linalg::IndexOp::create(nb, nl, 0));
                if (fill) {
                  Value visible = arith::CmpIOp::create(
                      nb, nl, arith::CmpIPredicate::ule, j, position);
                  s = arith::SelectOp::create(nb, nl, visible, s, fillValue);
                }
                Value inRange = arith::CmpIOp::create(
                    nb, nl, arith::CmpIPredicate::ult, j, limit);
                return arith::SelectOp::create(nb, nl, inRange, s, negInfValue);
              });
          Value tileMax = foldVector(
              lb, l, scores, negInfValue,
              [](OpBuilder &nb, Location nl, Value a, Value x) -> Value {
                return arith::MaximumFOp::create(nb, nl, a, x);
              });
          Value newMax = arith::MaximumFOp::create(lb, l, max, tileMax);
          Value shift = finiteOrZero(lb, l, newMax);
          Value probs = updateInPlace(
              lb, l, scores, [&](OpBuilder &nb, Location nl, Value x) -> Value {
                return math::ExpOp::create(
                    nb, nl, arith::SubFOp::create(nb, nl, x, shift));
              });
          Value tileSum = foldVector(
              lb, l, probs, sum0,
              [](OpBuilder &nb, Location nl, Value a, Value x) -> Value {
                return arith::AddFOp::create(nb, nl, a, x);
              });
          Value correction = math::ExpOp::create(
              lb, l, arith::SubFOp::create(lb, l, max, shift));
          Value newSum = arith::AddFOp::create(
              lb, l, arith::MulFOp::create(lb, l, sum, correction), tileSum);
          Value rescaled = updateInPlace(
              lb, l, acc, [&](OpBuilder &nb, Location nl, Value x) -> Value {
                return arith::MulFOp::create(nb, nl, x, correction);
              });
          // Loops (t, e): acc[e] += p[t] * v[key(t), e], e innermost.
          Value newAcc = accumulateGathered(
              lb, l, probs, projectionMap(ctx, 2, {0}), rescaled,
              projectionMap(ctx, 2, {1}), v, start,
              {utils::IteratorType::reduction, utils::IteratorType::parallel});
          scf::YieldOp::create(lb, l,
                               ValueRange{newMax, newSum, newAcc, probs});
        });

    Value sum = loop.getResult(1);
    Value zeroValue = floatConstant(b, loc, elementType, 0.0);
    Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, sum,
                                        zeroValue);
    Value row = updateInPlace(
        b, loc, loop.getResult(2),
        [&](OpBuilder &nb, Location nl, Value x) -> Value {
          Value normalized = arith::DivFOp::create(nb, nl, x, sum);
          return arith::SelectOp::create(nb, nl, empty, zeroValue, normalized);
        });
    return {row, loop.getResult(3)};
  }

  int64_t keyTileSize;
};

} // namespace

void mlir::attn::populateFusedAttentionToLinalgPatterns(
    RewritePatternSet &patterns, int64_t keyTile) {
  patterns.add<FusedAttentionToLinalg>(patterns.getContext(), keyTile);
}
