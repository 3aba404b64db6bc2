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

#define GEN_PASS_REGISTRATION
#include "compiler/Transforms/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTN_COMPILER_TRANSFORMS_PASSES_H
