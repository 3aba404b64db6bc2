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

def ApproximateMath : Pass<"attn-approximate-math"> {
  let summary = "Replace math.tanh and math.exp by polynomial approximations";
  let description = [{
    `math.tanh` (GELU) and `math.exp` (softmax, attention) otherwise become
    calls to libm's `tanhf` and `expf`: a call per element, which keeps the
    loops around them scalar. GELU alone then took a quarter of a GPT-2
    prefill. MLIR's polynomial approximations (range reduction, then a
    polynomial; exact at 0, and exp of -inf is 0, as the online softmax
    needs) are plain arithmetic that LLVM vectorizes. Their error, a few
    ulps, is far inside the 1e-4 the models are held to.

    Before:
    ```mlir
    %t = math.tanh %x : f32
    ```
    After:
    ```mlir
    // clamp, then a rational polynomial of %x in arith ops
    %t = arith.divf %p, %q : f32
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def PromoteKernelAllocs : Pass<"attn-promote-kernel-allocs",
                               "::mlir::func::FuncOp"> {
  let summary = "Put a kernel's small static temporaries on the stack";
  let description = [{
    A kernel's tile buffers (the flash kernel's [key-tile] scores and
    [value-dim] accumulator) are allocated once at its entry and threaded
    through its loops. Upstream `promote-buffers-to-stack` keeps them on the
    heap because they flow through `scf.yield`; but a kernel returns nothing,
    so no buffer it allocates can outlive its frame. This pass turns every
    `memref.alloc` of static shape and at most `max-bytes` bytes in the entry
    block of a function without results into a `memref.alloca` (and drops
    its deallocations): no `malloc` per dispatch. Run it after bufferization,
    before the deallocation pipeline.

    Before:
    ```mlir
    func.func private @k6_fused_attention_impl(...) {
      %scores = memref.alloc() {alignment = 64 : i64} : memref<64xf32>
      %r = scf.for ... iter_args(%s = %scores) -> (memref<64xf32>) { ... }
    ```
    After:
    ```mlir
    func.func private @k6_fused_attention_impl(...) {
      %scores = memref.alloca() {alignment = 64 : i64} : memref<64xf32>
      %r = scf.for ... iter_args(%s = %scores) -> (memref<64xf32>) { ... }
    ```
  }];
  let options = [
    Option<"maxBytes", "max-bytes", "int64_t", /*default=*/"65536",
           "Largest buffer put on the stack">,
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def RegisterTileContractions : Pass<"attn-register-tile-contractions"> {
  let summary = "Compute matmul output tiles in registers across the k loop";
  let description = [{
    A linear with a `[out, in]` weight lowers to loops (s, o, k): one dot
    product per output element, two loads per multiply-add, and each row of
    X and W reloaded for every output. This pass splits the output into
    `row-tile` x `column-tile` tiles and computes each tile in one k loop
    whose accumulators are loop-carried scalars: each loaded element of X is
    used `column-tile` times and each of W `row-tile` times. LLVM's loop
    vectorizer turns the k loop into vector loads and as many vector
    accumulators as the tile has elements, summed once at the end (the
    body's `reassoc` fast-math flag allows it). The rows past the last full
    tile (all of a one-token decode) run in 1 x `remainder-column-tile`
    tiles: one load of x per several weight rows, and several weight streams
    in flight. Columns past the last full tile keep the original loops.

    It matches `linalg.generic` on memrefs with maps (s, k), (o, k) ->
    (s, o), iterators (parallel, parallel, reduction), and inputs whose rows
    are contiguous; the body (multiply-add, with a widening of f16/bf16
    weights) is cloned per tile element.

    Before:
    ```mlir
    linalg.generic {indexing_maps = [(s, o, k) -> (s, k), (s, o, k) -> (o, k), (s, o, k) -> (s, o)],
                    iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%x, %w : memref<?x768xf32, strided<[768, 1]>>, memref<2304x768xf32, strided<[768, 1]>>)
        outs(%c : memref<?x2304xf32, strided<[2304, 1]>>) { ... }
    ```
    After (row-tile 4, column-tile 4):
    ```mlir
    scf.for %s0 = %c0 to %fullRows step %c4 {
      scf.for %o0 = %c0 to %fullCols step %c4 {
        %acc0 = memref.load %c[%s0, %o0] ...      // 16 accumulators
        %r:16 = scf.for %k = %c0 to %c768 step %c1 iter_args(%a0 = %acc0, ...) {
          %x0 = memref.load %x[%s0, %k] ...       // 4 + 4 loads, 16 multiply-adds
        }
        memref.store %r#0, %c[%s0, %o0] ...
      }
      linalg.generic ... // columns [fullCols, cols) of these rows
    }
    linalg.generic ...   // rows [fullRows, rows)
    ```
  }];
  let options = [
    Option<"rowTile", "row-tile", "int64_t", /*default=*/"4",
           "Output rows per register tile">,
    Option<"columnTile", "column-tile", "int64_t", /*default=*/"4",
           "Output columns per register tile">,
    Option<"rowRemainderColumnTile", "remainder-column-tile", "int64_t",
           /*default=*/"8",
           "Output columns per 1-row tile for the rows past the last full "
           "tile">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

#endif // ATTN_COMPILER_CODEGEN_PASSES_TD
