//===- Passes.td - attn conversions -------------------------*- tablegen -*-===//

#ifndef ATTN_COMPILER_CONVERSION_PASSES_TD
#define ATTN_COMPILER_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowerToLinalg : Pass<"attn-lower-to-linalg"> {
  let summary = "Lower attn ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Rewrites every attn op into structured ops on tensors, ready for one-shot
    bufferization: matmuls and reductions become `linalg.generic`s, head
    split/merge become reshapes and transposes, causal masks compare
    `linalg.index` values with the query offset, softmaxes subtract the row
    maximum before `math.exp`, KV cache reads and writes become
    `tensor.extract_slice` / `tensor.insert_slice`.

    Before:
    ```mlir
    %y = attn.gelu %x : tensor<?x3072xf32>
    ```
    After:
    ```mlir
    %c0 = arith.constant 0 : index
    %d0 = tensor.dim %x, %c0 : tensor<?x3072xf32>
    %e = tensor.empty(%d0) : tensor<?x3072xf32>
    %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%x : tensor<?x3072xf32>) outs(%e : tensor<?x3072xf32>) {
    ^bb0(%in: f32, %out: f32):
      // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
      ...
    } -> tensor<?x3072xf32>
    ```

    `attn.fused_attention` becomes an `scf.for` over tiles of `key-tile`
    keys carrying the running maximum, sum and output of an online softmax
    (FlashAttention's recurrence), so no [queries, keys] tensor exists.
  }];
  let options = [
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys per tile in the fused attention's online softmax">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // ATTN_COMPILER_CONVERSION_PASSES_TD
