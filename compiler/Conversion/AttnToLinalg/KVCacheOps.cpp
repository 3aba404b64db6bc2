//===- KVCacheOps.cpp - attn KV cache ops to tensor slices ----------------===//
//
// attn.cached_attention decomposes into the cache writes, the reads and an
// attn.fused_attention, which the conversion then lowers in turn.
//
//===----------------------------------------------------------------------===//

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

/// The composite the op stands for (its description): write both caches at
/// `position`, read their first `length` rows, attend causally from
/// `position`. Bufferization writes the caches in place.
struct CachedAttentionToTensor
    : public OpConversionPattern<CachedAttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CachedAttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value position = adaptor.getPosition(), length = adaptor.getLength();
    auto readType = [&](Value rows) {
      auto type = cast<RankedTensorType>(rows.getType());
      return RankedTensorType::get({type.getDimSize(0), ShapedType::kDynamic,
                                    type.getDimSize(2)},
                                   type.getElementType());
    };
    Value keyCache = KVCacheWriteOp::create(
        rewriter, loc, adaptor.getKeyCache(), adaptor.getKey(), position);
    Value valueCache = KVCacheWriteOp::create(
        rewriter, loc, adaptor.getValueCache(), adaptor.getValue(), position);
    Value keys = KVCacheReadOp::create(rewriter, loc, readType(adaptor.getKey()),
                                       keyCache, length);
    Value values = KVCacheReadOp::create(
        rewriter, loc, readType(adaptor.getValue()), valueCache, length);
    Value result = FusedAttentionOp::create(
        rewriter, loc, op.getResult().getType(), adaptor.getQuery(), keys,
        values, position, op.getScaleAttr(), op.getFillAttr());
    rewriter.replaceOp(op, {result, keyCache, valueCache});
    return success();
  }
};

} // namespace

void mlir::attn::populateKVCacheOpsToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<KVCacheWriteToTensor, KVCacheReadToTensor,
               CachedAttentionToTensor>(
      patterns.getContext());
}
