//===- ModelOps.cpp - attn model ops to linalg ----------------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Each output row is gathered from the table inside the generic's body.
struct EmbeddingToLinalg : public OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value table = adaptor.getTable(), ids = adaptor.getIds();
    SmallVector<OpFoldResult> sizes = {
        sizesOf(rewriter, loc, ids)[0], sizesOf(rewriter, loc, table)[1]};
    MLIRContext *ctx = rewriter.getContext();
    Value result = elementwise(
        rewriter, loc, op.getType(), sizes, ValueRange{ids},
        {projectionMap(ctx, 2, {0})},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value row = args[0];
          if (!row.getType().isIndex())
            row = arith::IndexCastOp::create(b, l, b.getIndexType(), row);
          Value col = linalg::IndexOp::create(b, l, 1);
          Value element =
              tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
          Type resultElement = op.getType().getElementType();
          if (element.getType() == resultElement)
            return element;
          return arith::ExtFOp::create(b, l, resultElement, element);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The output starts as the broadcast bias (or zeros) and accumulates
/// x·W with the weight read in its storage layout.
struct LinearToLinalg : public OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType type = op.getType();
    Value input = adaptor.getInput(), weight = adaptor.getWeight();
    bool inOut = op.getLayout() == WeightLayout::in_out;
    SmallVector<OpFoldResult> weightSizes = sizesOf(rewriter, loc, weight);
    SmallVector<OpFoldResult> sizes = {sizesOf(rewriter, loc, input)[0],
                                       weightSizes[inOut ? 1 : 0]};
    Value init;
    if (Value bias = adaptor.getBias())
      init = elementwise(rewriter, loc, type, sizes, ValueRange{bias},
                         {projectionMap(ctx, 2, {1})},
                         [](OpBuilder &, Location, ValueRange args) {
                           return args[0];
                         });
    else
      init = filledTensor(rewriter, loc, type, sizes, 0.0);

    // [in, out] weights: loops (s, i, o), so that the innermost loop walks a
    // row of W and of the output. [out, in] weights: loops (s, o, i), a dot
    // product along rows of x and W.
    Value result =
        inOut ? contract(rewriter, loc, init, input,
                         projectionMap(ctx, 3, {0, 1}), weight,
                         projectionMap(ctx, 3, {1, 2}), /*reductionLoop=*/1)
              : contract(rewriter, loc, init, input,
                         projectionMap(ctx, 3, {0, 2}), weight,
                         projectionMap(ctx, 3, {1, 2}));
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The number of elements along `axis` of `v`, as a float of `type`.
static Value axisSizeAsFloat(OpBuilder &b, Location loc, Value v,
                             unsigned axis, Type type) {
  Value size =
      getValueOrCreateConstantIndexOp(b, loc, sizesOf(b, loc, v)[axis]);
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), size);
  return arith::SIToFPOp::create(b, loc, type, asInt);
}

