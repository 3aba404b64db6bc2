//===- CPU.cpp - CPU kernels: lowering and native code --------------------===//

#include "compiler/Codegen/CPU.h"

#include "compiler/Codegen/Passes.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"

using namespace mlir;
using namespace mlir::attn;

/// Before and after the register tiling of contractions, whose tile size
/// depends on the target.
static constexpr llvm::StringLiteral kCpuKernelPipelineHead =
    "attn-lower-to-linalg,canonicalize,cse,attn-tile-contractions,"
    "eliminate-empty-tensors,"
    "one-shot-bufferize{allow-return-allocs-from-loops},"
    "func.func(attn-promote-kernel-allocs),"
    "buffer-deallocation-pipeline,attn-memref-copy-to-linalg";
static constexpr llvm::StringLiteral kCpuKernelPipelineTail =
    "func.func(convert-linalg-to-loops),attn-approximate-math,"
    "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
    "convert-math-to-llvm,convert-math-to-libm,convert-to-llvm,"
    "reconcile-unrealized-casts,canonicalize,cse";

void mlir::attn::buildCpuKernelPipeline(OpPassManager &pm,
                                        const CpuTarget &target) {
  // A tile's accumulators, one load of X and the tile's loads of W must fit
  // the vector registers: 32 with AVX-512 (4x4: 16 + 1 + 4), 16 with AVX2
  // (4x3: 12 + 1 + 3); a spill in the k loop costs more than the tile gains.
  int64_t columns = target.hasFeature("avx512f") ? 4 : 3;
  std::string pipeline =
      (kCpuKernelPipelineHead +
       ",attn-register-tile-contractions{row-tile=4 column-tile=" +
       std::to_string(columns) + "}," + kCpuKernelPipelineTail)
          .str();
  // The string is ours and fixed: failing to parse it is a bug.
  LogicalResult parsed = parsePassPipeline(pipeline, pm);
  assert(succeeded(parsed) && "invalid CPU kernel pipeline");
  (void)parsed;
}

/// LLVM's x86 backend, registered on first use, for `triple`.
static const llvm::Target *lookupX86Target(const llvm::Triple &triple,
                                           std::string &error) {
  LLVMInitializeX86TargetInfo();
  LLVMInitializeX86Target();
  LLVMInitializeX86TargetMC();
  LLVMInitializeX86AsmPrinter();
  return llvm::TargetRegistry::lookupTarget(triple, error);
}

llvm::Expected<CpuTarget> CpuTarget::get(StringRef cpu) {
  CpuTarget target;
  std::string error;
  llvm::Triple triple(target.triple);
  const llvm::Target *llvmTarget = lookupX86Target(triple, error);
  if (!llvmTarget)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  target.cpu = cpu == "native" ? llvm::sys::getHostCPUName().str() : cpu.str();
  // Asked first of a generic CPU, since creating the subtarget of an
  // unknown one prints a warning of LLVM's own.
  std::unique_ptr<llvm::MCSubtargetInfo> info(
      llvmTarget->createMCSubtargetInfo(triple, "x86-64", ""));
  if (!info || !info->isCPUStringValid(target.cpu))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "unknown CPU '" + target.cpu + "' (an LLVM CPU name, or native)");
  info.reset(llvmTarget->createMCSubtargetInfo(triple, target.cpu, ""));
  // Every feature the CPU name enables, ISA extensions and tuning flags
  // alike; the runtime checks those it can detect.
  SmallVector<std::string> features;
  for (const llvm::SubtargetFeatureKV &feature :
       info->getAllProcessorFeatures())
    if (info->getFeatureBits().test(feature.Value))
      features.push_back(std::string("+") + feature.Key);
  target.features = llvm::join(features, ",");
  return target;
}

bool CpuTarget::hasFeature(StringRef name) const {
  SmallVector<StringRef> list;
  StringRef(features).split(list, ',');
  return llvm::is_contained(list, ("+" + name).str());
}

void mlir::attn::registerCpuPipelines() {
  registerAttnCodegenPasses();
  PassPipelineRegistration<>(
      "attn-cpu-kernels-to-llvm",
      "Lower planned kernel functions from attn on tensors to the LLVM dialect",
      [](OpPassManager &pm) { buildCpuKernelPipeline(pm, CpuTarget()); });
}

/// Writes `bytes` to a new temporary file named like `model`.
static FailureOr<std::string> writeTemporary(StringRef model, StringRef suffix,
                                             StringRef bytes, Location loc) {
  SmallString<128> path;
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile(model, suffix, fd, path))
    return emitError(loc) << "cannot create a temporary file: " << ec.message();
  llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
  os << bytes;
  os.close();
  if (os.has_error())
    return emitError(loc) << "cannot write " << path << ": "
                          << os.error().message();
  return std::string(path);
}

