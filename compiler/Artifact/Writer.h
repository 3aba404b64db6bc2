//===- Writer.h - the FlatBuffer artifact -----------------------*- C++ -*-===//
//
// Writes runtime/schema/artifact.fbs: the FlatBuffer, then (for embedded
// weights) a 64-byte aligned segment with every weight the plan binds, as
// --weight-dtype, in plan order, then the seal (runtime/Trailer.h).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_ARTIFACT_WRITER_H
#define ATTN_COMPILER_ARTIFACT_WRITER_H

#include "compiler/Codegen/CPU.h"
#include "compiler/Codegen/GPU.h"
#include "compiler/Codegen/Plan.h"
#include "frontends/Model.h"

#include <functional>
#include <optional>

namespace mlir::attn {

struct ArtifactOptions {
  /// Reference the checkpoint's safetensors file instead of embedding the
  /// weights (it must then hold them in f32).
  bool externalWeights = false;
  /// Called while weights are packed with the bytes done and the total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

/// The CPU kernels compiled for one target: an ELF shared object.
struct CpuVariant {
  CpuTarget target;
  std::string sharedObject;
};

/// The compiled kernels of a plan, for one backend or both; at least one is
/// present.
struct ArtifactKernels {
  /// The CPU kernels, one variant per target, the most capable first
  /// (empty without CPU kernels).
  std::vector<CpuVariant> cpu;
  /// The CUDA kernels: PTX per architecture and launch geometry.
  std::optional<CudaKernels> cuda;
};

/// Writes the artifact for `model` planned as `plan`, with `kernels` (the
/// plan's kernels compiled for the CPU, CUDA, or both), to `path` (written
/// to a temporary file first and renamed, so a failure never leaves a
/// partial artifact; a device or a FIFO gets the finished file copied in from
/// a temporary file, which needs the artifact's size in $TMPDIR). The file
/// ends with a seal over the FlatBuffer, kernel images included
/// (runtime/Trailer.h), and every embedded tensor and external weights file
/// is recorded with its XXH3-64 hash (runtime/Hash.h); the runtime checks
/// them all.
llvm::Error writeArtifact(llvm::StringRef path, const ImportedModel &model,
                          const ModelPlan &plan, const ArtifactKernels &kernels,
                          const ArtifactOptions &options);

} // namespace mlir::attn

#endif // ATTN_COMPILER_ARTIFACT_WRITER_H
