// RUN: attn-opt %s -attn-approximate-math -split-input-file | FileCheck %s

// tanh (GELU) and exp (softmax) become arithmetic that vectorizes.
// CHECK-LABEL: func.func @tanh_exp
// CHECK-NOT: math.tanh
// CHECK-NOT: math.exp
// CHECK: arith.divf
// CHECK: return
func.func @tanh_exp(%x: f32) -> (f32, f32) {
  %t = math.tanh %x : f32
  %e = math.exp %x : f32
  return %t, %e : f32, f32
}

// -----

// Negative: other math ops (sqrt of layer norm) stay for LLVM's intrinsics.
// CHECK-LABEL: func.func @sqrt
// CHECK: math.sqrt
func.func @sqrt(%x: f32) -> f32 {
  %s = math.sqrt %x : f32
  return %s : f32
}