/// Translates `module` (LLVM dialect) to LLVM IR, optimizes it for `target`
/// and emits it as `fileType` (an object file or assembly).
static FailureOr<std::string> emitCpuCode(ModuleOp module,
                                          const CpuTarget &target,
                                          llvm::CodeGenFileType fileType) {
  Location loc = module.getLoc();
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "attn_kernels");
  if (!llvmModule)
    return emitError(loc) << "cannot translate the CPU kernels to LLVM IR";

  llvm::Triple triple(target.triple);
  std::string error;
  const llvm::Target *llvmTarget = lookupX86Target(triple, error);
  if (!llvmTarget)
    return emitError(loc) << "unknown target '" << target.triple
                          << "': " << error;
  std::unique_ptr<llvm::TargetMachine> machine(
      llvmTarget->createTargetMachine(triple, target.cpu, target.features,
                                      llvm::TargetOptions(), llvm::Reloc::PIC_,
                                      std::nullopt,
                                      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return emitError(loc) << "cannot create a target machine for "
                          << target.triple << " " << target.cpu;
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  // The kernels' loops are scalar until LLVM's vectorizers widen them to the
  // target's preferred width. LLVM tunes x86-64-v4 and the Intel AVX-512
  // CPUs to 256 bits, against the clock drop of 512-bit instructions on
  // Skylake-X; for our FMA-bound matmul loops the doubled width wins by far
  // (GPT-2 124M prefill-128 on Zen 5: 113 ms with ymm, 86 ms with zmm), so
  // AVX-512 code uses all of it, as clang's -mprefer-vector-width=512 asks.
  if (target.hasFeature("avx512f"))
    for (llvm::Function &function : *llvmModule)
      if (!function.isDeclaration())
        function.addFnAttr("prefer-vector-width", "512");

  if (llvm::Error err = makeOptimizingTransformer(3, 0, machine.get())(
          llvmModule.get()))
    return emitError(loc) << "LLVM optimization failed: "
                          << llvm::toString(std::move(err));

  SmallString<0> code;
  {
    llvm::raw_svector_ostream os(code);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, os, nullptr, fileType))
      return emitError(loc) << "the target cannot emit "
                            << (fileType == llvm::CodeGenFileType::ObjectFile
                                    ? "object files"
                                    : "assembly");
    codegen.run(*llvmModule);
  }
  return std::string(code.str());
}

FailureOr<std::string>
mlir::attn::compileCpuAssembly(ModuleOp module, const CpuTarget &target) {
  return emitCpuCode(module, target, llvm::CodeGenFileType::AssemblyFile);
}

FailureOr<std::string>
mlir::attn::compileCpuSharedObject(ModuleOp module, const CpuTarget &target,
                                   StringRef linker) {
  Location loc = module.getLoc();
  FailureOr<std::string> object =
      emitCpuCode(module, target, llvm::CodeGenFileType::ObjectFile);
  if (failed(object))
    return failure();

  FailureOr<std::string> objectPath =
      writeTemporary("attn-kernels", "o", *object, loc);
  if (failed(objectPath))
    return failure();
  SmallString<128> sharedPath;
  if (std::error_code ec = llvm::sys::fs::getPotentiallyUniqueTempFileName(
          "attn-kernels", "so", sharedPath))
    return emitError(loc) << "cannot name a temporary file: " << ec.message();
  std::string linkerError;
  // The kernels may call libm and malloc/free (the default pipeline's do
  // not; --fusion=none's softmax still allocates); the runtime process
  // provides both, so they stay undefined here.
  SmallVector<StringRef> args = {linker,  "-shared", "--hash-style=gnu",
                                 "-o",    sharedPath, *objectPath};
  int status = llvm::sys::ExecuteAndWait(linker, args, std::nullopt, {}, 0, 0,
                                         &linkerError);
  llvm::sys::fs::remove(*objectPath);
  if (status != 0) {
    llvm::sys::fs::remove(sharedPath);
    return emitError(loc) << "linking the CPU kernels with " << linker
                          << " failed"
                          << (linkerError.empty() ? "" : ": ") << linkerError;
  }
  auto buffer = llvm::MemoryBuffer::getFile(sharedPath);
  llvm::sys::fs::remove(sharedPath);
  if (!buffer)
    return emitError(loc) << "cannot read the linked kernels: "
                          << buffer.getError().message();
  return (*buffer)->getBuffer().str();
}
