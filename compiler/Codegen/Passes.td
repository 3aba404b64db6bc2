//===- Passes.td - attn code generation passes --------------*- tablegen -*-===//

#ifndef ATTN_COMPILER_CODEGEN_PASSES_TD
#define ATTN_COMPILER_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

def MemRefCopyToLinalg : Pass<"attn-memref-copy-to-linalg"> {
  let summary = "Turn memref.copy into linalg.copy so that it becomes loops";
  let description = [{
    The LLVM lowering of a `memref.copy` between strided views calls
    `memrefCopy` from MLIR's C runner utilities, a library the attn runtime
    does not link. As a `linalg.copy` the copy becomes plain loops in the
    kernel instead.

    Before:
    ```mlir
    memref.copy %src, %dst : memref<1x?x32xf32, strided<[2048, 32, 1]>> to memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>
    ```
    After:
    ```mlir
    linalg.copy ins(%src : memref<1x?x32xf32, strided<[2048, 32, 1]>>) outs(%dst : memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // ATTN_COMPILER_CODEGEN_PASSES_TD
