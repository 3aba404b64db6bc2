// RUN: attn-opt %s -attn-fuse-masked-softmax -split-input-file | FileCheck %s

// GPT-2: scale by 1/sqrt(head_dim), then mask with the dtype's lowest value.
// CHECK-LABEL: func.func @gpt2_scale_then_mask
// CHECK-SAME: (%[[S:.*]]: tensor<12x?x?xf32>, %[[OFF:.*]]: index)
// CHECK: %[[P:.*]] = attn.masked_softmax %[[S]], %[[OFF]] scale(1.250000e-01) fill(-3.4028234663852886E+38) : tensor<12x?x?xf32>
// CHECK-NOT: attn.scale
// CHECK-NOT: attn.causal_mask
// CHECK-NOT: attn.softmax
// CHECK: return %[[P]]
func.func @gpt2_scale_then_mask(%s: tensor<12x?x?xf32>, %off: index) -> tensor<12x?x?xf32> {
  %0 = attn.scale %s by 0.125 : tensor<12x?x?xf32>
  %1 = attn.causal_mask %0, %off fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
  %2 = attn.softmax %1 axis(2) : tensor<12x?x?xf32>
  return %2 : tensor<12x?x?xf32>
}

// -----

// CogModel: no scale, -1e9 fill.
// CHECK-LABEL: func.func @cogmodel_no_scale
// CHECK-SAME: (%[[S:.*]]: tensor<1x?x?xf32>, %[[OFF:.*]]: index)
// CHECK: attn.masked_softmax %[[S]], %[[OFF]] scale(1.000000e+00) fill(-1.000000e+09)
// CHECK-NOT: attn.softmax
func.func @cogmodel_no_scale(%s: tensor<1x?x?xf32>, %off: index) -> tensor<1x?x?xf32> {
  %0 = attn.causal_mask %s, %off fill(-1.0e+09) : tensor<1x?x?xf32>
  %1 = attn.softmax %0 axis(2) : tensor<1x?x?xf32>
  return %1 : tensor<1x?x?xf32>
}

// -----

// Mask first, then scale: the fill value is scaled too.
// CHECK-LABEL: func.func @mask_then_scale
// CHECK: attn.masked_softmax %{{.*}}, %{{.*}} scale(5.000000e-01) fill(-5.000000e+08)
// CHECK-NOT: attn.causal_mask
func.func @mask_then_scale(%s: tensor<1x?x?xf32>, %off: index) -> tensor<1x?x?xf32> {
  %0 = attn.causal_mask %s, %off fill(-1.0e+09) : tensor<1x?x?xf32>
  %1 = attn.scale %0 by 0.5 : tensor<1x?x?xf32>
  %2 = attn.softmax %1 axis(2) : tensor<1x?x?xf32>
  return %2 : tensor<1x?x?xf32>
}

// -----

// A scale written as a multiply by a splat constant, as traced PyTorch has it.
// CHECK-LABEL: func.func @mulf_constant
// CHECK-SAME: (%[[S:.*]]: tensor<2x4x4xf32>
// CHECK: attn.masked_softmax %[[S]], %{{.*}} scale(2.500000e-01) fill(-1.000000e+09)
// CHECK-NOT: arith.mulf
func.func @mulf_constant(%s: tensor<2x4x4xf32>, %off: index) -> tensor<2x4x4xf32> {
  %c = arith.constant dense<0.25> : tensor<2x4x4xf32>
  %0 = arith.mulf %c, %s : tensor<2x4x4xf32>
  %1 = attn.causal_mask %0, %off fill(-1.0e+09) : tensor<2x4x4xf32>
  %2 = attn.softmax %1 axis(2) : tensor<2x4x4xf32>
  return %2 : tensor<2x4x4xf32>
}

// -----

// Hugging Face GPT-2 divides by sqrt(head_dim).
// CHECK-LABEL: func.func @divf_constant
// CHECK: attn.masked_softmax %{{.*}}, %{{.*}} scale(1.250000e-01)
// CHECK-NOT: arith.divf
func.func @divf_constant(%s: tensor<2x4x4xf32>, %off: index) -> tensor<2x4x4xf32> {
  %c = arith.constant dense<8.0> : tensor<2x4x4xf32>
  %0 = arith.divf %s, %c : tensor<2x4x4xf32>
  %1 = attn.causal_mask %0, %off fill(-1.0e+09) : tensor<2x4x4xf32>
  %2 = attn.softmax %1 axis(2) : tensor<2x4x4xf32>
  return %2 : tensor<2x4x4xf32>
}

// -----

