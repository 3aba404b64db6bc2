//===- FusedAttention.cpp - flash-style lowering of attn.fused_attention --===//
//
// Keys and values are visited in tiles of `keyTile`. For every query the
// loop carries the running maximum m, the running sum l of exp(s - m) and the
// unnormalized output acc; a new tile with scores s rescales them by
// exp(m - m') where m' = max(m, max s). After the last tile the output is
// acc / l. Only a [heads, queries, keyTile] tile of scores ever exists.
//
// Masked scores may be -inf. A row whose scores so far are all -inf has
// m' = -inf; it subtracts 0 instead, so exp(-inf) = 0 rather than NaN, and a
// row that never sees a key ends with l = 0 and an output of 0.
//
//===----------------------------------------------------------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
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

/// `source` restricted to [start, start + count) along axis 1.
static Value sliceAxis1(OpBuilder &b, Location loc, Value source, Value start,
                     Value count) {
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, source);
  sizes[1] = count;
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  return tensor::ExtractSliceOp::create(
      b, loc, source, ArrayRef<OpFoldResult>{zero, start, zero}, sizes,
      ArrayRef<OpFoldResult>{one, one, one});
}

namespace {

struct FusedAttentionToLinalg : public OpConversionPattern<FusedAttentionOp> {
  FusedAttentionToLinalg(MLIRContext *ctx, int64_t keyTileSize)
      : OpConversionPattern(ctx), keyTileSize(keyTileSize) {}

  LogicalResult
  matchAndRewrite(FusedAttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value q = adaptor.getQuery(), k = adaptor.getKey();
    Value offset = adaptor.getQueryOffset();
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value numKeys = tensor::DimOp::create(rewriter, loc, k, c1);
    if (!op.getFill()) {
      rewriter.replaceOp(op, attend(rewriter, loc, op, adaptor, q, offset,
                                    numKeys, op.getType()));
      return success();
    }
    // Causal: queries in tiles of keyTileSize, each visiting only the keys
    // up to its last query's position (offset + q0 + rows - 1): a prefill
    // skips the tiles above the diagonal, half of the work.
    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value tile = arith::ConstantIndexOp::create(rewriter, loc, keyTileSize);
    Value numQueries = tensor::DimOp::create(rewriter, loc, q, c1);
    RankedTensorType resultType = op.getType();
    SmallVector<OpFoldResult> qSizes = sizesOf(rewriter, loc, q);
    Value init = tensor::EmptyOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{qSizes[0], qSizes[1],
                               sizesOf(rewriter, loc, adaptor.getValue())[2]},
        resultType.getElementType());
    auto loop = scf::ForOp::create(
        rewriter, loc, c0, numQueries, tile, ValueRange{init},
        [&](OpBuilder &b, Location l, Value q0, ValueRange carried) {
          Value rows = arith::MinSIOp::create(
              b, l, tile, arith::SubIOp::create(b, l, numQueries, q0));
          Value qTile = sliceAxis1(b, l, q, q0, rows);
          Value tileOffset = arith::AddIOp::create(b, l, offset, q0);
          Value visible = arith::MinSIOp::create(
              b, l, numKeys, arith::AddIOp::create(b, l, tileOffset, rows));
          auto tileType = RankedTensorType::get(
              {resultType.getDimSize(0), ShapedType::kDynamic,
               resultType.getDimSize(2)},
              resultType.getElementType());
          Value out = attend(b, l, op, adaptor, qTile, tileOffset, visible,
                             tileType);
          SmallVector<OpFoldResult> outSizes = sizesOf(b, l, out);
          OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
          Value result = tensor::InsertSliceOp::create(
              b, l, out, carried[0], ArrayRef<OpFoldResult>{zero, q0, zero},
              outSizes, ArrayRef<OpFoldResult>{one, one, one});
          scf::YieldOp::create(b, l, result);
        });
    // tensor.empty typed its sizes from values; the op's type may know more.
    Value result = loop.getResult(0);
    if (result.getType() != resultType)
      result = tensor::CastOp::create(rewriter, loc, resultType, result);
    rewriter.replaceOp(op, result);
    return success();
  }

