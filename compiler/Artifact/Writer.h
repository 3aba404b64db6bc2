//===- Writer.h - the FlatBuffer artifact -----------------------*- C++ -*-===//
//
// Writes runtime/schema/artifact.fbs: the FlatBuffer, then (for embedded
// weights) a 64-byte aligned segment with every weight the plan binds, in
// f32, in plan order.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_ARTIFACT_WRITER_H
#define ATTN_COMPILER_ARTIFACT_WRITER_H

#include "compiler/Codegen/CPU.h"
#include "compiler/Codegen/Plan.h"
#include "frontends/Model.h"

#include <functional>

namespace mlir::attn {

struct ArtifactOptions {
  /// Reference the checkpoint's safetensors file instead of embedding the
  /// weights (it must then hold them in f32).
  bool externalWeights = false;
  /// Called while weights are packed with the bytes done and the total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

/// Writes the artifact for `model` planned as `plan`, with `cpuKernels` the
/// shared object built for `cpuTarget`, to `path` (written to a temporary
/// file first and renamed, so a failure never leaves a partial artifact).
llvm::Error writeArtifact(llvm::StringRef path, const ImportedModel &model,
                          const ModelPlan &plan, llvm::StringRef cpuKernels,
                          const CpuTarget &cpuTarget,
                          const ArtifactOptions &options);

/// FNV-1a, 64 bits, of `bytes` (how the artifact checks external weights).
uint64_t fnv1a64(llvm::ArrayRef<uint8_t> bytes);

} // namespace mlir::attn

#endif // ATTN_COMPILER_ARTIFACT_WRITER_H