// Scales on both sides of the mask multiply.
// CHECK-LABEL: func.func @scales_both_sides
// CHECK: attn.masked_softmax %{{.*}}, %{{.*}} scale(1.000000e+00) fill(-2.000000e+09)
func.func @scales_both_sides(%s: tensor<1x?x?xf32>, %off: index) -> tensor<1x?x?xf32> {
  %0 = attn.scale %s by 0.5 : tensor<1x?x?xf32>
  %1 = attn.causal_mask %0, %off fill(-1.0e+09) : tensor<1x?x?xf32>
  %2 = attn.scale %1 by 2.0 : tensor<1x?x?xf32>
  %3 = attn.softmax %2 axis(2) : tensor<1x?x?xf32>
  return %3 : tensor<1x?x?xf32>
}

// -----

// Negative: no mask, so the softmax is not a causal masked softmax.
// CHECK-LABEL: func.func @no_mask
// CHECK-NOT: attn.masked_softmax
// CHECK: attn.scale
// CHECK: attn.softmax
func.func @no_mask(%s: tensor<1x?x?xf32>) -> tensor<1x?x?xf32> {
  %0 = attn.scale %s by 0.5 : tensor<1x?x?xf32>
  %1 = attn.softmax %0 axis(2) : tensor<1x?x?xf32>
  return %1 : tensor<1x?x?xf32>
}

// -----

// Negative: a mask that is not causal (an arbitrary select) is not fused.
// CHECK-LABEL: func.func @non_causal_mask
// CHECK-NOT: attn.masked_softmax
// CHECK: arith.select
// CHECK: attn.softmax
func.func @non_causal_mask(%s: tensor<1x4x4xf32>, %keep: tensor<1x4x4xi1>) -> tensor<1x4x4xf32> {
  %fill = arith.constant dense<-1.0e+09> : tensor<1x4x4xf32>
  %0 = arith.select %keep, %s, %fill : tensor<1x4x4xi1>, tensor<1x4x4xf32>
  %1 = attn.softmax %0 axis(2) : tensor<1x4x4xf32>
  return %1 : tensor<1x4x4xf32>
}

// -----

// Negative: softmax over the query axis.
// CHECK-LABEL: func.func @softmax_query_axis
// CHECK-NOT: attn.masked_softmax
// CHECK: attn.causal_mask
// CHECK: attn.softmax %{{.*}} axis(1)
func.func @softmax_query_axis(%s: tensor<1x?x?xf32>, %off: index) -> tensor<1x?x?xf32> {
  %0 = attn.causal_mask %s, %off fill(-1.0e+09) : tensor<1x?x?xf32>
  %1 = attn.softmax %0 axis(1) : tensor<1x?x?xf32>
  return %1 : tensor<1x?x?xf32>
}

// -----

// Negative: the masked scores are also returned, so fusing would compute the
// mask twice.
// CHECK-LABEL: func.func @masked_has_other_user
// CHECK-NOT: attn.masked_softmax
// CHECK: %[[M:.*]] = attn.causal_mask
// CHECK: %[[P:.*]] = attn.softmax %[[M]]
// CHECK: return %[[P]], %[[M]]
func.func @masked_has_other_user(%s: tensor<1x?x?xf32>, %off: index) -> (tensor<1x?x?xf32>, tensor<1x?x?xf32>) {
  %0 = attn.causal_mask %s, %off fill(-1.0e+09) : tensor<1x?x?xf32>
  %1 = attn.softmax %0 axis(2) : tensor<1x?x?xf32>
  return %1, %0 : tensor<1x?x?xf32>, tensor<1x?x?xf32>
}

// -----

// Negative: a scale by a runtime value is not a constant scale.
// CHECK-LABEL: func.func @scale_not_constant
// CHECK-NOT: attn.masked_softmax
// CHECK: arith.mulf
// CHECK: attn.softmax
func.func @scale_not_constant(%s: tensor<1x4x4xf32>, %f: tensor<1x4x4xf32>, %off: index) -> tensor<1x4x4xf32> {
  %0 = attn.causal_mask %s, %off fill(-1.0e+09) : tensor<1x4x4xf32>
  %1 = arith.mulf %0, %f : tensor<1x4x4xf32>
  %2 = attn.softmax %1 axis(2) : tensor<1x4x4xf32>
  return %2 : tensor<1x4x4xf32>
}

// -----

// A scale before the mask with another user stays; the mask and softmax
// still fuse on the scaled scores.
// CHECK-LABEL: func.func @pre_scale_shared
// CHECK: %[[A:.*]] = attn.scale %{{.*}} by 1.250000e-01
// CHECK: %[[P:.*]] = attn.masked_softmax %[[A]], %{{.*}} scale(1.000000e+00)
// CHECK: return %[[P]], %[[A]]
func.func @pre_scale_shared(%s: tensor<1x?x?xf32>, %off: index) -> (tensor<1x?x?xf32>, tensor<1x?x?xf32>) {
  %0 = attn.scale %s by 0.125 : tensor<1x?x?xf32>
  %1 = attn.causal_mask %0, %off fill(-1.0e+09) : tensor<1x?x?xf32>
  %2 = attn.softmax %1 axis(2) : tensor<1x?x?xf32>
  return %2, %0 : tensor<1x?x?xf32>, tensor<1x?x?xf32>
}
