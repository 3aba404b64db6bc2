//===- FuseLinearPrologues.cpp - one-row layer norms into attn.linear -----===//

#include "compiler/Transforms/Passes.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_FUSELINEARPROLOGUES
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Whether the [rows, features] `v` has one row: statically, or because it
/// lives in a program step of one token (the frontends' programs take the
/// step's token ids as their first argument, and every [tokens, features]
/// activation has one row per token).
static bool hasOneRow(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getRank() != 2)
    return false;
  if (type.getDimSize(0) == 1)
    return true;
  auto func = v.getParentRegion()->getParentOfType<func::FuncOp>();
  if (!func || func.getNumArguments() == 0)
    return false;
  auto tokens = dyn_cast<RankedTensorType>(func.getArgument(0).getType());
  return tokens && tokens.getRank() == 1 && tokens.getDimSize(0) == 1 &&
         tokens.getElementType().isInteger(32);
}

namespace {

/// linear(layer_norm(x)) -> linear(x) norm(gamma, beta eps(e)), for every
/// linear that reads the norm, when the norm has no other user.
struct FuseLayerNorm : public OpRewritePattern<LayerNormOp> {
  FuseLayerNorm(MLIRContext *ctx, int64_t maxWidthRatio)
      : OpRewritePattern(ctx), maxWidthRatio(maxWidthRatio) {}

  LogicalResult matchAndRewrite(LayerNormOp norm,
                                PatternRewriter &rewriter) const override {
    if (!hasOneRow(norm.getInput()))
      return rewriter.notifyMatchFailure(
          norm, "cannot prove that it normalizes one row: with more, each of "
                "the linear's column tiles would normalize all of them again");
    SmallVector<LinearOp> linears;
    for (OpOperand &use : norm->getUses()) {
      auto linear = dyn_cast<LinearOp>(use.getOwner());
      if (!linear || use.getOperandNumber() != 0 || linear.getNormGamma())
        return rewriter.notifyMatchFailure(
            norm, "has a user other than the input of a linear without a "
                  "norm of its own");
      auto [in, out] = linear.getInOutSizes();
      if (ShapedType::isDynamic(in) || ShapedType::isDynamic(out) ||
          out > maxWidthRatio * in)
        return rewriter.notifyMatchFailure(
            norm, "feeds a linear wider than max-width-ratio times its "
                  "input: the GPU blocks of its product would normalize the "
                  "row again more often than the launch it saves is worth");
      linears.push_back(linear);
    }
    if (linears.empty())
      return rewriter.notifyMatchFailure(norm, "has no user");
    for (LinearOp linear : linears)
      rewriter.replaceOpWithNewOp<LinearOp>(
          linear, linear.getType(), norm.getInput(), linear.getWeight(),
          linear.getBias(), linear.getResidual(), norm.getGamma(),
          norm.getBeta(), linear.getLayoutAttr(), linear.getActivationAttr(),
          norm.getEpsilonAttr());
    rewriter.eraseOp(norm);
    return success();
  }

private:
  int64_t maxWidthRatio;
};

struct FuseLinearPrologues
    : public attn::impl::FuseLinearProloguesBase<FuseLinearPrologues> {
  using FuseLinearProloguesBase::FuseLinearProloguesBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseLinearProloguesPatterns(patterns, maxWidthRatio);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateFuseLinearProloguesPatterns(
    RewritePatternSet &patterns, int64_t maxWidthRatio) {
  patterns.add<FuseLayerNorm>(patterns.getContext(), maxWidthRatio);
}
