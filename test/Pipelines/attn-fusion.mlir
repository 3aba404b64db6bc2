// RUN: attn-opt %s -attn-fusion-softmax | FileCheck --check-prefix=SOFTMAX %s
// RUN: attn-opt %s -attn-fusion-flash | FileCheck --check-prefix=FLASH %s

// The attnc --fusion levels on one GPT-2 attention block (the seed's five
// steps between the head split and merge).

// SOFTMAX-LABEL: func.func @attention
// SOFTMAX: %[[S:.*]] = attn.qk_scores
// SOFTMAX: %[[P:.*]] = attn.masked_softmax %[[S]], %{{.*}} scale(1.250000e-01) fill(-3.4028234663852886E+38)
// SOFTMAX: attn.weighted_sum %[[P]]
// SOFTMAX-NOT: attn.causal_mask

// FLASH-LABEL: func.func @attention
// FLASH-SAME: (%[[Q:.*]]: tensor<?x768xf32>, %[[K:.*]]: tensor<?x768xf32>, %[[V:.*]]: tensor<?x768xf32>, %[[OFF:.*]]: index)
// FLASH-DAG: %[[QH:.*]] = attn.split_heads %[[Q]]
// FLASH-DAG: %[[KH:.*]] = attn.split_heads %[[K]]
// FLASH-DAG: %[[VH:.*]] = attn.split_heads %[[V]]
// FLASH: %[[O:.*]] = attn.fused_attention %[[QH]], %[[KH]], %[[VH]] scale(1.250000e-01) causal(%[[OFF]], -3.4028234663852886E+38)
// FLASH-NOT: attn.qk_scores
// FLASH-NOT: attn.softmax
// FLASH: attn.merge_heads %[[O]]
func.func @attention(%q: tensor<?x768xf32>, %k: tensor<?x768xf32>,
                     %v: tensor<?x768xf32>, %offset: index) -> tensor<?x768xf32> {
  %qh = attn.split_heads %q : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %kh = attn.split_heads %k : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %vh = attn.split_heads %v : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %s = attn.qk_scores %qh, %kh : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
  %a = attn.scale %s by 0.125 : tensor<12x?x?xf32>
  %m = attn.causal_mask %a, %offset fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
  %p = attn.softmax %m axis(2) : tensor<12x?x?xf32>
  %o = attn.weighted_sum %p, %vh : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
  %y = attn.merge_heads %o : tensor<12x?x64xf32> -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}

// Both levels fold GPT-2's MLP gelu and residual add into its linears.
// SOFTMAX-LABEL: func.func @mlp
// SOFTMAX: %[[H:.*]] = attn.linear %{{.*}}, %{{.*}}, %{{.*}} layout<in_out> activation<gelu>
// SOFTMAX: attn.linear %[[H]], %{{.*}}, %{{.*}} layout<in_out> residual
// SOFTMAX-NOT: attn.gelu
// SOFTMAX-NOT: attn.add
// FLASH-LABEL: func.func @mlp
// FLASH: %[[H:.*]] = attn.linear %{{.*}}, %{{.*}}, %{{.*}} layout<in_out> activation<gelu>
// FLASH: attn.linear %[[H]], %{{.*}}, %{{.*}} layout<in_out> residual
// FLASH-NOT: attn.gelu
// FLASH-NOT: attn.add
func.func @mlp(%x: tensor<?x768xf32>, %wfc: tensor<768x3072xf32>, %bfc: tensor<3072xf32>,
               %wp: tensor<3072x768xf32>, %bp: tensor<768xf32>) -> tensor<?x768xf32> {
  %h = attn.linear %x, %wfc, %bfc layout<in_out> : (tensor<?x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>) -> tensor<?x3072xf32>
  %g = attn.gelu %h : tensor<?x3072xf32>
  %p = attn.linear %g, %wp, %bp layout<in_out> : (tensor<?x3072xf32>, tensor<3072x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
  %y = attn.add %x, %p : tensor<?x768xf32>, tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}

// Both levels fold a decode step's layer norm into the linear that reads it
// (attn-fuse-linear-prologues), before the epilogues.
// SOFTMAX-LABEL: func.func @decode_norm
// SOFTMAX-NOT: attn.layer_norm
// SOFTMAX: attn.linear %{{.*}}, %{{.*}} layout<out_in> norm(%{{.*}}, %{{.*}} eps(1.000000e-05)) activation<gelu>
// FLASH-LABEL: func.func @decode_norm
// FLASH-NOT: attn.layer_norm
// FLASH: attn.linear %{{.*}}, %{{.*}} layout<out_in> norm(%{{.*}}, %{{.*}} eps(1.000000e-05)) activation<gelu>
func.func @decode_norm(%tokens: tensor<1xi32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %w: tensor<32x8xf32>) -> tensor<?x32xf32> {
  %n = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<?x8xf32>, tensor<8xf32>
  %h = attn.linear %n, %w layout<out_in> : (tensor<?x8xf32>, tensor<32x8xf32>) -> tensor<?x32xf32>
  %a = attn.gelu %h : tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}

// Only the flash level takes the KV cache appends into the attention.
// SOFTMAX-LABEL: func.func @cached
// SOFTMAX-COUNT-2: attn.kv_cache_write
// SOFTMAX: attn.masked_softmax
// FLASH-LABEL: func.func @cached
// FLASH-NOT: attn.kv_cache
// FLASH: attn.cached_attention %{{.*}}, %{{.*}}, %{{.*}} into %{{.*}}, %{{.*}}[%{{.*}}] length(%{{.*}}) scale(1.250000e-01) causal(-3.4028234663852886E+38)
// FLASH-NOT: attn.kv_cache
func.func @cached(%qh: tensor<12x?x64xf32>, %kh: tensor<12x?x64xf32>, %vh: tensor<12x?x64xf32>,
                  %kc: tensor<12x64x64xf32>, %vc: tensor<12x64x64xf32>, %pos: index, %len: index)
    -> (tensor<12x?x64xf32>, tensor<12x64x64xf32>, tensor<12x64x64xf32>) {
  %kc2 = attn.kv_cache_write %kc[%pos], %kh : tensor<12x64x64xf32>, tensor<12x?x64xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %vh : tensor<12x64x64xf32>, tensor<12x?x64xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<12x64x64xf32> -> tensor<12x?x64xf32>
  %vs = attn.kv_cache_read %vc2[%len] : tensor<12x64x64xf32> -> tensor<12x?x64xf32>
  %s = attn.qk_scores %qh, %ks : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
  %a = attn.scale %s by 0.125 : tensor<12x?x?xf32>
  %m = attn.causal_mask %a, %pos fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
  %p = attn.softmax %m axis(2) : tensor<12x?x?xf32>
  %o = attn.weighted_sum %p, %vs : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
  return %o, %kc2, %vc2 : tensor<12x?x64xf32>, tensor<12x64x64xf32>, tensor<12x64x64xf32>
}

// Both levels add the position rows in the embedding's gather.
// SOFTMAX-LABEL: func.func @embed
// SOFTMAX: attn.embedding %{{.*}}[%{{.*}}] plus %{{.*}}
// SOFTMAX-NOT: attn.add
// FLASH-LABEL: func.func @embed
// FLASH: attn.embedding %{{.*}}[%{{.*}}] plus %{{.*}}
// FLASH-NOT: attn.add
func.func @embed(%wte: tensor<50x8xf32>, %ids: tensor<?xi32>, %pos: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %x = attn.embedding %wte[%ids] : (tensor<50x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
  %h = attn.add %x, %pos : tensor<?x8xf32>, tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}
