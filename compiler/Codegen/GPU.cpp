//===- GPU.cpp - CUDA kernels: lowering to NVVM and PTX -------------------===//

#include "compiler/Codegen/GPU.h"

#include "compiler/Codegen/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/Regex.h"

using namespace mlir;
using namespace mlir::attn;

/// Everything after attn-kernels-to-gpu: a target per architecture, then the
/// kernels to the LLVM and NVVM dialects.
static std::string getNvvmLoweringPipeline(const CudaTarget &target) {
  std::string pipeline = "canonicalize,cse,";
  for (const std::string &arch : target.archs)
    pipeline += "nvvm-attach-target{chip=" + arch + " O=3},";
  pipeline += "gpu.module(attn-gpu-math-to-nvvm,convert-scf-to-cf,"
              "convert-gpu-to-nvvm,convert-nvvm-to-llvm,canonicalize,cse),"
              "reconcile-unrealized-casts";
  return pipeline;
}

static void addKernelsToGpu(OpPassManager &pm, const CudaTarget &target) {
  KernelsToGPUOptions options;
  options.blockSize = target.blockSize;
  options.tensorCores = target.tensorCores;
  pm.addPass(createKernelsToGPU(options));
}

static void addNvvmLowering(OpPassManager &pm, const CudaTarget &target) {
  // The string is ours; only the architecture names come from the user, and
  // compileCudaKernels checks them first.
  LogicalResult parsed = parsePassPipeline(getNvvmLoweringPipeline(target), pm);
  assert(succeeded(parsed) && "invalid NVVM lowering pipeline");
  (void)parsed;
}

void mlir::attn::buildGpuKernelPipeline(OpPassManager &pm,
                                        const CudaTarget &target) {
  addKernelsToGpu(pm, target);
  addNvvmLowering(pm, target);
}

namespace {
struct GpuPipelineOptions : public PassPipelineOptions<GpuPipelineOptions> {
  ListOption<std::string> archs{
      *this, "archs", llvm::cl::desc("PTX architectures (sm_80,sm_90)")};
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("Threads per block"),
                            llvm::cl::init(256)};
  Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("Matrix products on tensor cores (3xTF32)"),
      llvm::cl::init(true)};
};
} // namespace

void mlir::attn::registerGpuPipelines() {
  PassPipelineRegistration<GpuPipelineOptions>(
      "attn-gpu-kernels-to-nvvm",
      "Lower planned kernel functions from attn on tensors to a gpu.module "
      "in the NVVM dialect",
      [](OpPassManager &pm, const GpuPipelineOptions &options) {
        CudaTarget target;
        if (!options.archs.empty())
          target.archs.assign(options.archs.begin(), options.archs.end());
        target.blockSize = options.blockSize;
        target.tensorCores = options.tensorCores;
        buildGpuKernelPipeline(pm, target);
      });
}

/// sm_<NN>: the runtime reads the compute capability from the name, and
/// refuses architecture-specific targets such as sm_90a.
static bool isCudaArch(StringRef arch) {
  return llvm::Regex("^sm_[0-9]{2,3}$").match(arch);
}

bool mlir::attn::lacksTF32TensorCores(StringRef arch) {
  unsigned capability = 0;
  return isCudaArch(arch) && !arch.drop_front(3).getAsInteger(10, capability) &&
         capability < 80;
}

llvm::Error mlir::attn::checkCudaTarget(const CudaTarget &target) {
  if (target.archs.empty())
    return llvm::createStringError("no CUDA architecture");
  for (const std::string &arch : target.archs) {
    if (!isCudaArch(arch))
      return llvm::createStringError("'" + arch +
                                     "' is not a CUDA architecture such as "
                                     "sm_80");
    if (target.tensorCores && lacksTF32TensorCores(arch))
      return llvm::createStringError(
          "'" + arch +
          "' has no tf32 tensor cores (sm_80 and newer have them); its "
          "matrix products need the f32 pipelines");
  }
  return llvm::Error::success();
}

FailureOr<CudaKernels>
mlir::attn::compileCudaKernels(ModuleOp module, const CudaTarget &target,
                               ArrayRef<std::string> names) {
  Location loc = module.getLoc();
  MLIRContext *ctx = module.getContext();
  if (llvm::Error err = checkCudaTarget(target))
    return emitError(loc) << llvm::toString(std::move(err));

  PassManager toGpu(ctx);
  addKernelsToGpu(toGpu, target);
  if (failed(toGpu.run(module)))
    return failure();
  CudaKernels result;
  auto gpuModule = module.lookupSymbol<gpu::GPUModuleOp>("attn_kernels");
  for (const std::string &name : names) {
    auto func = gpuModule.lookupSymbol<gpu::GPUFuncOp>(name);
    if (!func)
      return emitError(loc) << "no GPU kernel '" << name << "'";
    CudaKernelGeometry geometry;
    geometry.blockSize = (*func.getKnownBlockSize())[0];
    geometry.itemsPerBlock =
        func->getAttrOfType<IntegerAttr>(kItemsPerBlockAttrName).getInt();
    geometry.sharedMemoryBytes =
        func->getAttrOfType<IntegerAttr>(kSharedMemoryBytesAttrName).getInt();
    if (auto gridY = func->getAttrOfType<IntegerAttr>(kGridYAttrName))
      geometry.gridY = gridY.getInt();
    if (auto bytes = func->getAttrOfType<IntegerAttr>(kWorkspaceBytesAttrName))
      geometry.workspaceBytes = bytes.getInt();
    result.geometry.push_back(geometry);
  }

  PassManager toNvvm(ctx);
  addNvvmLowering(toNvvm, target);
  if (failed(toNvvm.run(module)))
    return failure();
  // The kernel ABI's S and T are arguments 1 and 2; canonicalization has
  // dropped the arithmetic nobody used.
  for (auto [name, geometry] : llvm::zip(names, result.geometry)) {
    auto func = gpuModule.lookupSymbol<LLVM::LLVMFuncOp>(name);
    if (!func)
      return emitError(loc) << "no lowered GPU kernel '" << name << "'";
    geometry.readsStep =
        !func.getArgument(1).use_empty() || !func.getArgument(2).use_empty();
  }

  PassManager toPtx(ctx);
  GpuModuleToBinaryPassOptions binaryOptions;
  binaryOptions.compilationTarget = "isa";
  toPtx.addPass(createGpuModuleToBinaryPass(binaryOptions));
  if (failed(toPtx.run(module)))
    return failure();
  auto binary = module.lookupSymbol<gpu::BinaryOp>("attn_kernels");
  for (Attribute attr : binary.getObjects()) {
    auto object = cast<gpu::ObjectAttr>(attr);
    result.modules.push_back(
        {cast<NVVM::NVVMTargetAttr>(object.getTarget()).getChip().str(),
         object.getObject().getValue().str()});
  }
  return result;
}
