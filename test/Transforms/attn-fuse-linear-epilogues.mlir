// RUN: attn-opt %s -attn-fuse-linear-epilogues -split-input-file | FileCheck %s

// GPT-2's MLP and attention output: gelu folds into c_fc, each residual add
// into the projection that feeds it.
// CHECK-LABEL: func.func @gpt2_block
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[WA:.*]]: tensor<8x8xf32>, %[[WFC:.*]]: tensor<8x32xf32>, %[[BFC:.*]]: tensor<32xf32>, %[[WP:.*]]: tensor<32x8xf32>, %[[BP:.*]]: tensor<8xf32>)
// CHECK: %[[A:.*]] = attn.linear %[[X]], %[[WA]] layout<in_out> residual %[[X]] : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: %[[H:.*]] = attn.linear %[[A]], %[[WFC]], %[[BFC]] layout<in_out> activation<gelu> : (tensor<?x8xf32>, tensor<8x32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
// CHECK: %[[Y:.*]] = attn.linear %[[H]], %[[WP]], %[[BP]] layout<in_out> residual %[[A]] : (tensor<?x32xf32>, tensor<32x8xf32>, tensor<8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NOT: attn.gelu
// CHECK-NOT: attn.add
// CHECK: return %[[Y]]
func.func @gpt2_block(%x: tensor<?x8xf32>, %wa: tensor<8x8xf32>, %wfc: tensor<8x32xf32>, %bfc: tensor<32xf32>, %wp: tensor<32x8xf32>, %bp: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = attn.linear %x, %wa layout<in_out> : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %1 = attn.add %x, %0 : tensor<?x8xf32>, tensor<?x8xf32>
  %2 = attn.linear %1, %wfc, %bfc layout<in_out> : (tensor<?x8xf32>, tensor<8x32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  %3 = attn.gelu %2 : tensor<?x32xf32>
  %4 = attn.linear %3, %wp, %bp layout<in_out> : (tensor<?x32xf32>, tensor<32x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %5 = attn.add %1, %4 : tensor<?x8xf32>, tensor<?x8xf32>
  return %5 : tensor<?x8xf32>
}

// -----

// The linear on the left of the add; a gelu'd linear still takes a
// residual (added after the activation).
// CHECK-LABEL: func.func @linear_on_the_left
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[W:.*]]: tensor<8x8xf32>, %[[R:.*]]: tensor<?x8xf32>)
// CHECK: %[[Y:.*]] = attn.linear %[[X]], %[[W]] layout<out_in> activation<gelu> residual %[[R]]
// CHECK-NEXT: return %[[Y]]
func.func @linear_on_the_left(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>, %r: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = attn.linear %x, %w layout<out_in> : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %1 = attn.gelu %0 : tensor<?x8xf32>
  %2 = attn.add %1, %r : tensor<?x8xf32>, tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}

// -----

// The product has another user: fusing would compute it twice.
// CHECK-LABEL: func.func @shared_product
// CHECK: %[[P:.*]] = attn.linear
// CHECK-NOT: activation
// CHECK-NOT: residual
// CHECK: attn.gelu %[[P]]
// CHECK: attn.add %{{.*}}, %[[P]]
func.func @shared_product(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %0 = attn.linear %x, %w layout<in_out> : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %1 = attn.gelu %0 : tensor<?x8xf32>
  %2 = attn.add %x, %0 : tensor<?x8xf32>, tensor<?x8xf32>
  return %1, %2 : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// A broadcasting add is not a residual connection.
// CHECK-LABEL: func.func @broadcast_add
// CHECK: %[[P:.*]] = attn.linear
// CHECK-NOT: residual
// CHECK: attn.add %[[P]], %{{.*}} : tensor<?x8xf32>, tensor<1x8xf32>
func.func @broadcast_add(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>, %pe: tensor<1x8xf32>) -> tensor<?x8xf32> {
  %0 = attn.linear %x, %w layout<in_out> : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %1 = attn.add %0, %pe : tensor<?x8xf32>, tensor<1x8xf32>
  return %1 : tensor<?x8xf32>
}

// -----

// gelu(x·W + r) is not act(x·W) + r: a gelu after a fused residual stays.
// CHECK-LABEL: func.func @gelu_after_residual
// CHECK: %[[P:.*]] = attn.linear %{{.*}}, %{{.*}} layout<in_out> residual
// CHECK-NOT: activation
// CHECK: attn.gelu %[[P]]
func.func @gelu_after_residual(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>, %r: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = attn.linear %x, %w layout<in_out> : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %1 = attn.add %r, %0 : tensor<?x8xf32>, tensor<?x8xf32>
  %2 = attn.gelu %1 : tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}
