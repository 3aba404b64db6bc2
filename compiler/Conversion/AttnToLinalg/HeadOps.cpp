//===- HeadOps.cpp - attn head split/merge to tensor + linalg -------------===//
//
// [seq, heads * head_dim] <-> [heads, seq, head_dim] is a reshape of the
// hidden axis plus a transpose of the first two axes.
//
//===----------------------------------------------------------------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
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

struct MergeHeadsToLinalg : public OpConversionPattern<MergeHeadsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MergeHeadsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    auto swappedType = RankedTensorType::get(
        {inputType.getDimSize(1), inputType.getDimSize(0),
         inputType.getDimSize(2)},
        inputType.getElementType());
    Value swapped =
        swapLeadingAxes(rewriter, loc, adaptor.getInput(), swappedType);
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getType(), swapped, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
    return success();
  }
};

} // namespace

void mlir::attn::populateHeadOpsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<SplitHeadsToLinalg, MergeHeadsToLinalg>(patterns.getContext());
}
