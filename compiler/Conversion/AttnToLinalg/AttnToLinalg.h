//===- AttnToLinalg.h - attn to linalg patterns -----------------*- C++ -*-===//
//
// One populate function per op family; each family lives in its own file.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H
#define ATTN_COMPILER_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H

#include <cstdint>

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace mlir::attn {

/// attn.embedding, attn.linear, attn.layer_norm, attn.gelu, attn.add.
void populateModelOpsToLinalgPatterns(RewritePatternSet &patterns);

/// attn.split_heads, attn.merge_heads.
void populateHeadOpsToLinalgPatterns(RewritePatternSet &patterns);

/// attn.qk_scores, attn.scale, attn.causal_mask, attn.softmax,
/// attn.weighted_sum, attn.masked_softmax.
void populateAttentionOpsToLinalgPatterns(RewritePatternSet &patterns);

/// attn.kv_cache_write, attn.kv_cache_read, and attn.cached_attention as
/// those and an attn.fused_attention.
void populateKVCacheOpsToLinalgPatterns(RewritePatternSet &patterns);

/// attn.fused_attention, as an online softmax over tiles of `keyTile` keys.
void populateFusedAttentionToLinalgPatterns(RewritePatternSet &patterns,
                                            int64_t keyTile);

/// All of the above.
void populateAttnToLinalgPatterns(RewritePatternSet &patterns,
                                  int64_t keyTile);

} // namespace mlir::attn

#endif // ATTN_COMPILER_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H
