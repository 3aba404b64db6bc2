//===- FuseCachedAttention.cpp - KV cache appends into the attention ------===//

#include "compiler/Transforms/Passes.h"

#include "dialects/attn/AttnOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_FUSECACHEDATTENTION
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct FuseCachedAttentionPattern : public OpRewritePattern<FusedAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedAttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.isCausal())
      return rewriter.notifyMatchFailure(op, "the attention is not causal");
    // The cache write and read behind the keys or values of `op`.
    auto appended = [&](Value rows, KVCacheWriteOp &write,
                        KVCacheReadOp &read) -> LogicalResult {
      read = rows.getDefiningOp<KVCacheReadOp>();
      if (!read || !rows.hasOneUse())
        return rewriter.notifyMatchFailure(
            op, "keys or values are not a cache read only it uses");
      write = read.getCache().getDefiningOp<KVCacheWriteOp>();
      if (!write || write.getPosition() != op.getQueryOffset())
        return rewriter.notifyMatchFailure(
            op, "the cache read is not of a write at the causal offset");
      // The fused op defines the written cache where the attention is, so
      // no user of it may come before (or be) the attention.
      for (Operation *user : write->getUsers())
        if (user != read && (user == op || user->getBlock() != op->getBlock() ||
                             user->isBeforeInBlock(op)))
          return rewriter.notifyMatchFailure(
              op, "the written cache has a user before the attention");
      return success();
    };
    KVCacheWriteOp keyWrite, valueWrite;
    KVCacheReadOp keyRead, valueRead;
    if (failed(appended(op.getKey(), keyWrite, keyRead)) ||
        failed(appended(op.getValue(), valueWrite, valueRead)))
      return failure();
    if (keyRead.getLength() != valueRead.getLength())
      return rewriter.notifyMatchFailure(
          op, "the key and value reads take different lengths");
    if (keyWrite == valueWrite)
      return rewriter.notifyMatchFailure(op, "keys and values share a cache");

    auto fused = CachedAttentionOp::create(
        rewriter, op.getLoc(), op.getType(), keyWrite.getType(),
        valueWrite.getType(), op.getQuery(), keyWrite.getRows(),
        valueWrite.getRows(), keyWrite.getCache(), valueWrite.getCache(),
        op.getQueryOffset(), keyRead.getLength(), op.getScaleAttr(),
        op.getFillAttr());
    rewriter.replaceOp(op, fused.getResult());
    rewriter.eraseOp(keyRead);
    rewriter.eraseOp(valueRead);
    rewriter.replaceOp(keyWrite, fused.getNewKeyCache());
    rewriter.replaceOp(valueWrite, fused.getNewValueCache());
    return success();
  }
};

struct FuseCachedAttention
    : public attn::impl::FuseCachedAttentionBase<FuseCachedAttention> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseCachedAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateFuseCachedAttentionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FuseCachedAttentionPattern>(patterns.getContext());
}
