//===- KVCacheOps.cpp - attn KV cache ops to tensor slices ----------------===//

#include "compiler/Conversion/AttnToLinalg/AttnToLinalg.h"
#include "compiler/Conversion/AttnToLinalg/Utils.h"
#include "dialects/attn/AttnOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The rows land at [0, position, 0] of the cache; bufferization makes the
/// insert in place when the cache has no other user.
struct KVCacheWriteToTensor : public OpConversionPattern<KVCacheWriteOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVCacheWriteOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value rows = adaptor.getRows();
    OpFoldResult zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, rows, adaptor.getCache(),
        ArrayRef<OpFoldResult>{zero, adaptor.getPosition(), zero},
        sizesOf(rewriter, loc, rows), ArrayRef<OpFoldResult>{one, one, one});
    return success();
  }
};

struct KVCacheReadToTensor : public OpConversionPattern<KVCacheReadOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVCacheReadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value cache = adaptor.getCache();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, cache);
    sizes[1] = adaptor.getLength();
    OpFoldResult zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(
        op, op.getType(), cache, ArrayRef<OpFoldResult>{zero, zero, zero},
        sizes, ArrayRef<OpFoldResult>{one, one, one});
    return success();
  }
};

} // namespace

void mlir::attn::populateKVCacheOpsToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<KVCacheWriteToTensor, KVCacheReadToTensor>(
      patterns.getContext());
}
