//===- attnc.cpp - the attn compiler driver -------------------------------===//
//
//   attnc MODEL_DIR -o OUT.attn [--fusion=none|softmax|flash]
//         [--weights=embed|external] [--weight-dtype=f32|f16|bf16]
//         [--emit=attn|linalg|llvm|asm|ptx|artifact] [--context-length=N]
//         [--cpu=NAME,...|native] [--linker=PATH] [--target=cpu|cuda|all]
//         [--cuda-arch=sm_80,sm_90] [--cuda-matmul=tf32x3|f32]
//
// Imports a checkpoint directory, fuses, plans the prefill and decode
// programs as kernel dispatches, compiles the kernels to native code and/or
// PTX and writes one artifact that attn-run executes.
//
//===----------------------------------------------------------------------===//

#include "compiler/Artifact/Writer.h"
#include "compiler/Codegen/CPU.h"
#include "compiler/Codegen/GPU.h"
#include "compiler/Codegen/Plan.h"
#include "compiler/InitAll.h"
#include "compiler/Transforms/Passes.h"
#include "frontends/Model.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;
namespace cl = llvm::cl;

namespace {
enum class Emit { Attn, Linalg, LLVM, Asm, PTX, Artifact };
enum class Target { CPU, CUDA, All };
enum class WeightsMode { Embed, External };
} // namespace

static cl::OptionCategory attncCategory("attnc options");

static cl::opt<std::string> modelDir(cl::Positional, cl::Required,
                                     cl::desc("<model directory>"),
                                     cl::cat(attncCategory));
static cl::opt<std::string> outputPath(
    "o", cl::Required, cl::value_desc("file"),
    cl::desc("Output file ('-' for stdout with --emit other than artifact)"),
    cl::cat(attncCategory));
static cl::opt<Emit> emit(
    "emit", cl::init(Emit::Artifact), cl::desc("What to write"),
    cl::values(clEnumValN(Emit::Attn, "attn", "the imported (and fused) attn IR"),
               clEnumValN(Emit::Linalg, "linalg",
                          "the planned kernels lowered to linalg on tensors"),
               clEnumValN(Emit::LLVM, "llvm",
                          "the kernels in the LLVM dialect (CPU), then in the "
                          "NVVM dialect (CUDA)"),
               clEnumValN(Emit::Asm, "asm",
                          "the x86-64 assembly of every kernel for the first "
                          "--cpu"),
               clEnumValN(Emit::PTX, "ptx",
                          "the PTX of every kernel for the first --cuda-arch"),
               clEnumValN(Emit::Artifact, "artifact",
                          "the artifact that attn-run executes (default)")),
    cl::cat(attncCategory));
static cl::opt<FusionLevel> fusion(
    "fusion", cl::init(FusionLevel::Flash), cl::desc("Fusion level"),
    cl::values(clEnumValN(FusionLevel::None, "none",
                          "keep every op of the model as it is imported"),
               clEnumValN(FusionLevel::Softmax, "softmax",
                          "fuse one-row norms, gelu and residual adds into "
                          "linears, position adds into the embedding, and "
                          "scale + causal mask + softmax"),
               clEnumValN(FusionLevel::Flash, "flash",
                          "softmax's fusions, then the whole attention with "
                          "its KV cache appends; online softmax over key "
                          "tiles (default)")),
    cl::cat(attncCategory));
static cl::opt<Target> target(
    "target", cl::init(Target::CPU), cl::desc("Code to generate"),
    cl::values(clEnumValN(Target::CPU, "cpu", "x86-64 native code (default)"),
               clEnumValN(Target::CUDA, "cuda", "PTX for NVIDIA GPUs"),
               clEnumValN(Target::All, "all",
                          "both, in one artifact (attn-run --device picks)")),
    cl::cat(attncCategory));
static cl::list<std::string> cudaArchs(
    "cuda-arch", cl::CommaSeparated, cl::value_desc("sm_XX,..."),
    cl::desc("PTX targets of --target=cuda|all, one module each (default "
             "sm_80,sm_90)"),
    cl::cat(attncCategory));
