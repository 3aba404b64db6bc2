//===- FuseAttention.cpp - whole attention into attn.fused_attention ------===//

#include "compiler/Transforms/Passes.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_FUSEATTENTION
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct FuseAttentionPattern : public OpRewritePattern<WeightedSumOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(WeightedSumOp op,
                                PatternRewriter &rewriter) const override {
    Value probs = op.getProbs();
    if (!probs.hasOneUse())
      return rewriter.notifyMatchFailure(op, "the probabilities have another user");
    Operation *softmax = probs.getDefiningOp();
    Value scores;
    double scale = 1.0;
    Value offset;
    std::optional<double> fill;
    if (auto masked = dyn_cast_or_null<MaskedSoftmaxOp>(softmax)) {
      scores = masked.getInput();
      scale = masked.getScale().convertToDouble();
      offset = masked.getQueryOffset();
      fill = masked.getFill().convertToDouble();
    } else if (auto plain = dyn_cast_or_null<SoftmaxOp>(softmax)) {
      if (plain.getAxis() != 2)
        return rewriter.notifyMatchFailure(op, "softmax is not along the key axis");
      scores = plain.getInput();
    } else {
      return rewriter.notifyMatchFailure(op, "probabilities are not a softmax");
    }
    auto qk = scores.getDefiningOp<QKScoresOp>();
    if (!qk)
      return rewriter.notifyMatchFailure(op, "scores are not attn.qk_scores");
    if (!scores.hasOneUse())
      return rewriter.notifyMatchFailure(op, "the scores have another user");
    rewriter.replaceOpWithNewOp<FusedAttentionOp>(
        op, op.getType(), qk.getQuery(), qk.getKey(), op.getValue(), offset,
        rewriter.getF64FloatAttr(scale),
        fill ? rewriter.getF64FloatAttr(*fill) : FloatAttr());
    return success();
  }
};

struct FuseAttention : public attn::impl::FuseAttentionBase<FuseAttention> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateFuseAttentionPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseAttentionPattern>(patterns.getContext());
}

void mlir::attn::buildFusionPipeline(OpPassManager &pm, FusionLevel level) {
  if (level == FusionLevel::None)
    return;
  pm.addPass(createFuseLinearPrologues());
  pm.addPass(createFuseLinearEpilogues());
  pm.addPass(createFuseEmbeddingAdds());
  pm.addPass(createFuseMaskedSoftmax());
  if (level == FusionLevel::Flash) {
    pm.addPass(createFuseAttention());
    pm.addPass(createFuseCachedAttention());
  }
  pm.addPass(createCanonicalizerPass());
}

void mlir::attn::registerFusionPipelines() {
  PassPipelineRegistration<>(
      "attn-fusion-softmax",
      "Fuse scale + causal mask + softmax (attnc --fusion=softmax)",
      [](OpPassManager &pm) { buildFusionPipeline(pm, FusionLevel::Softmax); });
  PassPipelineRegistration<>(
      "attn-fusion-flash",
      "Fuse the whole attention into flash-style ops (attnc --fusion=flash)",
      [](OpPassManager &pm) { buildFusionPipeline(pm, FusionLevel::Flash); });
}
