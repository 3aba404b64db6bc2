//===- GPU.h - CUDA kernels: lowering to NVVM and PTX -----------*- C++ -*-===//

#ifndef ATTN_COMPILER_CODEGEN_GPU_H
#define ATTN_COMPILER_CODEGEN_GPU_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::attn {

/// What the CUDA code is compiled for.
struct CudaTarget {
  /// One PTX module per architecture. sm_80 (A100) PTX also runs on newer
  /// GPUs through the driver's JIT; sm_90 (H100) gets code of its own.
  SmallVector<std::string> archs = {"sm_80", "sm_90"};
  /// Threads per block of the kernels without a size of their own.
  int64_t blockSize = 256;
  /// Matrix products on tensor cores (3xTF32; every arch sm_80 or newer),
  /// else on the f32 pipelines.
  bool tensorCores = true;
};

/// Attributes of each kernel's gpu.func (with `known_block_size`) that
/// carry its launch geometry from attn-kernels-to-gpu to the artifact.
inline constexpr llvm::StringLiteral kItemsPerBlockAttrName =
    "attn.items_per_block";
inline constexpr llvm::StringLiteral kSharedMemoryBytesAttrName =
    "attn.shared_memory_bytes";
/// Blocks along y (CudaKernels.grid_y); absent means 1.
inline constexpr llvm::StringLiteral kGridYAttrName = "attn.grid_y";
/// Bytes of device memory per launch (CudaKernels.workspace_bytes); absent
/// means none.
inline constexpr llvm::StringLiteral kWorkspaceBytesAttrName =
    "attn.workspace_bytes";

/// The launch geometry of one kernel (CudaKernels in artifact.fbs).
struct CudaKernelGeometry {
  uint32_t blockSize = 0;
  uint32_t itemsPerBlock = 0;
  uint32_t sharedMemoryBytes = 0;
  uint32_t gridY = 1;
  uint64_t workspaceBytes = 0;
  /// Whether the kernel reads its S and T parameters (after the NVVM
  /// lowering has dropped dead code).
  bool readsStep = true;
};

/// The PTX text of every kernel for one architecture.
struct CudaModuleText {
  std::string arch;
  std::string ptx;
};

/// The CUDA kernels of a plan, as the artifact stores them.
struct CudaKernels {
  /// In the order of the kernel names given to compileCudaKernels.
  SmallVector<CudaKernelGeometry> geometry;
  SmallVector<CudaModuleText> modules;
};

/// Whether `arch` is an sm_<NN> older than sm_80, which brought mma.sync on
/// tf32 (false for a name that is no sm_<NN>).
bool lacksTF32TensorCores(StringRef arch);

/// Fails, saying why, unless every architecture of `target` is sm_<NN>
/// (sm_80 or newer with tensor cores).
llvm::Error checkCudaTarget(const CudaTarget &target);

/// Adds the passes that take the planner's kernel module from attn on
/// tensors to one `gpu.module @attn_kernels` in the LLVM and NVVM dialects
/// with a target per architecture: attn-kernels-to-gpu, nvvm-attach-target,
/// attn-gpu-math-to-nvvm and convert-gpu-to-nvvm. Also registered for
/// attn-opt as the pipeline `attn-gpu-kernels-to-nvvm`.
void buildGpuKernelPipeline(OpPassManager &pm, const CudaTarget &target);

/// Registers the named pipelines of this file with the global registry.
void registerGpuPipelines();

/// Lowers `module` (the planner's kernels, modified in place) to PTX for
/// every architecture of `target` with gpu-module-to-binary, and returns the
/// PTX and the launch geometry of the kernels `names`. Needs no CUDA toolkit
/// (the kernels call no libdevice function), but where CUDA_HOME, CUDA_PATH
/// or CUDA_ROOT is set it must name one: gpu-module-to-binary looks there.
FailureOr<CudaKernels> compileCudaKernels(ModuleOp module,
                                          const CudaTarget &target,
                                          ArrayRef<std::string> names);

} // namespace mlir::attn

#endif // ATTN_COMPILER_CODEGEN_GPU_H
