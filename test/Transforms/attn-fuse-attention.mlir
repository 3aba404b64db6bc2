// RUN: attn-opt %s -attn-fuse-attention -split-input-file | FileCheck %s

// GPT-2 after attn-fuse-masked-softmax: scale and -FLT_MAX fill move into the
// fused op.
// CHECK-LABEL: func.func @causal
// CHECK-SAME: (%[[Q:.*]]: tensor<12x?x64xf32>, %[[K:.*]]: tensor<12x?x64xf32>, %[[V:.*]]: tensor<12x?x64xf32>, %[[OFF:.*]]: index)
// CHECK: %[[O:.*]] = attn.fused_attention %[[Q]], %[[K]], %[[V]] scale(1.250000e-01) causal(%[[OFF]], -3.4028234663852886E+38)
// CHECK-NOT: attn.qk_scores
// CHECK-NOT: attn.masked_softmax
// CHECK-NOT: attn.weighted_sum
// CHECK: return %[[O]]
func.func @causal(%q: tensor<12x?x64xf32>, %k: tensor<12x?x64xf32>, %v: tensor<12x?x64xf32>, %off: index) -> tensor<12x?x64xf32> {
  %s = attn.qk_scores %q, %k : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
  %p = attn.masked_softmax %s, %off scale(0.125) fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
  %o = attn.weighted_sum %p, %v : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
  return %o : tensor<12x?x64xf32>
}

// -----

// A plain softmax over the keys is non-causal attention with scale 1.
// CHECK-LABEL: func.func @not_causal
// CHECK: attn.fused_attention %{{.*}}, %{{.*}}, %{{.*}} scale(1.000000e+00) : (tensor<2x4x8xf32>, tensor<2x6x8xf32>, tensor<2x6x16xf32>) -> tensor<2x4x16xf32>
// CHECK-NOT: causal
func.func @not_causal(%q: tensor<2x4x8xf32>, %k: tensor<2x6x8xf32>, %v: tensor<2x6x16xf32>) -> tensor<2x4x16xf32> {
  %s = attn.qk_scores %q, %k : tensor<2x4x8xf32>, tensor<2x6x8xf32> -> tensor<2x4x6xf32>
  %p = attn.softmax %s axis(2) : tensor<2x4x6xf32>
  %o = attn.weighted_sum %p, %v : tensor<2x4x6xf32>, tensor<2x6x16xf32> -> tensor<2x4x16xf32>
  return %o : tensor<2x4x16xf32>
}

// -----

// Negative: the probabilities are also returned.
// CHECK-LABEL: func.func @probs_used_twice
// CHECK-NOT: attn.fused_attention
// CHECK: attn.weighted_sum
func.func @probs_used_twice(%q: tensor<1x?x8xf32>, %off: index) -> (tensor<1x?x8xf32>, tensor<1x?x?xf32>) {
  %s = attn.qk_scores %q, %q : tensor<1x?x8xf32>, tensor<1x?x8xf32> -> tensor<1x?x?xf32>
  %p = attn.masked_softmax %s, %off scale(1.0) fill(-1.0e+09) : tensor<1x?x?xf32>
  %o = attn.weighted_sum %p, %q : tensor<1x?x?xf32>, tensor<1x?x8xf32> -> tensor<1x?x8xf32>
  return %o, %p : tensor<1x?x8xf32>, tensor<1x?x?xf32>
}

// -----

// Negative: the scores are also returned.
// CHECK-LABEL: func.func @scores_used_twice
// CHECK-NOT: attn.fused_attention
// CHECK: attn.masked_softmax
func.func @scores_used_twice(%q: tensor<1x?x8xf32>, %off: index) -> (tensor<1x?x8xf32>, tensor<1x?x?xf32>) {
  %s = attn.qk_scores %q, %q : tensor<1x?x8xf32>, tensor<1x?x8xf32> -> tensor<1x?x?xf32>
  %p = attn.masked_softmax %s, %off scale(1.0) fill(-1.0e+09) : tensor<1x?x?xf32>
  %o = attn.weighted_sum %p, %q : tensor<1x?x?xf32>, tensor<1x?x8xf32> -> tensor<1x?x8xf32>
  return %o, %s : tensor<1x?x8xf32>, tensor<1x?x?xf32>
}

// -----

// Negative: a softmax over the query axis is not attention.
// CHECK-LABEL: func.func @softmax_query_axis
// CHECK-NOT: attn.fused_attention
// CHECK: attn.softmax %{{.*}} axis(1)
func.func @softmax_query_axis(%q: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %s = attn.qk_scores %q, %q : tensor<1x4x8xf32>, tensor<1x4x8xf32> -> tensor<1x4x4xf32>
  %p = attn.softmax %s axis(1) : tensor<1x4x4xf32>
  %o = attn.weighted_sum %p, %q : tensor<1x4x4xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

// Negative: the unfused causal mask (run attn-fuse-masked-softmax first).
// CHECK-LABEL: func.func @unfused_mask
// CHECK-NOT: attn.fused_attention
// CHECK: attn.causal_mask
func.func @unfused_mask(%q: tensor<1x?x8xf32>, %off: index) -> tensor<1x?x8xf32> {
  %s = attn.qk_scores %q, %q : tensor<1x?x8xf32>, tensor<1x?x8xf32> -> tensor<1x?x?xf32>
  %m = attn.causal_mask %s, %off fill(-1.0e+09) : tensor<1x?x?xf32>
  %p = attn.softmax %m axis(2) : tensor<1x?x?xf32>
  %o = attn.weighted_sum %p, %q : tensor<1x?x?xf32>, tensor<1x?x8xf32> -> tensor<1x?x8xf32>
  return %o : tensor<1x?x8xf32>
}

// -----

// Negative: probabilities that are not a softmax of scores.
// CHECK-LABEL: func.func @probs_from_argument
// CHECK-NOT: attn.fused_attention
func.func @probs_from_argument(%p: tensor<1x4x4xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %o = attn.weighted_sum %p, %v : tensor<1x4x4xf32>, tensor<1x4x8xf32> -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}
