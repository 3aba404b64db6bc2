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

def TileContractions : Pass<"attn-tile-contractions"> {
  let summary = "Block the rows of matmul-like contractions for cache reuse";
  let description = [{
    A contraction with loops (rows, k, columns), such as `attn.linear` with
    a GPT-2 `[in, out]` weight after `attn-lower-to-linalg`, reads the whole
    weight once per row: a 512-token prefill streams a 768x2304 weight 512
    times. This pass tiles the row loop by `row-tile` and moves the
    reduction outside the rows of a tile, so that each weight row is loaded
    once per tile and reused from L1 for all of its rows, with the columns
    still innermost and contiguous.

    Before (loops s, i, o):
    ```mlir
    %r = linalg.generic {iterator_types = ["parallel", "reduction", "parallel"]} ...
    ```
    After:
    ```mlir
    %r = scf.for %s0 = %c0 to %rows step %c16 iter_args(%acc = %init) {
      // loops i, s, o over rows [s0, s0 + 16)
      %t = linalg.generic {iterator_types = ["reduction", "parallel", "parallel"]} ...
    }
    ```
  }];
  let options = [
    Option<"rowTile", "row-tile", "int64_t", /*default=*/"16",
           "Rows per tile">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // ATTN_COMPILER_CODEGEN_PASSES_TD
