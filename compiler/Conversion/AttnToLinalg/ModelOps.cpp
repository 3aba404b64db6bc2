//===- ModelOps.cpp - attn model ops to linalg ----------------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Each output row is gathered from the table inside the generic's body,
/// and the addend (an input of the generic) added there.
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
    SmallVector<Value> inputs = {ids};
    SmallVector<AffineMap> maps = {projectionMap(ctx, 2, {0})};
    if (Value addend = adaptor.getAddend()) {
      inputs.push_back(addend);
      maps.push_back(op.isBroadcastAddend()
                         ? AffineMap::get(2, 0,
                                          {getAffineConstantExpr(0, ctx),
                                           getAffineDimExpr(1, ctx)},
                                          ctx)
                         : identityMap(ctx, 2));
    }
    Value result = elementwise(
        rewriter, loc, op.getType(), sizes, inputs, maps,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value row = args[0];
          if (!row.getType().isIndex())
            row = arith::IndexCastOp::create(b, l, b.getIndexType(), row);
          Value col = linalg::IndexOp::create(b, l, 1);
          Value element =
              tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
          Type resultElement = op.getType().getElementType();
          if (element.getType() != resultElement)
            element = arith::ExtFOp::create(b, l, resultElement, element);
          if (args.size() > 1) // The addend.
            element = arith::AddFOp::create(b, l, element, args[1]);
          return element;
        });
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

/// Layer normalization of `x` along its last axis into `out`, row by row:
/// the mean, then the biased variance of the centered values, as scalars;
/// then centered / sqrt(var + eps) * gamma + beta written into the row of
/// the output. No [rows] or centered temporaries, so the kernel allocates
/// nothing. `index` holds the leading indices of the loops built so far.
static Value normalizeRows(OpBuilder &b, Location loc, Value x, Value gamma,
                           Value beta, double epsilon,
                           ArrayRef<OpFoldResult> sizes,
                           SmallVectorImpl<Value> &index, Value out) {
  unsigned last = sizes.size() - 1;
  if (index.size() < last) {
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    Value bound = getValueOrCreateConstantIndexOp(b, loc, sizes[index.size()]);
    auto loop = scf::ForOp::create(
        b, loc, c0, bound, c1, ValueRange{out},
        [&](OpBuilder &nb, Location l, Value i, ValueRange carried) {
          index.push_back(i);
          Value next = normalizeRows(nb, l, x, gamma, beta, epsilon, sizes,
                                     index, carried[0]);
          index.pop_back();
          scf::YieldOp::create(nb, l, next);
        });
    return loop.getResult(0);
  }
  // The row at `index`: offsets index..., 0; sizes 1..., features.
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(out.getType());
  Type elementType = type.getElementType();
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets(index.begin(), index.end());
  offsets.push_back(zero);
  SmallVector<OpFoldResult> rowSizes(last, one);
  rowSizes.push_back(sizes[last]);
  SmallVector<OpFoldResult> strides(sizes.size(), one);
  auto rowType = RankedTensorType::get({type.getDimSize(last)}, elementType);
  Value row = tensor::ExtractSliceOp::create(b, loc, rowType, x, offsets,
                                             rowSizes, strides);
  Value outRow = tensor::ExtractSliceOp::create(b, loc, rowType, out, offsets,
                                                rowSizes, strides);

  // Reassociation lets LLVM vectorize the sums.
  auto fastMath = arith::FastMathFlagsAttr::get(
      ctx, arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  Value n = axisSizeAsFloat(b, loc, x, last, elementType);
  Value zeroValue = floatConstant(b, loc, elementType, 0.0);
  Value mean = arith::DivFOp::create(
      b, loc,
      foldVector(b, loc, row, zeroValue,
                 [&](OpBuilder &nb, Location l, Value acc, Value v) -> Value {
                   return arith::AddFOp::create(nb, l, acc, v, fastMath);
                 }),
      n);
  Value variance = arith::DivFOp::create(
      b, loc,
      foldVector(b, loc, row, zeroValue,
                 [&](OpBuilder &nb, Location l, Value acc, Value v) -> Value {
                   Value centered = arith::SubFOp::create(nb, l, v, mean);
                   Value square =
                       arith::MulFOp::create(nb, l, centered, centered);
                   return arith::AddFOp::create(nb, l, acc, square, fastMath);
                 }),
      n);
  Value eps = floatConstant(b, loc, elementType, epsilon);
  Value stddev =
      math::SqrtOp::create(b, loc, arith::AddFOp::create(b, loc, variance, eps));
  AffineMap id = identityMap(ctx, 1);
  Value normalized =
      linalg::GenericOp::create(
          b, loc, TypeRange{rowType}, ValueRange{row, gamma, beta},
          ValueRange{outRow}, ArrayRef<AffineMap>{id, id, id, id},
          {utils::IteratorType::parallel},
          [&](OpBuilder &nb, Location l, ValueRange args) {
            Value centered = arith::SubFOp::create(nb, l, args[0], mean);
            Value scaled = arith::MulFOp::create(
                nb, l, arith::DivFOp::create(nb, l, centered, stddev),
                args[1]);
            linalg::YieldOp::create(
                nb, l,
                arith::AddFOp::create(nb, l, scaled, args[2]).getResult());
          })
          .getResult(0);
  return tensor::InsertSliceOp::create(b, loc, normalized, out, offsets,
                                       rowSizes, strides);
}

/// attn.layer_norm of `x` (of type `type`) along its last axis, as a new
/// tensor.
static Value layerNorm(OpBuilder &b, Location loc, RankedTensorType type,
                       Value x, Value gamma, Value beta, double epsilon) {
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, x);
  SmallVector<Value> index;
  return normalizeRows(b, loc, x, gamma, beta, epsilon, sizes, index,
                       emptyTensor(b, loc, type, sizes));
}

