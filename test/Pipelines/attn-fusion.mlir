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
