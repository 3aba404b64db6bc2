// RUN: attn-opt %s -attn-fuse-linear-prologues -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-fuse-linear-prologues=max-width-ratio=64 -split-input-file | FileCheck %s --check-prefix=WIDE

// A decode step (its token ids are tensor<1xi32>): GPT-2's ln_1 folds into
// c_attn, ln_2 into c_fc, keeping the linears' epilogues; the norms go.
// CHECK-LABEL: func.func @decode_block
// CHECK-SAME: (%[[TOK:.*]]: tensor<1xi32>, %[[X:.*]]: tensor<?x8xf32>, %[[G1:.*]]: tensor<8xf32>, %[[B1:.*]]: tensor<8xf32>, %[[WA:.*]]: tensor<24x8xf32>, %[[G2:.*]]: tensor<8xf32>, %[[B2:.*]]: tensor<8xf32>, %[[WFC:.*]]: tensor<32x8xf32>, %[[BFC:.*]]: tensor<32xf32>)
// CHECK-NOT: attn.layer_norm
// CHECK: %[[QKV:.*]] = attn.linear %[[X]], %[[WA]] layout<out_in> norm(%[[G1]], %[[B1]] eps(1.000000e-05)) : (tensor<?x8xf32>, tensor<24x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x24xf32>
// CHECK: %[[H:.*]] = attn.linear %[[X]], %[[WFC]], %[[BFC]] layout<out_in> norm(%[[G2]], %[[B2]] eps(9.9999999999999995E-7)) activation<gelu> : (tensor<?x8xf32>, tensor<32x8xf32>, tensor<32xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x32xf32>
// CHECK: return %[[QKV]], %[[H]]
func.func @decode_block(%tokens: tensor<1xi32>, %x: tensor<?x8xf32>, %g1: tensor<8xf32>, %b1: tensor<8xf32>, %wa: tensor<24x8xf32>, %g2: tensor<8xf32>, %b2: tensor<8xf32>, %wfc: tensor<32x8xf32>, %bfc: tensor<32xf32>) -> (tensor<?x24xf32>, tensor<?x32xf32>) {
  %n1 = attn.layer_norm %x, %g1, %b1 eps(1.0e-05) : tensor<?x8xf32>, tensor<8xf32>
  %qkv = attn.linear %n1, %wa layout<out_in> : (tensor<?x8xf32>, tensor<24x8xf32>) -> tensor<?x24xf32>
  %n2 = attn.layer_norm %x, %g2, %b2 eps(1.0e-06) : tensor<?x8xf32>, tensor<8xf32>
  %h = attn.linear %n2, %wfc, %bfc layout<out_in> activation<gelu> : (tensor<?x8xf32>, tensor<32x8xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  return %qkv, %h : tensor<?x24xf32>, tensor<?x32xf32>
}

// -----

// A statically one-row norm (the last row, before the LM head) folds into
// every linear that reads it, in any program.
// CHECK-LABEL: func.func @last_row
// CHECK-SAME: (%[[T:.*]]: tensor<?xi32>, %[[X:.*]]: tensor<1x8xf32>, %[[G:.*]]: tensor<8xf32>, %[[B:.*]]: tensor<8xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[R:.*]]: tensor<1x16xf32>)
// CHECK-NOT: attn.layer_norm
// CHECK-DAG: %[[Y:.*]] = attn.linear %[[X]], %[[W]] layout<out_in> norm(%[[G]], %[[B]] eps(1.000000e-05)) residual %[[R]]
// CHECK-DAG: %[[Z:.*]] = attn.linear %[[X]], %[[W]] layout<out_in> norm(%[[G]], %[[B]] eps(1.000000e-05)) :
// CHECK: return %[[Y]], %[[Z]]
func.func @last_row(%tokens: tensor<?xi32>, %x: tensor<1x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %w: tensor<16x8xf32>, %r: tensor<1x16xf32>) -> (tensor<1x16xf32>, tensor<1x16xf32>) {
  %n = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<1x8xf32>, tensor<8xf32>
  %y = attn.linear %n, %w layout<out_in> residual %r : (tensor<1x8xf32>, tensor<16x8xf32>, tensor<1x16xf32>) -> tensor<1x16xf32>
  %z = attn.linear %n, %w layout<out_in> : (tensor<1x8xf32>, tensor<16x8xf32>) -> tensor<1x16xf32>
  return %y, %z : tensor<1x16xf32>, tensor<1x16xf32>
}

// -----

// A prefill (any number of tokens): each column tile of the linear would
// normalize every row again; the norm stays.
// CHECK-LABEL: func.func @prefill
// CHECK: %[[N:.*]] = attn.layer_norm
// CHECK: attn.linear %[[N]], %{{.*}} layout<out_in> :
func.func @prefill(%tokens: tensor<?xi32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %w: tensor<24x8xf32>) -> tensor<?x24xf32> {
  %n = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<?x8xf32>, tensor<8xf32>
  %y = attn.linear %n, %w layout<out_in> : (tensor<?x8xf32>, tensor<24x8xf32>) -> tensor<?x24xf32>
  return %y : tensor<?x24xf32>
}

// -----

// A norm that something else reads too (here a residual add, as CogModel's
// post-norm), or that a linear reads as its residual, stays whole.
// CHECK-LABEL: func.func @other_users
// CHECK: %[[N:.*]] = attn.layer_norm
// CHECK: attn.linear %[[N]], %{{.*}} layout<out_in> :
// CHECK: attn.add %{{.*}}, %[[N]]
// CHECK: %[[M:.*]] = attn.layer_norm
// CHECK: attn.linear %{{.*}}, %{{.*}} layout<out_in> residual %[[M]]
func.func @other_users(%tokens: tensor<1xi32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %w: tensor<8x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) {
  %n = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<?x8xf32>, tensor<8xf32>
  %y = attn.linear %n, %w layout<out_in> : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %s = attn.add %x, %n : tensor<?x8xf32>, tensor<?x8xf32>
  %m = attn.layer_norm %s, %g, %b eps(1.0e-05) : tensor<?x8xf32>, tensor<8xf32>
  %z = attn.linear %x, %w layout<out_in> residual %m : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y, %s, %z : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// A linear that already normalizes its input does not take a second norm.
// CHECK-LABEL: func.func @already_normalized
// CHECK: %[[N:.*]] = attn.layer_norm
// CHECK: attn.linear %[[N]], %{{.*}} layout<out_in> norm(
func.func @already_normalized(%tokens: tensor<1xi32>, %x: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %n = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<?x8xf32>, tensor<8xf32>
  %y = attn.linear %n, %w layout<out_in> norm(%g, %b eps(1.0e-05)) : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// A norm before a linear much wider than its input (an LM head): each GPU
// block of its product would normalize the row again; the norm stays.
// With max-width-ratio=64 it folds.
// CHECK-LABEL: func.func @wide_head
// CHECK: %[[N:.*]] = attn.layer_norm
// CHECK: attn.linear %[[N]], %{{.*}} layout<out_in> :
// WIDE-LABEL: func.func @wide_head
// WIDE-NOT: attn.layer_norm
// WIDE: attn.linear %{{.*}}, %{{.*}} layout<out_in> norm(
func.func @wide_head(%tokens: tensor<1xi32>, %x: tensor<1x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %w: tensor<256x8xf32>) -> tensor<1x256xf32> {
  %n = attn.layer_norm %x, %g, %b eps(1.0e-05) : tensor<1x8xf32>, tensor<8xf32>
  %y = attn.linear %n, %w layout<out_in> : (tensor<1x8xf32>, tensor<256x8xf32>) -> tensor<1x256xf32>
  return %y : tensor<1x256xf32>
}