/// The input normalized first when the linear has a norm; then the output
/// starts as the broadcast bias (plus the residual, without an
/// activation; or zeros) and accumulates x·W with the weight read in its
/// storage layout; an activation is then applied in place, adding the
/// residual after it.
struct LinearToLinalg : public OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType type = op.getType();
    Value input = adaptor.getInput(), weight = adaptor.getWeight();
    Value bias = adaptor.getBias(), residual = adaptor.getResidual();
    // The prologue: the rows normalized first, into a temporary (one row in
    // a decode step, which the kernel keeps on its stack).
    if (std::optional<APFloat> epsilon = op.getNormEpsilon())
      input = layerNorm(rewriter, loc,
                        cast<RankedTensorType>(input.getType()), input,
                        adaptor.getNormGamma(), adaptor.getNormBeta(),
                        epsilon->convertToDouble());
    bool inOut = op.getLayout() == WeightLayout::in_out;
    bool activation = op.getActivation().has_value();
    SmallVector<OpFoldResult> weightSizes = sizesOf(rewriter, loc, weight);
    SmallVector<OpFoldResult> sizes = {sizesOf(rewriter, loc, input)[0],
                                       weightSizes[inOut ? 1 : 0]};
    AffineMap identity = identityMap(ctx, 2);
    // What the products accumulate into: the bias and (without an
    // activation) the residual.
    SmallVector<Value> addends;
    SmallVector<AffineMap> addendMaps;
    if (bias) {
      addends.push_back(bias);
      addendMaps.push_back(projectionMap(ctx, 2, {1}));
    }
    if (residual && !activation) {
      addends.push_back(residual);
      addendMaps.push_back(identity);
    }
    Value init =
        addends.empty()
            ? filledTensor(rewriter, loc, type, sizes, 0.0)
            : elementwise(rewriter, loc, type, sizes, addends, addendMaps,
                          [](OpBuilder &b, Location l, ValueRange args) {
                            Value sum = args[0];
                            for (Value v : args.drop_front())
                              sum = arith::AddFOp::create(b, l, sum, v);
                            return sum;
                          });

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
    if (activation) {
      SmallVector<Value> inputs;
      SmallVector<AffineMap> maps;
      if (residual) {
        inputs.push_back(residual);
        maps.push_back(identity);
      }
      result = updateElementwise(
          rewriter, loc, result, inputs, maps,
          [](OpBuilder &b, Location l, Value y, ValueRange args) {
            Value activated = geluTanh(b, l, y);
            return args.empty() ? activated
                                : arith::AddFOp::create(b, l, activated,
                                                        args[0]);
          });
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// One loop per leading axis; the innermost body normalizes one row
/// (normalizeRows).
struct LayerNormToLinalg : public OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, layerNorm(rewriter, op.getLoc(), op.getType(),
                                     adaptor.getInput(), adaptor.getGamma(),
                                     adaptor.getBeta(),
                                     op.getEpsilon().convertToDouble()));
    return success();
  }
};

/// geluTanh, elementwise.
struct GeluToLinalg : public OpConversionPattern<GeluOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GeluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    RankedTensorType type = op.getType();
    Value x = adaptor.getInput();
    Value result = elementwise(
        rewriter, op.getLoc(), type, sizesOf(rewriter, op.getLoc(), x),
        ValueRange{x}, {identityMap(rewriter.getContext(), type.getRank())},
        [](OpBuilder &b, Location l, ValueRange args) {
          return geluTanh(b, l, args[0]);
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
