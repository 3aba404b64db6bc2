//===- HeadOps.cpp - attn head split/merge to tensor + linalg -------------===//
//
// [seq, heads * head_dim] -> [heads, seq, head_dim] is a reshape of the
// hidden axis plus a transpose of the first two axes; the way back is a
// gather into the output.
//
//===----------------------------------------------------------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

/// Swaps the first two axes of a rank-3 tensor into a new tensor of `type`.
static Value swapLeadingAxes(OpBuilder &b, Location loc, Value input,
                             RankedTensorType type) {
  SmallVector<OpFoldResult> in = sizesOf(b, loc, input);
  Value init = emptyTensor(b, loc, type, {in[1], in[0], in[2]});
  return linalg::TransposeOp::create(b, loc, input, init,
                                     ArrayRef<int64_t>{1, 0, 2})
      .getResult()[0];
}

namespace {

struct SplitHeadsToLinalg : public OpConversionPattern<SplitHeadsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SplitHeadsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    int64_t heads = type.getDimSize(0), headDim = type.getDimSize(2);
    if (ShapedType::isDynamic(headDim))
      return rewriter.notifyMatchFailure(op, "head_dim is dynamic");
    Value input = adaptor.getInput();
    OpFoldResult seq = sizesOf(rewriter, loc, input)[0];
    auto expandedType = RankedTensorType::get(
        {type.getDimSize(1), heads, headDim}, type.getElementType());
    Value expanded = tensor::ExpandShapeOp::create(
        rewriter, loc, expandedType, input,
        ArrayRef<ReassociationIndices>{{0}, {1, 2}},
        ArrayRef<OpFoldResult>{seq, rewriter.getIndexAttr(heads),
                               rewriter.getIndexAttr(headDim)});
    rewriter.replaceOp(op, swapLeadingAxes(rewriter, loc, expanded, type));
    return success();
  }
};

/// Written as a gather, out[s, h * head_dim + e] = in[h, s, e], straight
/// into the output: a transpose into a temporary and a copy of its collapsed
/// shape would cost a buffer and a second pass.
struct MergeHeadsToLinalg : public OpConversionPattern<MergeHeadsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MergeHeadsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    int64_t headDim = cast<RankedTensorType>(input.getType()).getDimSize(2);
    if (ShapedType::isDynamic(headDim))
      return rewriter.notifyMatchFailure(op, "head_dim is dynamic");
    RankedTensorType type = op.getType();
    SmallVector<OpFoldResult> in = sizesOf(rewriter, loc, input);
    SmallVector<OpFoldResult> sizes = {in[1],
                                       rewriter.getIndexAttr(type.getDimSize(1))};
    Value result = elementwise(
        rewriter, loc, type, sizes, ValueRange{}, {},
        [&](OpBuilder &b, Location l, ValueRange) -> Value {
          Value column = linalg::IndexOp::create(b, l, 1);
          Value width = arith::ConstantIndexOp::create(b, l, headDim);
          Value head = arith::DivUIOp::create(b, l, column, width);
          Value offset = arith::RemUIOp::create(b, l, column, width);
          return tensor::ExtractOp::create(
              b, l, input,
              ValueRange{head, linalg::IndexOp::create(b, l, 0), offset});
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::attn::populateHeadOpsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<SplitHeadsToLinalg, MergeHeadsToLinalg>(patterns.getContext());
}
