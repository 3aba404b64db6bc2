//===- Passes.h - attn code generation passes -------------------*- C++ -*-===//

#ifndef ATTN_COMPILER_CODEGEN_PASSES_H
#define ATTN_COMPILER_CODEGEN_PASSES_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "compiler/Codegen/Passes.h.inc"

/// memref.copy -> linalg.copy.
void populateMemRefCopyToLinalgPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "compiler/Codegen/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTN_COMPILER_CODEGEN_PASSES_H
