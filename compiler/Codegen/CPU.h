//===- CPU.h - CPU kernels: lowering and native code ------------*- C++ -*-===//

#ifndef ATTN_COMPILER_CODEGEN_CPU_H
#define ATTN_COMPILER_CODEGEN_CPU_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::attn {

/// What the CPU code is compiled for.
struct CpuTarget {
  std::string triple = "x86_64-unknown-linux-gnu";
  /// x86-64-v3 is AVX2 + FMA: every x86-64 server and laptop of the last
  /// decade, and what our machines have at least.
  std::string cpu = "x86-64-v3";
  /// LLVM feature names the runtime must find on the CPU that loads the code:
  /// every feature `cpu` implies, which -O3 code may use.
  std::string features = "+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe";

  /// The target for the LLVM CPU name `cpu`, or for this machine's CPU when
  /// `cpu` is "native", with the features that CPU implies. Fails for a CPU
  /// name LLVM does not know.
  static llvm::Expected<CpuTarget> get(StringRef cpu);

  /// Whether the code may use the LLVM feature `name` ("avx512f").
  bool hasFeature(StringRef name) const;
};

/// Adds the passes that take the planner's kernel functions from attn on
/// tensors to the LLVM dialect: attn-lower-to-linalg, one-shot
/// bufferization, deallocation, register tiles sized for `target`'s vector
/// registers, loops, and the conversions to LLVM. Also registered for
/// attn-opt as the pipeline `attn-cpu-kernels-to-llvm` (default target).
void buildCpuKernelPipeline(OpPassManager &pm, const CpuTarget &target = {});

/// Registers the named pipelines of this file with the global registry.
void registerCpuPipelines();

/// Compiles `module` (LLVM dialect) for `target` into the assembly text of
/// the code compileCpuSharedObject links: for reading, as `--emit=asm`.
FailureOr<std::string> compileCpuAssembly(ModuleOp module,
                                          const CpuTarget &target);

/// Compiles `module` (LLVM dialect) for `target` into an ELF shared object
/// linked by `linker` (an ld.lld). Returns the shared object's bytes.
FailureOr<std::string> compileCpuSharedObject(ModuleOp module,
                                              const CpuTarget &target,
                                              StringRef linker);

} // namespace mlir::attn

#endif // ATTN_COMPILER_CODEGEN_CPU_H
