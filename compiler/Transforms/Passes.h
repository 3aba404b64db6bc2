//===- Passes.h - attn dialect transformations ------------------*- C++ -*-===//

#ifndef ATTN_COMPILER_TRANSFORMS_PASSES_H
#define ATTN_COMPILER_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace mlir::attn {

#define GEN_PASS_DECL
#include "compiler/Transforms/Passes.h.inc"

/// Adds the patterns that fuse scale + causal mask + softmax chains into
/// attn.masked_softmax.
void populateFuseMaskedSoftmaxPatterns(RewritePatternSet &patterns);

/// Adds the patterns that fuse qk_scores + (masked) softmax + weighted_sum
/// into attn.fused_attention.
void populateFuseAttentionPatterns(RewritePatternSet &patterns);

/// Adds the pattern that folds the KV cache writes and reads of an
/// attn.fused_attention into attn.cached_attention.
void populateFuseCachedAttentionPatterns(RewritePatternSet &patterns);

/// Adds the pattern that folds an add of position rows into the
/// attn.embedding that feeds it.
void populateFuseEmbeddingAddsPatterns(RewritePatternSet &patterns);

/// Adds the patterns that fold gelu and residual adds into the attn.linear
/// that feeds them.
void populateFuseLinearEpiloguesPatterns(RewritePatternSet &patterns);

/// Adds the pattern that folds a one-row layer norm into the attn.linears
/// that read it, none of them with more than `maxWidthRatio` output
/// features per input feature.
void populateFuseLinearProloguesPatterns(RewritePatternSet &patterns,
                                         int64_t maxWidthRatio);

/// The passes of each `attnc --fusion` level: nothing, or the linears'
/// prologues and epilogues and the masked softmax, or those and flash-style
/// attention with its KV cache appends.
enum class FusionLevel { None, Softmax, Flash };
void buildFusionPipeline(OpPassManager &pm, FusionLevel level);

/// Registers the named pipelines `attn-fusion-softmax` and
/// `attn-fusion-flash` for attn-opt.
void registerFusionPipelines();

#define GEN_PASS_REGISTRATION
#include "compiler/Transforms/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTN_COMPILER_TRANSFORMS_PASSES_H