enum class CudaMatmul { TF32x3, F32 };
static cl::opt<CudaMatmul> cudaMatmul(
    "cuda-matmul", cl::init(CudaMatmul::TF32x3),
    cl::desc("How the CUDA kernels multiply matrices"),
    cl::values(clEnumValN(CudaMatmul::TF32x3, "tf32x3",
                          "tensor cores (mma.sync) in 3xTF32, near-f32 accuracy; "
                          "sm_80 and newer (default)"),
               clEnumValN(CudaMatmul::F32, "f32",
                          "the f32 pipelines, 4 x 4 outputs per thread")),
    cl::cat(attncCategory));
static cl::opt<WeightsMode> weightsMode(
    "weights", cl::init(WeightsMode::Embed),
    cl::desc("Where the artifact's weights live"),
    cl::values(clEnumValN(WeightsMode::Embed, "embed",
                          "in the artifact, matrices as --weight-dtype "
                          "(default)"),
               clEnumValN(WeightsMode::External, "external",
                          "in the checkpoint's model.safetensors, checked by "
                          "size and hash when loaded; it must hold f32 "
                          "tensors, and --weight-dtype be f32")),
    cl::cat(attncCategory));
static cl::opt<ImportOptions::MatrixType> matrixType(
    "weight-dtype", cl::init(ImportOptions::MatrixType::F32),
    cl::desc("How the matmul and embedding matrices are stored (the "
             "computation stays f32)"),
    cl::values(clEnumValN(ImportOptions::MatrixType::F32, "f32",
                          "as in the checkpoint, widened to f32 (default)"),
               clEnumValN(ImportOptions::MatrixType::F16, "f16",
                          "IEEE half: half the bytes per decode step"),
               clEnumValN(ImportOptions::MatrixType::BF16, "bf16",
                          "bfloat16: half the bytes, f32's range")),
    cl::cat(attncCategory));
static cl::opt<int64_t> contextLength(
    "context-length", cl::init(0),
    cl::desc("Cap the context (KV cache) at N, at most the model's "
             "positions; 0 keeps the model's own"),
    cl::cat(attncCategory));
static cl::opt<std::string> cpuNames(
    "cpu", cl::init("x86-64-v4,x86-64-v3"),
    cl::desc("CPUs to compile for, comma-separated, most capable first: LLVM "
             "CPU names, or native for this machine's. The artifact holds "
             "the kernels once per CPU and the runtime loads the first its "
             "CPU can run (default x86-64-v4,x86-64-v3: AVX-512 where the "
             "CPU has it, else AVX2 + FMA)"),
    cl::cat(attncCategory));
static cl::opt<std::string> linkerPath(
    "linker", cl::init(""),
    cl::desc("ld.lld used to link the CPU kernels (default: LLVM 22's)"),
    cl::cat(attncCategory));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "attnc") << message << "\n";
  return 1;
}

/// The first ld.lld found: LLVM 22's, then the PATH's.
static std::string findLinker() {
  if (!linkerPath.empty())
    return linkerPath;
  for (StringRef candidate :
       {"/usr/lib/llvm-22/bin/ld.lld", "ld.lld-22", "ld.lld"}) {
    if (llvm::sys::fs::can_execute(candidate))
      return candidate.str();
    if (auto found = llvm::sys::findProgramByName(candidate))
      return *found;
  }
  return "";
}

/// Writes what `write` prints to the output.
static int writeToOutput(function_ref<void(raw_ostream &)> write) {
  std::string error;
  auto output = openOutputFile(outputPath, &error);
  if (!output)
    return fail(outputPath + ": " + error);
  write(output->os());
  // A full disk or a closed pipe: an error here, not LLVM's fatal one when
  // the stream is destroyed, and the partial file is removed.
  output->os().flush();
  if (output->os().has_error()) {
    std::string message = output->os().error().message();
    output->os().clear_error();
    return fail((outputPath == "-" ? std::string("standard output")
                                   : outputPath) +
                ": cannot write: " + message);
  }
  output->keep();
  return 0;
}

/// Writes `ops` as text to the output, separated as attn-opt
/// -split-input-file expects.
static int printToOutput(ArrayRef<Operation *> ops) {
  return writeToOutput([&](raw_ostream &os) {
    for (auto [i, op] : llvm::enumerate(ops)) {
      if (i > 0)
        os << "// -----\n";
      op->print(os);
      os << "\n";
    }
  });
}

/// Writes `op` as text to the output.
static int printToOutput(Operation *op) {
  return printToOutput(ArrayRef<Operation *>(op));
}

