//===- InitAll.h - registration of everything attn's tools know -*- C++ -*-===//

#ifndef ATTN_COMPILER_INITALL_H
#define ATTN_COMPILER_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace mlir::attn {

/// Adds the attn dialect, every dialect that attn lowers through (func, arith,
/// math, tensor, linalg, bufferization, memref, scf, cf, vector, llvm, gpu,
/// nvvm) and their interface extensions to `registry`. Thread-safe as long as
/// `registry` is not shared.
void registerAllDialects(DialectRegistry &registry);

/// Registers attn's passes and pipelines and MLIR's upstream passes with the
/// global pass registry, so that `attn-opt` accepts the usual mlir-opt flags.
/// Call once from `main` before parsing the command line; not thread-safe.
void registerAllPasses();

} // namespace mlir::attn

#endif // ATTN_COMPILER_INITALL_H
