// RUN: attn-opt %s -split-input-file -attn-gpu-math-to-nvvm | FileCheck %s

// f32 exp, tanh and sqrt become PTX instructions, never libdevice calls.

// CHECK-LABEL: func.func @exp
// CHECK-SAME: (%[[X:.*]]: f32)
// CHECK: %[[LOG2E:.*]] = arith.constant 1.44269502 : f32
// CHECK: %[[Y:.*]] = arith.mulf %[[X]], %[[LOG2E]] : f32
// CHECK: %[[E:.*]] = nvvm.inline_ptx "ex2.approx.ftz.f32 $0, $1;" ro(%[[Y]] : f32) -> f32
// CHECK: return %[[E]]
func.func @exp(%x: f32) -> f32 {
  %e = math.exp %x : f32
  return %e : f32
}

// -----

// CHECK-LABEL: func.func @sqrt
// CHECK-SAME: (%[[X:.*]]: f32)
// CHECK: %[[S:.*]] = nvvm.inline_ptx "sqrt.rn.f32 $0, $1;" ro(%[[X]] : f32) -> f32
// CHECK: return %[[S]]
func.func @sqrt(%x: f32) -> f32 {
  %s = math.sqrt %x : f32
  return %s : f32
}

// -----

// tanh through exp(-2|x|), with the sign of x.
// CHECK-LABEL: func.func @tanh
// CHECK-NOT: math.
// CHECK: nvvm.inline_ptx "ex2.approx.ftz.f32 $0, $1;"
// CHECK-NOT: math.
// CHECK: return
func.func @tanh(%x: f32) -> f32 {
  %t = math.tanh %x : f32
  return %t : f32
}

// -----

// Other types keep their math ops.
// CHECK-LABEL: func.func @f64
// CHECK: math.exp %{{.*}} : f64
// CHECK: math.sqrt %{{.*}} : f64
func.func @f64(%x: f64) -> f64 {
  %e = math.exp %x : f64
  %s = math.sqrt %e : f64
  return %s : f64
}
