//===- AttentionOps.cpp - the seed's attention ops to linalg --------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

/// `scale * x` where query `indices[1]` may see key `indices[2]`, else
/// `fill`: what attn.scale, attn.causal_mask and softmax's input see.
static Value scaleAndMask(OpBuilder &b, Location loc, Value x,
                          ValueRange indices, Value queryOffset, double scale,
                          double fill) {
  Type type = x.getType();
  Value scaled = scale == 1.0 ? x
                              : arith::MulFOp::create(
                                    b, loc, x, floatConstant(b, loc, type, scale));
  Value limit = arith::AddIOp::create(b, loc, queryOffset, indices[1]);
  Value visible = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                        indices[2], limit);
  return arith::SelectOp::create(b, loc, visible, scaled,
                                 floatConstant(b, loc, type, fill));
}

namespace {

/// Loops (h, i, j, d): scores[h, i, j] += q[h, i, d] * k[h, j, d].
struct QKScoresToLinalg : public OpConversionPattern<QKScoresOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QKScoresOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value q = adaptor.getQuery(), k = adaptor.getKey();
    SmallVector<OpFoldResult> qs = sizesOf(rewriter, loc, q);
    Value init = filledTensor(rewriter, loc, op.getType(),
                              {qs[0], qs[1], sizesOf(rewriter, loc, k)[1]}, 0.0);
    rewriter.replaceOp(op, contract(rewriter, loc, init, q,
                                    projectionMap(ctx, 4, {0, 1, 3}), k,
                                    projectionMap(ctx, 4, {0, 2, 3})));
    return success();
  }
};

/// Loops (h, i, j, d): out[h, i, d] += p[h, i, j] * v[h, j, d], the
/// innermost loop along rows of v and of the output.
struct WeightedSumToLinalg : public OpConversionPattern<WeightedSumOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(WeightedSumOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value p = adaptor.getProbs(), v = adaptor.getValue();
    SmallVector<OpFoldResult> ps = sizesOf(rewriter, loc, p);
    Value init = filledTensor(rewriter, loc, op.getType(),
                              {ps[0], ps[1], sizesOf(rewriter, loc, v)[2]}, 0.0);
    rewriter.replaceOp(op, contract(rewriter, loc, init, p,
                                    projectionMap(ctx, 4, {0, 1, 2}), v,
                                    projectionMap(ctx, 4, {0, 2, 3}),
                                    /*reductionLoop=*/2));
    return success();
  }
};

struct ScaleToLinalg : public OpConversionPattern<ScaleOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ScaleOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Value factor = floatConstant(rewriter, loc, type.getElementType(),
                                 op.getFactor().convertToDouble());
    Value x = adaptor.getInput();
    rewriter.replaceOp(
        op, elementwise(rewriter, loc, type, sizesOf(rewriter, loc, x),
                        ValueRange{x},
                        {identityMap(rewriter.getContext(), type.getRank())},
                        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                          return arith::MulFOp::create(b, l, args[0], factor);
                        }));
    return success();
  }
};

struct CausalMaskToLinalg : public OpConversionPattern<CausalMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CausalMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Value x = adaptor.getInput(), offset = adaptor.getQueryOffset();
    double fill = op.getFill().convertToDouble();
    rewriter.replaceOp(
        op, elementwise(rewriter, loc, type, sizesOf(rewriter, loc, x),
                        ValueRange{x},
                        {identityMap(rewriter.getContext(), type.getRank())},
                        [&](OpBuilder &b, Location l, ValueRange args) {
                          SmallVector<Value> indices = {
                              linalg::IndexOp::create(b, l, 0),
                              linalg::IndexOp::create(b, l, 1),
                              linalg::IndexOp::create(b, l, 2)};
                          return scaleAndMask(b, l, args[0], indices, offset,
                                              1.0, fill);
                        }));
    return success();
  }
};

struct SoftmaxToLinalg : public OpConversionPattern<SoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SoftmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(
        op, softmaxAlong(rewriter, op.getLoc(), adaptor.getInput(),
                         op.getAxis(), op.getType(),
                         [](OpBuilder &, Location, Value x, ValueRange) {
                           return x;
                         }));
    return success();
  }
};

struct MaskedSoftmaxToLinalg : public OpConversionPattern<MaskedSoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaskedSoftmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value offset = adaptor.getQueryOffset();
    double scale = op.getScale().convertToDouble();
    double fill = op.getFill().convertToDouble();
    rewriter.replaceOp(
        op, softmaxAlong(rewriter, op.getLoc(), adaptor.getInput(), /*axis=*/2,
                         op.getType(),
                         [&](OpBuilder &b, Location l, Value x,
                             ValueRange indices) {
                           return scaleAndMask(b, l, x, indices, offset, scale,
                                               fill);
                         }));
    return success();
  }
};

} // namespace

void mlir::attn::populateAttentionOpsToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<QKScoresToLinalg, WeightedSumToLinalg, ScaleToLinalg,
               CausalMaskToLinalg, SoftmaxToLinalg, MaskedSoftmaxToLinalg>(
      patterns.getContext());
}