  /// The online softmax of queries `q` (rows at absolute positions offset,
  /// offset + 1, ...) over the first `numKeys` keys, as `resultType`.
  Value attend(OpBuilder &rewriter, Location loc, FusedAttentionOp op,
               OpAdaptor adaptor, Value q, Value offset, Value numKeys,
               RankedTensorType resultType) const {
    MLIRContext *ctx = rewriter.getContext();
    Type elementType = resultType.getElementType();
    Value k = adaptor.getKey(), v = adaptor.getValue();
    double scale = op.getScale().convertToDouble();
    std::optional<double> fill;
    if (std::optional<APFloat> f = op.getFill())
      fill = f->convertToDouble();
    SmallVector<OpFoldResult> qSizes = sizesOf(rewriter, loc, q);
    SmallVector<OpFoldResult> outSizes = {qSizes[0], qSizes[1],
                                          sizesOf(rewriter, loc, v)[2]};
    SmallVector<OpFoldResult> rowSizes = {qSizes[0], qSizes[1]};
    auto rowType = RankedTensorType::get(
        {resultType.getDimSize(0), resultType.getDimSize(1)}, elementType);
    double negInf = -std::numeric_limits<double>::infinity();
    Value max0 = filledTensor(rewriter, loc, rowType, rowSizes, negInf);
    Value sum0 = filledTensor(rewriter, loc, rowType, rowSizes, 0.0);
    Value acc0 = filledTensor(rewriter, loc, resultType, outSizes, 0.0);

    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value tile = arith::ConstantIndexOp::create(rewriter, loc, keyTileSize);
    Value scaleValue = floatConstant(rewriter, loc, elementType, scale);
    Value fillValue =
        fill ? floatConstant(rewriter, loc, elementType, *fill) : Value();
    AffineMap id3 = identityMap(ctx, 3), id2 = identityMap(ctx, 2);
    AffineMap row3 = projectionMap(ctx, 3, {0, 1});

    auto loop = scf::ForOp::create(
        rewriter, loc, c0, numKeys, tile, ValueRange{max0, sum0, acc0},
        [&](OpBuilder &b, Location l, Value start, ValueRange carried) {
          Value max = carried[0], sum = carried[1], acc = carried[2];
          Value remaining = arith::SubIOp::create(b, l, numKeys, start);
          Value count = arith::MinSIOp::create(b, l, tile, remaining);
          Value kTile = sliceAxis1(b, l, k, start, count);
          Value vTile = sliceAxis1(b, l, v, start, count);

          // Scaled, masked scores of this tile: [heads, queries, count].
          SmallVector<OpFoldResult> tileSizes = {qSizes[0], qSizes[1], count};
          auto tileType = RankedTensorType::get(
              {resultType.getDimSize(0), resultType.getDimSize(1),
               ShapedType::kDynamic},
              elementType);
          Value raw = contract(b, l, filledTensor(b, l, tileType, tileSizes, 0.0),
                               q, projectionMap(ctx, 4, {0, 1, 3}), kTile,
                               projectionMap(ctx, 4, {0, 2, 3}));
          Value scores = elementwise(
              b, l, tileType, tileSizes, ValueRange{raw}, {id3},
              [&](OpBuilder &nb, Location nl, ValueRange args) -> Value {
                Value s = scale == 1.0
                              ? args[0]
                              : arith::MulFOp::create(nb, nl, args[0], scaleValue)
                                    .getResult();
                if (!fill)
                  return s;
                Value i = linalg::IndexOp::create(nb, nl, 1);
                Value j = arith::AddIOp::create(
                    nb, nl, start, linalg::IndexOp::create(nb, nl, 2));
                Value limit = arith::AddIOp::create(nb, nl, offset, i);
                Value visible = arith::CmpIOp::create(
                    nb, nl, arith::CmpIPredicate::ule, j, limit);
                return arith::SelectOp::create(nb, nl, visible, s, fillValue);
              });

          Value tileMax = reduceAxis(
              b, l, scores, 2, negInf,
              [](OpBuilder &nb, Location nl, Value a, Value x) -> Value {
                return arith::MaximumFOp::create(nb, nl, a, x);
              },
              [](OpBuilder &, Location, Value x, ValueRange) { return x; });
          Value newMax = elementwise(
              b, l, rowType, rowSizes, ValueRange{max, tileMax}, {id2, id2},
              [](OpBuilder &nb, Location nl, ValueRange args) -> Value {
                return arith::MaximumFOp::create(nb, nl, args[0], args[1]);
              });
          Value probs = elementwise(
              b, l, tileType, tileSizes, ValueRange{scores, newMax},
              {id3, row3},
              [](OpBuilder &nb, Location nl, ValueRange args) -> Value {
                Value shift = finiteOrZero(nb, nl, args[1]);
                return math::ExpOp::create(
                    nb, nl, arith::SubFOp::create(nb, nl, args[0], shift));
              });
          Value correction = elementwise(
              b, l, rowType, rowSizes, ValueRange{max, newMax}, {id2, id2},
              [](OpBuilder &nb, Location nl, ValueRange args) -> Value {
                Value shift = finiteOrZero(nb, nl, args[1]);
                return math::ExpOp::create(
                    nb, nl, arith::SubFOp::create(nb, nl, args[0], shift));
              });
          Value tileSum = reduceAxis(
              b, l, probs, 2, 0.0,
              [](OpBuilder &nb, Location nl, Value a, Value x) -> Value {
                return arith::AddFOp::create(nb, nl, a, x);
              },
              [](OpBuilder &, Location, Value x, ValueRange) { return x; });
          Value newSum = elementwise(
              b, l, rowType, rowSizes, ValueRange{sum, correction, tileSum},
              {id2, id2, id2},
              [](OpBuilder &nb, Location nl, ValueRange args) -> Value {
                Value kept = arith::MulFOp::create(nb, nl, args[0], args[1]);
                return arith::AddFOp::create(nb, nl, kept, args[2]);
              });
          Value rescaled = elementwise(
              b, l, resultType, outSizes, ValueRange{acc, correction},
              {id3, row3},
              [](OpBuilder &nb, Location nl, ValueRange args) -> Value {
                return arith::MulFOp::create(nb, nl, args[0], args[1]);
              });
          // Loops (h, i, j, e): acc[h, i, e] += p[h, i, j] * v[h, j, e].
          Value newAcc = contract(b, l, rescaled, probs,
                                  projectionMap(ctx, 4, {0, 1, 2}), vTile,
                                  projectionMap(ctx, 4, {0, 2, 3}),
                                  /*reductionLoop=*/2);
          scf::YieldOp::create(b, l, ValueRange{newMax, newSum, newAcc});
        });

    Value zero = floatConstant(rewriter, loc, elementType, 0.0);
    Value result = elementwise(
        rewriter, loc, resultType, outSizes,
        ValueRange{loop.getResult(2), loop.getResult(1)}, {id3, row3},
        [&](OpBuilder &nb, Location nl, ValueRange args) -> Value {
          Value empty = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ,
                                              args[1], zero);
          Value normalized = arith::DivFOp::create(nb, nl, args[0], args[1]);
          return arith::SelectOp::create(nb, nl, empty, zero, normalized);
        });
    return result;
  }

  int64_t keyTileSize;
};

} // namespace

void mlir::attn::populateFusedAttentionToLinalgPatterns(
    RewritePatternSet &patterns, int64_t keyTile) {
  patterns.add<FusedAttentionToLinalg>(patterns.getContext(), keyTile);
}
