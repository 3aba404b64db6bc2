// RUN: attn-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @scale_by_one
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x?xf32>)
// CHECK-NOT: attn.scale
// CHECK: return %[[X]]
func.func @scale_by_one(%x: tensor<2x?x?xf32>) -> tensor<2x?x?xf32> {
  %0 = attn.scale %x by 1.0 : tensor<2x?x?xf32>
  return %0 : tensor<2x?x?xf32>
}

// -----

// CHECK-LABEL: func.func @scale_chain
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x?xf32>)
// CHECK: %[[S:.*]] = attn.scale %[[X]] by 1.250000e-01 : tensor<2x?x?xf32>
// CHECK-NOT: attn.scale
// CHECK: return %[[S]]
func.func @scale_chain(%x: tensor<2x?x?xf32>) -> tensor<2x?x?xf32> {
  %0 = attn.scale %x by 0.5 : tensor<2x?x?xf32>
  %1 = attn.scale %0 by 0.25 : tensor<2x?x?xf32>
  return %1 : tensor<2x?x?xf32>
}

// -----

// Two scales whose product is one vanish entirely.
// CHECK-LABEL: func.func @scale_chain_to_identity
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK-NOT: attn.scale
// CHECK: return %[[X]]
func.func @scale_chain_to_identity(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = attn.scale %x by 8.0 : tensor<4xf32>
  %1 = attn.scale %0 by 0.125 : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// The inner scale has another user: the chain still folds, the inner scale
// stays for its other user.
// CHECK-LABEL: func.func @scale_chain_shared
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK-DAG: %[[A:.*]] = attn.scale %[[X]] by 2.000000e+00
// CHECK-DAG: %[[B:.*]] = attn.scale %[[X]] by 6.000000e+00
// CHECK: return %[[A]], %[[B]]
func.func @scale_chain_shared(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = attn.scale %x by 2.0 : tensor<4xf32>
  %1 = attn.scale %0 by 3.0 : tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @split_of_merge
// CHECK-SAME: (%[[X:.*]]: tensor<12x?x64xf32>)
// CHECK-NOT: attn.merge_heads
// CHECK-NOT: attn.split_heads
// CHECK: return %[[X]]
func.func @split_of_merge(%x: tensor<12x?x64xf32>) -> tensor<12x?x64xf32> {
  %0 = attn.merge_heads %x : tensor<12x?x64xf32> -> tensor<?x768xf32>
  %1 = attn.split_heads %0 : tensor<?x768xf32> -> tensor<12x?x64xf32>
  return %1 : tensor<12x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @merge_of_split
// CHECK-SAME: (%[[X:.*]]: tensor<?x768xf32>)
// CHECK-NOT: attn.split_heads
// CHECK: return %[[X]]
func.func @merge_of_split(%x: tensor<?x768xf32>) -> tensor<?x768xf32> {
  %0 = attn.split_heads %x : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %1 = attn.merge_heads %0 : tensor<12x?x64xf32> -> tensor<?x768xf32>
  return %1 : tensor<?x768xf32>
}

// -----

// A different head count is a real reshuffle and must stay.
// CHECK-LABEL: func.func @split_of_merge_other_heads
// CHECK: attn.merge_heads
// CHECK: attn.split_heads
func.func @split_of_merge_other_heads(%x: tensor<12x?x64xf32>) -> tensor<6x?x128xf32> {
  %0 = attn.merge_heads %x : tensor<12x?x64xf32> -> tensor<?x768xf32>
  %1 = attn.split_heads %0 : tensor<?x768xf32> -> tensor<6x?x128xf32>
  return %1 : tensor<6x?x128xf32>
}

// -----

// Scales by other factors are kept.
// CHECK-LABEL: func.func @scale_kept
// CHECK: attn.scale %{{.*}} by 1.250000e-01
func.func @scale_kept(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = attn.scale %x by 0.125 : tensor<4xf32>
  return %0 : tensor<4xf32>
}