/// The input file of `model` that -o names (the same file, however it is
/// spelt), if any: writing the output would silently replace the
/// checkpoint, config or tokenizer it is compiled from.
static std::optional<std::string>
findOverwrittenInput(const ImportedModel &model) {
  if (outputPath == "-")
    return std::nullopt;
  for (const std::string &input : model.inputFiles) {
    bool same = false;
    // An error (the output does not exist yet) means not the same file.
    if (!llvm::sys::fs::equivalent(outputPath, input, same) && same)
      return input;
  }
  return std::nullopt;
}

static LogicalResult runPipeline(ModuleOp module, StringRef pipeline) {
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(parsePassPipeline(pipeline, pm)))
    return failure();
  return pm.run(module);
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerAsmPrinterCLOptions();
  cl::HideUnrelatedOptions({&attncCategory});
  cl::ParseCommandLineOptions(
      argc, argv,
      "attnc: compile a model checkpoint directory into an attn artifact\n\n"
      "  attnc models/cogmodel -o cogmodel.attn\n"
      "  attnc models/cogmodel --emit=attn -o -\n");

  if (emit == Emit::Artifact && outputPath == "-")
    return fail("the artifact is binary; give a file name with -o");
  if (contextLength < 0)
    return fail("--context-length must be positive");
  // Found now rather than after the compile and the weights' packing.
  if (outputPath != "-" && llvm::sys::fs::is_directory(outputPath))
    return fail(outputPath + ": -o names a directory; give a file name");
  // The runtime reads external weights from the checkpoint as they are:
  // refuse now what the artifact writer would refuse after the compile.
  if (weightsMode == WeightsMode::External &&
      matrixType != ImportOptions::MatrixType::F32)
    return fail("--weights=external needs --weight-dtype=f32");
  bool wantCuda = target != Target::CPU;
  if (emit == Emit::PTX && !wantCuda)
    return fail("--emit=ptx needs --target=cuda or --target=all");
  if (emit == Emit::Asm && target == Target::CUDA)
    return fail("--emit=asm needs --target=cpu or --target=all");
  // PTX needs no CPU code.
  bool wantCpu = target != Target::CUDA && emit != Emit::PTX;
  CudaTarget cudaTarget;
  if (!cudaArchs.empty())
    cudaTarget.archs.assign(cudaArchs.begin(), cudaArchs.end());
  cudaTarget.tensorCores = cudaMatmul == CudaMatmul::TF32x3;
  if (llvm::Error err = checkCudaTarget(cudaTarget)) {
    // The way out of an architecture without tensor cores.
    bool hint = cudaTarget.tensorCores &&
                llvm::any_of(cudaTarget.archs, [](const std::string &arch) {
                  return lacksTF32TensorCores(arch);
                });
    return fail("--cuda-arch: " + llvm::toString(std::move(err)) +
                (hint ? " (--cuda-matmul=f32)" : ""));
  }

  DialectRegistry registry;
  registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  SmallVector<CpuTarget> cpuTargets;
  SmallVector<StringRef> names;
  StringRef(cpuNames).split(names, ',');
  for (StringRef name : names) {
    llvm::Expected<CpuTarget> cpuTarget = CpuTarget::get(name.trim());
    if (!cpuTarget)
      return fail("--cpu: " + llvm::toString(cpuTarget.takeError()));
    if (llvm::any_of(cpuTargets, [&](const CpuTarget &other) {
          return other.cpu == cpuTarget->cpu;
        }))
      return fail("--cpu: '" + cpuTarget->cpu + "' is listed twice");
    cpuTargets.push_back(std::move(*cpuTarget));
  }

  ImportOptions importOptions;
  importOptions.contextLength = contextLength;
  importOptions.matrixType = matrixType;
  importOptions.externalWeights = weightsMode == WeightsMode::External;
  llvm::Expected<ImportedModel> model =
      importModel(context, modelDir, importOptions);
  if (!model)
    return fail(llvm::toString(model.takeError()));
  if (std::optional<std::string> input = findOverwrittenInput(*model))
    return fail(outputPath + ": -o names " +
                (*input == outputPath ? std::string("an input")
                                      : *input + ", an input") +
                " of the model; write the output elsewhere");
  ModuleOp programs = *model->module;

  PassManager fusionPm(&context);
  if (failed(applyPassManagerCLOptions(fusionPm)))
    return fail("invalid pass manager options");
  buildFusionPipeline(fusionPm, fusion);
  // Kernels read linear weights [out, in] (contiguous dot products): the
  // writer packs them so, or the runtime transposes external ones when it
  // binds them.
  fusionPm.addPass(createTransposeWeights());
  if (failed(fusionPm.run(programs)))
    return fail("fusion failed");
  if (emit == Emit::Attn)
    return printToOutput(programs);

  FailureOr<ModelPlan> plan =
      buildModelPlan(programs, model->spec.contextLength);
  if (failed(plan))
    return fail("cannot plan the model's programs");
  ModuleOp kernels = *plan->kernels;
  if (emit == Emit::Linalg) {
    if (failed(runPipeline(kernels,
                           "attn-lower-to-linalg,canonicalize,cse")))
      return fail("lowering the kernels to linalg failed");
    return printToOutput(kernels);
  }

  ArtifactKernels compiled;
  // What --emit=llvm prints: the CPU modules, then the CUDA one.
  SmallVector<Operation *> lowered;
  // Each CPU variant and the CUDA kernels start from their own copy of the
  // planned kernels, as the pipelines lower a module in place.
  OwningOpRef<ModuleOp> cudaKernels;
  if (wantCuda)
    cudaKernels = kernels.clone();
  SmallVector<OwningOpRef<ModuleOp>> cpuKernels;
  // --emit=asm prints the first variant only.
  size_t cpuVariants = emit == Emit::Asm ? 1 : cpuTargets.size();
  for (size_t i = 0; wantCpu && i < cpuVariants; ++i) {
    cpuKernels.push_back(kernels.clone());
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return fail("invalid pass manager options");
    buildCpuKernelPipeline(pm, cpuTargets[i]);
    if (failed(pm.run(*cpuKernels.back())))
      return fail("lowering the kernels to LLVM for '" + cpuTargets[i].cpu +
                  "' failed");
    lowered.push_back(*cpuKernels.back());
  }
  if (wantCuda && emit == Emit::LLVM) {
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return fail("invalid pass manager options");
    buildGpuKernelPipeline(pm, cudaTarget);
    if (failed(pm.run(*cudaKernels)))
      return fail("lowering the kernels to NVVM failed");
    lowered.push_back(*cudaKernels);
  }
  if (emit == Emit::LLVM)
    return printToOutput(lowered);
  if (emit == Emit::Asm) {
    FailureOr<std::string> assembly =
        compileCpuAssembly(*cpuKernels.front(), cpuTargets.front());
    if (failed(assembly))
      return fail("compiling the CPU kernels for '" + cpuTargets.front().cpu +
                  "' failed");
    return writeToOutput([&](raw_ostream &os) { os << *assembly; });
  }

  if (wantCuda) {
    FailureOr<CudaKernels> ptx =
        compileCudaKernels(*cudaKernels, cudaTarget, plan->kernelNames);
    if (failed(ptx))
      return fail("compiling the CUDA kernels failed");
    if (emit == Emit::PTX)
      return writeToOutput(
          [&](raw_ostream &os) { os << ptx->modules.front().ptx; });
    compiled.cuda = std::move(*ptx);
  }
  if (wantCpu) {
    std::string linker = findLinker();
    if (linker.empty())
      return fail("no ld.lld found; install lld-22 or pass --linker");
    for (auto [target, module] : llvm::zip_equal(cpuTargets, cpuKernels)) {
      FailureOr<std::string> sharedObject =
          compileCpuSharedObject(*module, target, linker);
      if (failed(sharedObject))
        return fail("compiling the CPU kernels for '" + target.cpu +
                    "' failed");
      compiled.cpu.push_back({target, std::move(*sharedObject)});
    }
  }

  ArtifactOptions artifactOptions;
  artifactOptions.externalWeights = weightsMode == WeightsMode::External;
  int lastDecile = -1;
  artifactOptions.progress = [&](uint64_t done, uint64_t total) {
    // Only large models take long enough to need it.
    if (total < (64u << 20))
      return;
    int decile = static_cast<int>(done * 10 / total);
    if (decile == lastDecile)
      return;
    lastDecile = decile;
    llvm::errs() << "attnc: packing weights " << decile * 10 << "% ("
                 << (done >> 20) << " of " << (total >> 20) << " MiB)\n";
  };
  if (llvm::Error err =
          writeArtifact(outputPath, *model, *plan, compiled, artifactOptions))
    return fail(llvm::toString(std::move(err)));
  return 0;
}
