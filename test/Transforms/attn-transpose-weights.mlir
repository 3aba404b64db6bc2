// RUN: attn-opt %s -attn-transpose-weights -split-input-file | FileCheck %s

// A Conv1D weight read by the linears of both programs is transposed in both.
// CHECK-LABEL: func.func @prefill
// CHECK-SAME: (%{{[^:]*}}: tensor<?x4xf32>, %[[W:[^:]*]]: tensor<6x4xf32> {attn.transposed, attn.weight = "c_fc.weight"}
// CHECK: attn.linear %{{.*}}, %[[W]], %{{.*}} layout<out_in> : (tensor<?x4xf32>, tensor<6x4xf32>, tensor<6xf32>) -> tensor<?x6xf32>
// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%{{[^:]*}}: tensor<1x4xf32>, %[[W2:[^:]*]]: tensor<6x4xf32> {attn.transposed, attn.weight = "c_fc.weight"}, %{{.*}}: tensor<6xf32> {attn.weight = "c_fc.bias"})
// CHECK: attn.linear %{{.*}}, %[[W2]], %{{.*}} layout<out_in>
func.func @prefill(%x: tensor<?x4xf32>, %w: tensor<4x6xf32> {attn.weight = "c_fc.weight"}, %b: tensor<6xf32> {attn.weight = "c_fc.bias"}) -> tensor<?x6xf32> {
  %y = attn.linear %x, %w, %b layout<in_out> : (tensor<?x4xf32>, tensor<4x6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  return %y : tensor<?x6xf32>
}
func.func @decode(%x: tensor<1x4xf32>, %w: tensor<4x6xf32> {attn.weight = "c_fc.weight"}, %b: tensor<6xf32> {attn.weight = "c_fc.bias"}) -> tensor<1x6xf32> {
  %y = attn.linear %x, %w, %b layout<in_out> : (tensor<1x4xf32>, tensor<4x6xf32>, tensor<6xf32>) -> tensor<1x6xf32>
  return %y : tensor<1x6xf32>
}

// -----

// A weight already [out, in] (torch nn.Linear, tied lm_head) stays.
// CHECK-LABEL: func.func @out_in
// CHECK-SAME: tensor<6x4xf32> {attn.weight = "lm_head.weight"}
// CHECK-NOT: attn.transposed
// CHECK: layout<out_in>
func.func @out_in(%x: tensor<1x4xf32>, %w: tensor<6x4xf32> {attn.weight = "lm_head.weight"}) -> tensor<1x6xf32> {
  %y = attn.linear %x, %w layout<out_in> : (tensor<1x4xf32>, tensor<6x4xf32>) -> tensor<1x6xf32>
  return %y : tensor<1x6xf32>
}

// -----

// Negative: the same weight is also an embedding table in another function,
// so neither function's argument changes.
// CHECK-LABEL: func.func @linear_use
// CHECK-SAME: tensor<4x6xf32> {attn.weight = "shared"}
// CHECK: layout<in_out>
// CHECK-LABEL: func.func @embedding_use
// CHECK-NOT: attn.transposed
func.func @linear_use(%x: tensor<1x4xf32>, %w: tensor<4x6xf32> {attn.weight = "shared"}) -> tensor<1x6xf32> {
  %y = attn.linear %x, %w layout<in_out> : (tensor<1x4xf32>, tensor<4x6xf32>) -> tensor<1x6xf32>
  return %y : tensor<1x6xf32>
}
func.func @embedding_use(%ids: tensor<?xi32>, %w: tensor<4x6xf32> {attn.weight = "shared"}) -> tensor<?x6xf32> {
  %e = attn.embedding %w[%ids] : (tensor<4x6xf32>, tensor<?xi32>) -> tensor<?x6xf32>
  return %e : tensor<?x6xf32>
}

// -----

// Negative: a weight that is also the linear's input is not only a weight.
// CHECK-LABEL: func.func @also_input
// CHECK-NOT: attn.transposed
// CHECK: layout<in_out>
func.func @also_input(%w: tensor<4x4xf32> {attn.weight = "square"}) -> tensor<4x4xf32> {
  %y = attn.linear %w, %w layout<in_out> : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}

// -----

// Negative: an argument that is not a weight is never touched.
// CHECK-LABEL: func.func @not_a_weight
// CHECK-SAME: tensor<4x6xf32>)
// CHECK: layout<in_out>
func.func @not_a_weight(%x: tensor<1x4xf32>, %w: tensor<4x6xf32>) -> tensor<1x6xf32> {
  %y = attn.linear %x, %w layout<in_out> : (tensor<1x4xf32>, tensor<4x6xf32>) -> tensor<1x6xf32>
  return %y : tensor<1x6xf32>
}
