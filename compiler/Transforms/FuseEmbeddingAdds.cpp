//===- FuseEmbeddingAdds.cpp - position rows into attn.embedding ----------===//

#include "compiler/Transforms/Passes.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_FUSEEMBEDDINGADDS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// add(embedding(t, ids), r) -> embedding(t, ids) plus r; and add(r,
/// embedding(t, ids)) where r has the embedding's type (the add broadcasts
/// only its right operand).
struct FuseEmbeddingAdd : public OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    auto soleUse = [](Value v) {
      auto embedding = v.getDefiningOp<EmbeddingOp>();
      return embedding && v.hasOneUse() && !embedding.getAddend()
                 ? embedding
                 : EmbeddingOp();
    };
    Value rows = add.getRhs();
    EmbeddingOp embedding = soleUse(add.getLhs());
    if (!embedding && add.getLhs().getType() == add.getRhs().getType()) {
      rows = add.getLhs();
      embedding = soleUse(add.getRhs());
    }
    if (!embedding)
      return rewriter.notifyMatchFailure(
          add, "no operand is an embedding without other users or an addend "
               "that the add does not broadcast");
    // Built at the add, where the rows and the embedding's operands are
    // all defined.
    rewriter.replaceOpWithNewOp<EmbeddingOp>(add, add.getType(),
                                             embedding.getTable(),
                                             embedding.getIds(), rows);
    rewriter.eraseOp(embedding);
    return success();
  }
};

struct FuseEmbeddingAdds
    : public attn::impl::FuseEmbeddingAddsBase<FuseEmbeddingAdds> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseEmbeddingAddsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateFuseEmbeddingAddsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FuseEmbeddingAdd>(patterns.getContext());
}
