//===- AttnOps.td - attn dialect ops ------------------------*- tablegen -*-===//
//
// Conventions: hidden states are [seq, d_model]; per-head tensors are
// [heads, seq, head_dim]; scores and probabilities are [heads, queries, keys].
// Query `i` of a block that starts at absolute position `query_offset` may
// attend to key `j` iff j <= query_offset + i.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "dialects/attn/AttnDialect.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_FloatTensor : RankedTensorOf<[AnyFloat]>;
def Attn_IdTensor : RankedTensorOf<[AnySignlessInteger, Index]>;

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, !listconcat([Pure], traits)>;

//===----------------------------------------------------------------------===//
// Model ops
//===----------------------------------------------------------------------===//

def Attn_EmbeddingOp : Attn_Op<"embedding", []> {
  let summary = "gathers rows of an embedding table, plus an optional addend";
  let description = [{
    `result[i, :] = table[ids[i], :]`, plus `addend[i, :]` with
    `plus %addend` (the position embeddings a model adds to its token
    embeddings; `addend[0, :]` for every row when its first dimension is a
    static 1). Used for token embeddings (`wte`) and for learned or
    precomputed position embeddings (`wpe`, CogModel's `pe`). Ids outside
    `[0, rows)` are undefined behaviour; the runtime validates token ids
    before a dispatch. The table may be stored in a narrower float type than
    the result (f16 or bf16 weights, computed in f32).

    ```mlir
    %x = attn.embedding %wte[%ids] : (tensor<50257x768xf32>, tensor<?xi32>) -> tensor<?x768xf32>
    %h = attn.embedding %wte[%ids] plus %pos
        : (tensor<50257x768xf32>, tensor<?xi32>, tensor<?x768xf32>) -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$table, Attn_IdTensor:$ids,
                       Optional<Attn_FloatTensor>:$addend);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $table `[` $ids `]` (`plus` $addend^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// Whether one addend row goes to every result row (its first dimension
    /// is a static 1).
    bool isBroadcastAddend() {
      return getAddend() &&
             cast<RankedTensorType>(getAddend().getType()).getDimSize(0) == 1;
    }
  }];
  let hasVerifier = 1;
}

def Attn_LinearOp : Attn_Op<"linear",
    [AttrSizedOperandSegments, AllElementTypesMatch<["input", "result"]>]> {
  let summary = "affine map x·W + b over the last axis, with a fused epilogue";
  let description = [{
    `result[s, o] = act(sum_i norm(input)[s, i] * W[i, o] + bias[o]) +
    residual[s, o]`. The `layout` attribute says how `weight` is stored:
    `in_out` is `[in, out]` (GPT-2's Conv1D), `out_in` is `[out, in]` (torch
    `nn.Linear`). The bias is optional and has the input's type; the weight
    may be stored in a narrower float type (f16 or bf16, widened as it is
    read): decoding reads every weight once per token, so halving their bytes
    nearly halves its time.

    The epilogue is what `attn-fuse-linear-epilogues` folds in from the ops
    that consume the product, so that a kernel writes the final value once:
    an optional `activation` (`gelu`: `attn.gelu`), then an optional
    `residual` of the result's type (`attn.add` of a residual connection).
    The prologue is what `attn-fuse-linear-prologues` folds in from the op
    that produces the input: an optional `norm(gamma, beta eps(e))`, the
    input's rows layer-normalized first exactly as `attn.layer_norm` does
    (gamma and beta `[in]`, of the input's type).

    ```mlir
    %qkv = attn.linear %h, %w, %b layout<in_out>
        : (tensor<?x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>) -> tensor<?x2304xf32>
    %q = attn.linear %x, %wq layout<out_in>
        : (tensor<?x128xf32>, tensor<128x128xf32>) -> tensor<?x128xf32>
    %a = attn.linear %h, %wfc, %bfc layout<in_out> activation<gelu>
        : (tensor<?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>) -> tensor<?x3072xf32>
    %y = attn.linear %a, %wp, %bp layout<in_out> residual %x
        : (tensor<?x3072xf32>, tensor<3072x768xf32>, tensor<768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
    %n = attn.linear %x, %wqkv, %bqkv layout<out_in> norm(%g, %beta eps(1.0e-05))
        : (tensor<1x768xf32>, tensor<2304x768xf32>, tensor<2304xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<1x2304xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$weight,
                       Optional<Attn_FloatTensor>:$bias,
                       Optional<Attn_FloatTensor>:$residual,
                       Optional<Attn_FloatTensor>:$normGamma,
                       Optional<Attn_FloatTensor>:$normBeta,
                       Attn_WeightLayoutAttr:$layout,
                       OptionalAttr<Attn_ActivationAttr>:$activation,
                       OptionalAttr<F64Attr>:$normEpsilon);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `layout` `` $layout
    (`norm` `(` $normGamma^ `,` $normBeta `eps` `(` $normEpsilon `)` `)`)?
    (`activation` `` $activation^)? (`residual` $residual^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let builders = [
    // A plain linear, without a prologue or an epilogue.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight, "::mlir::Value":$bias,
                   "::mlir::attn::WeightLayout":$layout), [{
      build($_builder, $_state, result, input, weight, bias,
            /*residual=*/::mlir::Value(), /*normGamma=*/::mlir::Value(),
            /*normBeta=*/::mlir::Value(), layout, /*activation=*/nullptr,
            /*normEpsilon=*/nullptr);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The [in, out] sizes of the weight, whatever its storage layout.
    std::pair<int64_t, int64_t> getInOutSizes();
  }];
  let hasVerifier = 1;
}

def Attn_LayerNormOp : Attn_Op<"layer_norm",
    [AllTypesMatch<["input", "result"]>, AllTypesMatch<["gamma", "beta"]>,
     AllElementTypesMatch<["input", "gamma"]>]> {
  let summary = "layer normalization over the last axis (biased variance)";
  let description = [{
    `(x - mean(x)) / sqrt(var(x) + epsilon) * gamma + beta`, where the mean
    and the biased variance (divide by N) run over the last axis. This is
    both `torch.nn.LayerNorm` and the seed's hand-written LayerNorm (whose
    epsilon is 1e-6).

    ```mlir
    %y = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<?x768xf32>, tensor<768xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Attn_FloatTensor:$gamma,
                       Attn_FloatTensor:$beta, F64Attr:$epsilon);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta `eps` `(` $epsilon `)` attr-dict `:`
    type($input) `,` type($gamma)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$gamma,
                   "::mlir::Value":$beta, "double":$epsilon), [{
      build($_builder, $_state, input.getType(), input, gamma, beta,
            $_builder.getF64FloatAttr(epsilon));
    }]>
  ];
  let hasVerifier = 1;
}

def Attn_GeluOp : Attn_Op<"gelu", [SameOperandsAndResultType]> {
  let summary = "GELU, tanh approximation (GPT-2's gelu_new)";
  let description = [{
    `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))`, elementwise.

    ```mlir
    %y = attn.gelu %x : tensor<?x3072xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Attn_AddOp : Attn_Op<"add",
    [AllTypesMatch<["lhs", "result"]>, AllElementTypesMatch<["lhs", "rhs"]>]> {
  let summary = "elementwise sum, broadcasting size-1 axes of the right operand";
  let description = [{
    `result = lhs + rhs`, where an axis of size 1 in `rhs` is broadcast along
    the same axis of `lhs` (the seed adds its positional buffer this way:
    `x + pe[:x.size(0)]`). Residual connections add two tensors of one type.

    ```mlir
    %y = attn.add %x, %attn_out : tensor<?x768xf32>, tensor<?x768xf32>
    %z = attn.add %x, %pe0 : tensor<?x128xf32>, tensor<1x128xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$lhs, Attn_FloatTensor:$rhs);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
  let extraClassDeclaration = [{
    /// Whether `rhs` is broadcast along `axis` (its size there is 1).
    bool isBroadcastAxis(int64_t axis);
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Head split and merge
//===----------------------------------------------------------------------===//

def Attn_SplitHeadsOp : Attn_Op<"split_heads",
    [AllElementTypesMatch<["input", "result"]>]> {
  let summary = "[seq, heads * head_dim] -> [heads, seq, head_dim]";
  let description = [{
    Views the hidden axis as `heads` groups of `head_dim` and moves the head
    axis first. The number of heads is the result's static leading size.

    ```mlir
    %qh = attn.split_heads %q : tensor<?x768xf32> -> tensor<12x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Attn_MergeHeadsOp : Attn_Op<"merge_heads",
    [AllElementTypesMatch<["input", "result"]>]> {
  let summary = "[heads, seq, head_dim] -> [seq, heads * head_dim]";
  let description = [{
    The inverse of `attn.split_heads`.

    ```mlir
    %y = attn.merge_heads %o : tensor<12x?x64xf32> -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Attention as the seed computes it
//===----------------------------------------------------------------------===//

def Attn_QKScoresOp : Attn_Op<"qk_scores",
    [AllElementTypesMatch<["query", "key", "result"]>]> {
  let summary = "attention scores Q·Kᵀ per head";
  let description = [{
    `result[h, i, j] = sum_d query[h, i, d] * key[h, j, d]`, with no scaling.

    ```mlir
    %s = attn.qk_scores %q, %k : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key attr-dict `:` type($query) `,` type($key) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Attn_ScaleOp : Attn_Op<"scale", [SameOperandsAndResultType]> {
  let summary = "multiplies every element by a constant factor";
  let description = [{
    GPT-2 scales its scores by `1/sqrt(head_dim)`; CogModel does not scale.
    A factor of 1 folds away and two scales fold into one.

    ```mlir
    %s2 = attn.scale %s by 0.125 : tensor<12x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, F64Attr:$factor);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = "$input `by` $factor attr-dict `:` type($input)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Attn_CausalMaskOp : Attn_Op<"causal_mask",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "fills the scores of future keys with a constant";
  let description = [{
    `result[h, i, j] = j <= query_offset + i ? input[h, i, j] : fill`. With a
    KV cache, query `i` of the new block sits at absolute position
    `query_offset + i` (0 for a prefill from scratch, `T` for the decode of
    token `T`). CogModel fills with -1e9 (`masked_fill(mask == 0, -1e9)`);
    GPT-2 fills with the dtype's lowest value.

    ```mlir
    %m = attn.causal_mask %s, %offset fill(-1.0e+09) : tensor<1x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Index:$query_offset,
                       F64Attr:$fill);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $query_offset `fill` `(` $fill `)` attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def Attn_SoftmaxOp : Attn_Op<"softmax", [SameOperandsAndResultType]> {
  let summary = "softmax along one axis";
  let description = [{
    `exp(x - max(x)) / sum(exp(x - max(x)))` along `axis` (0-based, in
    range). Attention normalizes over the key axis, the last one of scores.

    ```mlir
    %p = attn.softmax %m axis(2) : tensor<12x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, I64Attr:$axis);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = "$input `axis` `(` $axis `)` attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Attn_WeightedSumOp : Attn_Op<"weighted_sum",
    [AllElementTypesMatch<["probs", "value", "result"]>]> {
  let summary = "attention output P·V per head";
  let description = [{
    `result[h, i, d] = sum_j probs[h, i, j] * value[h, j, d]`.

    ```mlir
    %o = attn.weighted_sum %p, %v : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$probs, Attn_FloatTensor:$value);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $probs `,` $value attr-dict `:` type($probs) `,` type($value) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused forms
//===----------------------------------------------------------------------===//

def Attn_MaskedSoftmaxOp : Attn_Op<"masked_softmax",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "scale, causal mask and softmax over the key axis in one op";
  let description = [{
    `softmax_j(j <= query_offset + i ? scale * input[h, i, j] : fill)`: what
    `attn.scale`, `attn.causal_mask` and `attn.softmax` along the key axis
    compute together, without materializing the intermediates.

    ```mlir
    %p = attn.masked_softmax %s, %offset scale(0.125) fill(-3.4028234663852886e+38)
        : tensor<12x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$input, Index:$query_offset,
                       F64Attr:$scale, F64Attr:$fill);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $query_offset `scale` `(` $scale `)` `fill` `(` $fill `)`
    attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def Attn_FusedAttentionOp : Attn_Op<"fused_attention",
    [AllElementTypesMatch<["query", "key", "value", "result"]>]> {
  let summary = "softmax(scale·Q·Kᵀ, optionally causal)·V in one op";
  let description = [{
    The whole attention of one block. With `causal(%offset, fill)`, query `i`
    sees keys `j <= offset + i` and masked scores take `fill`; without it
    every query sees every key. Lowerings compute it with an online softmax
    over tiles of keys and never materialize the [queries, keys] matrix.

    ```mlir
    %o = attn.fused_attention %q, %k, %v scale(0.125) causal(%offset, -3.4028234663852886e+38)
        : (tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>, index) -> tensor<12x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key,
                       Attn_FloatTensor:$value, Optional<Index>:$query_offset,
                       F64Attr:$scale, OptionalAttr<F64Attr>:$fill);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `scale` `(` $scale `)`
    (`causal` `(` $query_offset^ `,` $fill `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// Whether a causal mask applies (the offset and fill come together).
    bool isCausal() { return getQueryOffset() != nullptr; }
  }];
  let hasVerifier = 1;
}

def Attn_CachedAttentionOp : Attn_Op<"cached_attention",
    [AllTypesMatch<["key_cache", "new_key_cache"]>,
     AllTypesMatch<["value_cache", "new_value_cache"]>,
     AllElementTypesMatch<["query", "key", "value", "key_cache",
                           "value_cache", "result"]>]> {
  let summary = "causal attention that first appends its keys and values to "
                "the KV caches";
  let description = [{
    One step of a causal decoder's attention with its KV caches, as
    FlashAttention's `flash_attn_with_kvcache` does it: the new `key` and
    `value` rows go into the caches at `position`, and the queries (query `i`
    at absolute position `position + i`) attend to the first `length` rows
    of the written caches, key `j` visible iff `j <= position + i`, masked
    scores taking `fill`. The results are the attention and the two written
    caches. It computes exactly

    ```mlir
    %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
    %vc2 = attn.kv_cache_write %vc[%pos], %v : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
    %ks = attn.kv_cache_read %kc2[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
    %vs = attn.kv_cache_read %vc2[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
    %o = attn.fused_attention %q, %ks, %vs scale(0.125) causal(%pos, -3.4028234663852886e+38)
        : (tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>, index) -> tensor<12x?x64xf32>
    ```

    in one kernel: the planner writes the caches in place, and the GPU
    kernels read the appended rows from `key` and `value` rather than from
    the caches, so that no block waits for another's write.

    ```mlir
    %o, %kc2, %vc2 = attn.cached_attention %q, %k, %v into %kc, %vc[%pos] length(%len)
        scale(0.125) causal(-3.4028234663852886e+38)
        : tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>,
          tensor<12x1024x64xf32>, tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key,
                       Attn_FloatTensor:$value, Attn_FloatTensor:$key_cache,
                       Attn_FloatTensor:$value_cache, Index:$position,
                       Index:$length, F64Attr:$scale, F64Attr:$fill);
  let results = (outs Attn_FloatTensor:$result,
                      Attn_FloatTensor:$new_key_cache,
                      Attn_FloatTensor:$new_value_cache);
  let assemblyFormat = [{
    $query `,` $key `,` $value `into` $key_cache `,` $value_cache
    `[` $position `]` `length` `(` $length `)` `scale` `(` $scale `)`
    `causal` `(` $fill `)` attr-dict `:` type($query) `,` type($key) `,`
    type($value) `,` type($key_cache) `,` type($value_cache) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

def Attn_KVCacheWriteOp : Attn_Op<"kv_cache_write",
    [AllTypesMatch<["cache", "result"]>,
     AllElementTypesMatch<["cache", "rows"]>]> {
  let summary = "writes new K or V rows into a cache at a position";
  let description = [{
    Returns `cache` with `cache[h, position + s, d] = rows[h, s, d]` for every
    new row `s`. The cache is `[heads, capacity, head_dim]`; rows past the
    capacity are undefined behaviour and the runtime refuses a context
    longer than the capacity before any dispatch.

    ```mlir
    %k2 = attn.kv_cache_write %kcache[%pos], %k
        : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$cache, Attn_FloatTensor:$rows,
                       Index:$position);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $cache `[` $position `]` `,` $rows attr-dict `:` type($cache) `,` type($rows)
  }];
  let hasVerifier = 1;
}

def Attn_KVCacheReadOp : Attn_Op<"kv_cache_read",
    [AllElementTypesMatch<["cache", "result"]>]> {
  let summary = "reads the first `length` rows of a K or V cache";
  let description = [{
    `result[h, s, d] = cache[h, s, d]` for `s < length`: the keys or values
    that a block of queries attends to.

    ```mlir
    %k_all = attn.kv_cache_read %k2[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$cache, Index:$length);
  let results = (outs Attn_FloatTensor:$result);
  let assemblyFormat = [{
    $cache `[` $length `]` attr-dict `:` type($cache) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // ATTN_OPS_TD
