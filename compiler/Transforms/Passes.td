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

def FuseAttention : Pass<"attn-fuse-attention"> {
  let summary = "Fuse scores, masked softmax and weighted sum into attn.fused_attention";
  let description = [{
    Replaces `weighted_sum(masked_softmax(qk_scores(q, k)), v)` with one
    `attn.fused_attention` (causal, with the masked softmax's offset, scale
    and fill), and `weighted_sum(softmax(qk_scores(q, k)) along the key axis,
    v)` with a non-causal one. Its lowering computes the softmax online over
    tiles of keys, so the [queries, keys] matrix is never materialized. Run
    `attn-fuse-masked-softmax` first to fold scales and masks.

    Before:
    ```mlir
    %s = attn.qk_scores %q, %k : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
    %p = attn.masked_softmax %s, %off scale(1.250000e-01) fill(-3.4028234663852886E+38) : tensor<12x?x?xf32>
    %o = attn.weighted_sum %p, %v : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
    ```
    After:
    ```mlir
    %o = attn.fused_attention %q, %k, %v scale(1.250000e-01) causal(%off, -3.4028234663852886E+38)
        : (tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>, index) -> tensor<12x?x64xf32>
    ```

    It leaves the chain alone when the scores or probabilities have another
    user, or when the softmax is not along the key axis.
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def FuseCachedAttention : Pass<"attn-fuse-cached-attention"> {
  let summary = "Fold the KV cache writes and reads of an attention into "
                "attn.cached_attention";
  let description = [{
    A decoder step writes its new keys and values into the caches, reads
    the caches' first `length` rows and attends to them. Written as three
    ops, the writes are two kernels of their own per layer (on a GPU, two
    nodes of the decode graph that the attention waits for: 24 of GPT-2
    124M's 88). This pass folds `fused_attention(q, kv_cache_read(
    kv_cache_write(kc, k, pos), len), kv_cache_read(kv_cache_write(vc, v,
    pos), len))`, causal from `pos`, into one `attn.cached_attention`, as
    FlashAttention's `flash_attn_with_kvcache` appends and attends in one
    kernel. Run `attn-fuse-attention` first.

    It leaves the ops alone unless both writes are at the attention's causal
    offset, both reads take the same length, each read feeds only the
    attention, and every other user of a written cache (the function's
    return) comes after the attention.

    Before:
    ```mlir
    %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
    %vc2 = attn.kv_cache_write %vc[%pos], %v : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
    %ks = attn.kv_cache_read %kc2[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
    %vs = attn.kv_cache_read %vc2[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
    %o = attn.fused_attention %q, %ks, %vs scale(1.250000e-01) causal(%pos, -3.4028234663852886E+38)
        : (tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>, index) -> tensor<12x?x64xf32>
    ```
    After:
    ```mlir
    %o, %kc2, %vc2 = attn.cached_attention %q, %k, %v into %kc, %vc[%pos] length(%len)
        scale(1.250000e-01) causal(-3.4028234663852886E+38)
        : tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>,
          tensor<12x1024x64xf32>, tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def FuseEmbeddingAdds : Pass<"attn-fuse-embedding-adds"> {
  let summary = "Fold the position embeddings' add into the attn.embedding";
  let description = [{
    Both models add position embeddings to the token embeddings first thing
    (GPT-2: `wpe[T:T+S]`; CogModel: one row of `pe`). As its own kernel the
    add reads and writes the hidden state again and costs a launch per step
    (a node of a GPU decode graph). This pass folds it into the gather:
    `attn.add` of an `attn.embedding` without an addend and a tensor that is
    the add's other operand becomes `attn.embedding ... plus %rows`, the
    rows broadcast as the add broadcast them.

    Before:
    ```mlir
    %x = attn.embedding %wte[%ids] : (tensor<50257x768xf32>, tensor<?xi32>) -> tensor<?x768xf32>
    %h = attn.add %x, %pos : tensor<?x768xf32>, tensor<?x768xf32>
    ```
    After:
    ```mlir
    %h = attn.embedding %wte[%ids] plus %pos : (tensor<50257x768xf32>, tensor<?xi32>, tensor<?x768xf32>) -> tensor<?x768xf32>
    ```

    It leaves the add alone when the embedding has another user (the gather
    would run twice), already has an addend, or is the add's broadcast
    operand.
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def FuseLinearEpilogues : Pass<"attn-fuse-linear-epilogues"> {
  let summary = "Fold gelu and residual adds into the attn.linear that feeds them";
  let description = [{
    A linear's consumers in a transformer block are elementwise: GPT-2's MLP
    applies `attn.gelu` to `c_fc`, and both residual connections add `x` to
    a projection. Each as its own kernel reads and writes the whole
    activation again, and costs a launch per layer and token (on a GPU, a
    decode step is mostly launches). This pass folds them into the linear's
    epilogue: `attn.gelu` of a linear becomes `activation<gelu>`, and
    `attn.add` of a linear and a tensor of the same type becomes `residual`,
    so that the kernel writes act(x·W + b) + r once.

    Before:
    ```mlir
    %h = attn.linear %x, %wfc, %bfc layout<in_out> : (...) -> tensor<?x3072xf32>
    %a = attn.gelu %h : tensor<?x3072xf32>
    %p = attn.linear %a, %wp, %bp layout<in_out> : (...) -> tensor<?x768xf32>
    %y = attn.add %r, %p : tensor<?x768xf32>, tensor<?x768xf32>
    ```
    After:
    ```mlir
    %a = attn.linear %x, %wfc, %bfc layout<in_out> activation<gelu> : (...) -> tensor<?x3072xf32>
    %y = attn.linear %a, %wp, %bp layout<in_out> residual %r : (...) -> tensor<?x768xf32>
    ```

    It leaves the ops alone when the linear's result has another user (the
    product would be computed twice), when the add broadcasts, and when the
    order of the epilogue would change (a gelu of a linear that already adds
    a residual).
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def FuseLinearPrologues : Pass<"attn-fuse-linear-prologues"> {
  let summary = "Fold a one-row layer norm into the attn.linears that read it";
  let description = [{
    Every GPT-2 block normalizes its residual stream before each of its two
    input projections (`ln_1` before `c_attn`, `ln_2` before `c_fc`), and
    the model ends with `ln_f` before the LM head. In a decode step each is
    a kernel of one 768-wide row: on a GPU a launch (a node of the decode
    graph) that the linear after it waits for. This pass folds the norm
    into the linear's prologue, `norm(gamma, beta eps(e))`: the linear's
    kernel normalizes its input row itself (every block of a GPU
    matrix-vector product, every CPU thread's chunk of features), which
    costs a reduction over one row and saves a launch and a round trip of
    the row through memory.

    It fuses only rows it knows to be one: a statically one-row input, or
    any input in a step of one token (the frontends' programs take the
    step's token ids as their first argument, `tensor<1xi32>` in decode).
    With many rows each of the linear's column tiles would normalize all
    the rows again. A norm with any user that is not the input of a linear
    (a residual, another op) stays, as does one feeding a linear that
    already normalizes, or one much wider than its input (more than
    `max-width-ratio` output features per input feature): every GPU block
    of 8 features normalizes the row again, a cost that grows with the
    width while the launch saved does not; GPT-2's 50257-wide LM head (65
    per input feature, 6283 blocks) keeps `ln_f` as a kernel of its own.

    Before:
    ```mlir
    func.func @decode(%tokens: tensor<1xi32>, ...) {
      %h = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<?x768xf32>, tensor<768xf32>
      %qkv = attn.linear %h, %w, %bias layout<out_in> : (...) -> tensor<?x2304xf32>
    ```
    After:
    ```mlir
      %qkv = attn.linear %x, %w, %bias layout<out_in> norm(%g, %b eps(1.0e-05)) : (...) -> tensor<?x2304xf32>
    ```
  }];
  let options = [
    Option<"maxWidthRatio", "max-width-ratio", "int64_t", /*default=*/"16",
           "Fuse into linears with at most this many output features per "
           "input feature">,
  ];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def TransposeWeights : Pass<"attn-transpose-weights", "::mlir::ModuleOp"> {
  let summary = "Store [in, out] linear weights as [out, in]";
  let description = [{
    A linear op splits its work across threads by output features. With an
    `[in, out]` weight (GPT-2's Conv1D) a thread's features are a narrow
    column band of every weight row: short strided reads that defeat the
    hardware prefetchers, so a one-token decode on two cores ran no faster
    than on one. Stored `[out, in]`, a thread's features are one contiguous
    block of memory and each feature a contiguous dot product.

    For every weight (by its `attn.weight` name, across all functions) whose
    every use is the weight of an `attn.linear` with `layout<in_out>`, the
    pass swaps the argument's two axes, marks it `attn.transposed` (the
    artifact writer then stores the checkpoint tensor transposed), and flips
    those linears to `layout<out_in>`. Weights with any other use stay as
    they are. attnc runs it for embedded and external weights alike: the
    writer stores embedded ones transposed, and the runtime transposes
    external ones into memory of its own when it binds them (read in the
    checkpoint's layout, the external artifact's prefill ran 3.5x slower on
    the CPU).

    Before:
    ```mlir
    func.func @decode(..., %w: tensor<768x2304xf32> {attn.weight = "h.0.attn.c_attn.weight"}) {
      %y = attn.linear %x, %w, %b layout<in_out> : (tensor<1x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>) -> tensor<1x2304xf32>
    ```
    After:
    ```mlir
    func.func @decode(..., %w: tensor<2304x768xf32> {attn.transposed, attn.weight = "h.0.attn.c_attn.weight"}) {
      %y = attn.linear %x, %w, %b layout<out_in> : (tensor<1x768xf32>, tensor<2304x768xf32>, tensor<2304xf32>) -> tensor<1x2304xf32>
    ```
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

#endif // ATTN_COMPILER_TRANSFORMS_PASSES_TD