/// mean, then the biased variance of the centered values, then
/// centered / sqrt(var + eps) * gamma + beta.
struct LayerNormToLinalg : public OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType type = op.getType();
    Type elementType = type.getElementType();
    unsigned rank = type.getRank(), last = rank - 1;
    Value x = adaptor.getInput();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, x);
    SmallVector<unsigned> rows = llvm::to_vector(llvm::seq<unsigned>(0, last));
    AffineMap id = identityMap(ctx, rank);
    AffineMap rowMap = projectionMap(ctx, rank, rows);
    AffineMap featureMap = projectionMap(ctx, rank, {last});

    auto add = [](OpBuilder &b, Location l, Value acc, Value v) -> Value {
      return arith::AddFOp::create(b, l, acc, v);
    };
    auto same = [](OpBuilder &, Location, Value v, ValueRange) { return v; };
    auto square = [](OpBuilder &b, Location l, Value v, ValueRange) -> Value {
      return arith::MulFOp::create(b, l, v, v);
    };
    Value n = axisSizeAsFloat(rewriter, loc, x, last, elementType);
    Value sum = reduceAxis(rewriter, loc, x, last, 0.0, add, same);
    auto rowType = cast<RankedTensorType>(sum.getType());
    SmallVector<OpFoldResult> rowSizes(sizes.begin(), sizes.end() - 1);
    auto divideByN = [&](Value rowValues) {
      return elementwise(
          rewriter, loc, rowType, rowSizes, ValueRange{rowValues},
          {identityMap(ctx, rank - 1)},
          [&](OpBuilder &b, Location l, ValueRange args) -> Value {
            return arith::DivFOp::create(b, l, args[0], n);
          });
    };
    Value mean = divideByN(sum);
    Value centered = elementwise(
        rewriter, loc, type, sizes, ValueRange{x, mean}, {id, rowMap},
        [](OpBuilder &b, Location l, ValueRange args) -> Value {
          return arith::SubFOp::create(b, l, args[0], args[1]);
        });
    Value variance =
        divideByN(reduceAxis(rewriter, loc, centered, last, 0.0, add, square));
    Value eps = floatConstant(rewriter, loc, elementType,
                              op.getEpsilon().convertToDouble());
    Value result = elementwise(
        rewriter, loc, type, sizes,
        ValueRange{centered, variance, adaptor.getGamma(), adaptor.getBeta()},
        {id, rowMap, featureMap, featureMap},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value stddev = math::SqrtOp::create(
              b, l, arith::AddFOp::create(b, l, args[1], eps));
          Value normalized = arith::DivFOp::create(b, l, args[0], stddev);
          Value scaled = arith::MulFOp::create(b, l, normalized, args[2]);
          return arith::AddFOp::create(b, l, scaled, args[3]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))).
struct GeluToLinalg : public OpConversionPattern<GeluOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GeluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Type elementType = type.getElementType();
    Value x = adaptor.getInput();
    auto constant = [&](double v) {
      return floatConstant(rewriter, loc, elementType, v);
    };
    Value half = constant(0.5), one = constant(1.0),
          cubic = constant(0.044715), root = constant(std::sqrt(2.0 / M_PI));
    Value result = elementwise(
        rewriter, loc, type, sizesOf(rewriter, loc, x), ValueRange{x},
        {identityMap(rewriter.getContext(), type.getRank())},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value v = args[0];
          Value v3 = arith::MulFOp::create(
              b, l, v, arith::MulFOp::create(b, l, v, v));
          Value inner = arith::MulFOp::create(
              b, l, root,
              arith::AddFOp::create(b, l, v,
                                    arith::MulFOp::create(b, l, cubic, v3)));
          Value t = math::TanhOp::create(b, l, inner);
          Value halfX = arith::MulFOp::create(b, l, half, v);
          return arith::MulFOp::create(b, l, halfX,
                                       arith::AddFOp::create(b, l, one, t));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// lhs + rhs, reading rhs at index 0 along its broadcast axes.
struct AddToLinalg : public OpConversionPattern<AddOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AddOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType type = op.getType();
    unsigned rank = type.getRank();
    SmallVector<AffineExpr> rhsExprs;
    for (unsigned axis = 0; axis < rank; ++axis)
      rhsExprs.push_back(op.isBroadcastAxis(axis)
                             ? getAffineConstantExpr(0, ctx)
                             : getAffineDimExpr(axis, ctx));
    AffineMap rhsMap = AffineMap::get(rank, 0, rhsExprs, ctx);
    Value lhs = adaptor.getLhs();
    Value result = elementwise(
        rewriter, loc, type, sizesOf(rewriter, loc, lhs),
        ValueRange{lhs, adaptor.getRhs()}, {identityMap(ctx, rank), rhsMap},
        [](OpBuilder &b, Location l, ValueRange args) -> Value {
          return arith::AddFOp::create(b, l, args[0], args[1]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::attn::populateModelOpsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<EmbeddingToLinalg, LinearToLinalg, LayerNormToLinalg,
               GeluToLinalg, AddToLinalg>(patterns.getContext());
}
