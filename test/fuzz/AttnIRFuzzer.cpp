//===- AttnIRFuzzer.cpp - Fuzz the attn IR parser and verifier ------------===//
//
// The input is an MLIR module in text form, parsed with attn-opt's registry
// (compiler/InitAll.h: the attn dialect and every dialect it lowers
// through), which runs the verifiers, attn's included. A module that parses
// is printed in both the custom and the generic form, and each print must
// parse and verify again: the attn ops' parsers, printers and verifiers
// agree. Diagnostics are dropped.
//
// MLIR itself is not instrumented (libMLIR.so), so this target covers
// attn's parsers, printers and verifiers, and finds MLIR's own bugs only
// when they crash.
//
//===----------------------------------------------------------------------===//

#include "compiler/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>

static mlir::MLIRContext *context;

[[noreturn]] static void fail(const char *what, const std::string &text) {
  std::fprintf(stderr, "fuzz target: broken promise: %s:\n%s\n", what,
               text.c_str());
  std::abort();
}

/// A new context: the types and attributes that inputs create stay in a
/// context for its life, so a long run starts over now and then.
static void resetContext() {
  delete context;
  mlir::DialectRegistry registry;
  mlir::attn::registerAllDialects(registry);
  context = new mlir::MLIRContext(registry,
                                  mlir::MLIRContext::Threading::DISABLED);
  context->loadAllAvailableDialects();
  // Diagnostics would flood the fuzzer's output; failure is the result.
  context->getDiagEngine().registerHandler(
      [](mlir::Diagnostic &) { return mlir::success(); });
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  resetContext();
  return 0;
}

static mlir::OwningOpRef<mlir::ModuleOp> parse(llvm::StringRef text) {
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(text, "fuzz.mlir"), llvm::SMLoc());
  return mlir::parseSourceFile<mlir::ModuleOp>(
      sourceMgr, mlir::ParserConfig(context, /*verifyAfterParse=*/true));
}

static std::string print(mlir::ModuleOp module, bool generic) {
  std::string text;
  llvm::raw_string_ostream os(text);
  mlir::OpPrintingFlags flags;
  if (generic)
    flags.printGenericOpForm();
  module->print(os, flags);
  return text;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned inputs = 0;
  if (++inputs % 100000 == 0)
    resetContext();
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module = parse(text);
  if (!module)
    return 0;
  if (mlir::failed(mlir::verify(*module)))
    fail("a parsed module does not verify", text.str());
  for (bool generic : {false, true}) {
    std::string printed = print(*module, generic);
    mlir::OwningOpRef<mlir::ModuleOp> again = parse(printed);
    if (!again)
      fail(generic ? "the generic form does not parse back"
                   : "the custom form does not parse back",
           printed);
  }
  return 0;
}
