//===- AttnToLinalg.h - attn to linalg patterns -----------------*- C++ -*-===//
//
// One populate function per op family; each family lives in its own file.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H
#define ATTN_COMPILER_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H

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

/// attn.kv_cache_write, attn.kv_cache_read.
void populateKVCacheOpsToLinalgPatterns(RewritePatternSet &patterns);

/// All of the above.
void populateAttnToLinalgPatterns(RewritePatternSet &patterns);

} // namespace mlir::attn

#endif // ATTN_COMPILER_CONVERSION_ATTNTOLINALG_ATTNTOLINALG_H
