//===- Passes.td - attn dialect transformations -------------*- tablegen -*-===//

#ifndef ATTN_COMPILER_TRANSFORMS_PASSES_TD
#define ATTN_COMPILER_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FuseMaskedSoftmax : Pass<"attn-fuse-masked-softmax"> {
  let summary = "Fuse scale, causal mask and softmax into attn.masked_softmax";
  let description = [{
    Finds a softmax over the key axis whose input is a causal mask, with
    constant scales before and/or after the mask (`attn.scale`, or
    `arith.mulf`/`arith.divf` by a splat constant), and replaces the chain
    with one `attn.masked_softmax`. A scale after the mask also scales the
    fill value, so the fused op computes exactly what the chain did.

    Before:
    ```mlir
    %s = attn.qk_scores %q, %k : ...
    %a = attn.scale %s by 0.125 : tensor<12x?x?xf32>
    %m = attn.causal_mask %a, %off fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
    %p = attn.softmax %m axis(2) : tensor<12x?x?xf32>
    ```
    After:
    ```mlir
    %s = attn.qk_scores %q, %k : ...
    %p = attn.masked_softmax %s, %off scale(0.125) fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
    ```

    It leaves the chain alone when the softmax is not along the key axis,
    when no causal mask feeds it, when a scale is not a constant, or when an
    intermediate value has another user (fusing would compute it twice).
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

#endif // ATTN_COMPILER_TRANSFORMS_PASSES_TD
