// RUN: attn-opt %s -attn-fuse-embedding-adds -split-input-file | FileCheck %s

// GPT-2: wte[ids] + wpe[T:T+S] becomes one gather with an addend.
// CHECK-LABEL: func.func @gpt2
// CHECK-SAME: (%[[WTE:.*]]: tensor<50x8xf32>, %[[IDS:.*]]: tensor<?xi32>, %[[POS:.*]]: tensor<?x8xf32>)
// CHECK: %[[X:.*]] = attn.embedding %[[WTE]][%[[IDS]]] plus %[[POS]] : (tensor<50x8xf32>, tensor<?xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NOT: attn.add
// CHECK: return %[[X]]
func.func @gpt2(%wte: tensor<50x8xf32>, %ids: tensor<?xi32>, %pos: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %x = attn.embedding %wte[%ids] : (tensor<50x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
  %h = attn.add %x, %pos : tensor<?x8xf32>, tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}

// -----

// CogModel adds one row of pe to every row (the add broadcasts it), and
// an add of the same type may have the embedding on either side.
// CHECK-LABEL: func.func @broadcast_and_commuted
// CHECK: attn.embedding %{{.*}}[%{{.*}}] plus %{{.*}} : (tensor<50x8xf32>, tensor<?xi32>, tensor<1x8xf32>) -> tensor<?x8xf32>
// CHECK: attn.embedding %{{.*}}[%{{.*}}] plus %{{.*}} : (tensor<50x8xf32>, tensor<?xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NOT: attn.add
func.func @broadcast_and_commuted(%t: tensor<50x8xf32>, %ids: tensor<?xi32>, %one: tensor<1x8xf32>, %pos: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %x = attn.embedding %t[%ids] : (tensor<50x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
  %a = attn.add %x, %one : tensor<?x8xf32>, tensor<1x8xf32>
  %y = attn.embedding %t[%ids] : (tensor<50x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
  %b = attn.add %pos, %y : tensor<?x8xf32>, tensor<?x8xf32>
  return %a, %b : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// The embedding is read again (fusing would gather twice), or is the
// broadcast operand (the add gives every row the embedding's one row).
// CHECK-LABEL: func.func @not_fused
// CHECK-COUNT-2: attn.add
func.func @not_fused(%t: tensor<50x8xf32>, %ids: tensor<?xi32>, %one_id: tensor<1xi32>, %pos: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %x = attn.embedding %t[%ids] : (tensor<50x8xf32>, tensor<?xi32>) -> tensor<?x8xf32>
  %a = attn.add %x, %pos : tensor<?x8xf32>, tensor<?x8xf32>
  %r = attn.embedding %t[%one_id] : (tensor<50x8xf32>, tensor<1xi32>) -> tensor<1x8xf32>
  %b = attn.add %pos, %r : tensor<?x8xf32>, tensor<1x8xf32>
  return %a, %x, %b : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}
