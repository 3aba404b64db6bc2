//===- attn-opt.cpp - mlir-opt for the attn dialect and passes ------------===//
//
// Parses attn IR (and every dialect attn lowers through), runs passes and
// pipelines, and prints the result: the driver of attn's lit tests. It takes
// mlir-opt's usual flags (--split-input-file, --verify-diagnostics,
// --pass-pipeline, --mlir-print-ir-after-all, ...).
//
//===----------------------------------------------------------------------===//

#include "compiler/InitAll.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::attn::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::attn::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "attn optimizer driver: runs attn passes on MLIR files\n",
      registry));
}
