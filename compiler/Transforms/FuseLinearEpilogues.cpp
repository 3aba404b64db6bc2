//===- FuseLinearEpilogues.cpp - gelu and residual adds into attn.linear --===//

#include "compiler/Transforms/Passes.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_FUSELINEAREPILOGUES
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The linear that defines `v`, if `v` is its only use: fusing a consumer
/// into a linear with other users would compute the product twice.
static LinearOp getSoleUseLinear(Value v) {
  auto linear = v.getDefiningOp<LinearOp>();
  return linear && v.hasOneUse() ? linear : LinearOp();
}

/// `linear` rebuilt at `at` as the op `at` becomes (its type), with its
/// prologue and the epilogue `residual` and `activation`.
static void replaceWithLinear(PatternRewriter &rewriter, Operation *at,
                              LinearOp linear, Value residual,
                              ActivationAttr activation) {
  rewriter.replaceOpWithNewOp<LinearOp>(
      at, at->getResult(0).getType(), linear.getInput(), linear.getWeight(),
      linear.getBias(), residual, linear.getNormGamma(), linear.getNormBeta(),
      linear.getLayoutAttr(), activation, linear.getNormEpsilonAttr());
  rewriter.eraseOp(linear);
}

/// gelu(linear(x)) -> linear(x) activation<gelu>.
struct FuseGelu : public OpRewritePattern<GeluOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GeluOp gelu,
                                PatternRewriter &rewriter) const override {
    LinearOp linear = getSoleUseLinear(gelu.getInput());
    if (!linear)
      return rewriter.notifyMatchFailure(
          gelu, "input is not a linear without other users");
    // The activation applies before the residual: gelu(xW + b + r) is not
    // expressible.
    if (linear.getActivation() || linear.getResidual())
      return rewriter.notifyMatchFailure(gelu,
                                         "the linear already has an epilogue");
    replaceWithLinear(
        rewriter, gelu, linear, /*residual=*/Value(),
        ActivationAttr::get(rewriter.getContext(), Activation::gelu));
    return success();
  }
};

/// add(r, linear(x)) or add(linear(x), r), of one type -> linear(x)
/// residual r.
struct FuseResidualAdd : public OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    if (add.getLhs().getType() != add.getRhs().getType())
      return rewriter.notifyMatchFailure(add, "the add broadcasts");
    // The residual connection's usual spelling is x + f(x).
    Value residual = add.getLhs();
    LinearOp linear = getSoleUseLinear(add.getRhs());
    if (!linear || linear.getResidual()) {
      residual = add.getRhs();
      linear = getSoleUseLinear(add.getLhs());
    }
    if (!linear || linear.getResidual())
      return rewriter.notifyMatchFailure(
          add, "no operand is a linear without other users or a residual");
    // Built at the add, where the residual and the linear's operands are
    // all defined.
    replaceWithLinear(rewriter, add, linear, residual,
                      linear.getActivationAttr());
    return success();
  }
};

struct FuseLinearEpilogues
    : public attn::impl::FuseLinearEpiloguesBase<FuseLinearEpilogues> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseLinearEpiloguesPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateFuseLinearEpiloguesPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FuseGelu, FuseResidualAdd>(patterns.getContext());
}
