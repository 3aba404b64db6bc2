// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-promote-kernel-allocs))' | FileCheck %s
// RUN: attn-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(attn-promote-kernel-allocs{max-bytes=128}))' | FileCheck --check-prefix=SMALL %s

// A kernel's tile buffers, threaded through a loop: on the stack, their
// deallocations gone.
// CHECK-LABEL: func.func @kernel
// CHECK: %[[S:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[S]])
// CHECK-NOT: memref.alloc(
// CHECK-NOT: memref.dealloc
// SMALL-LABEL: func.func @kernel
// SMALL: memref.alloc() {alignment = 64 : i64} : memref<64xf32>
func.func @kernel(%out: memref<64xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %s = memref.alloc() {alignment = 64 : i64} : memref<64xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%t = %s) -> (memref<64xf32>) {
    scf.yield %t : memref<64xf32>
  }
  memref.copy %r, %out : memref<64xf32> to memref<64xf32>
  memref.dealloc %s : memref<64xf32>
  return
}

// -----

// Negative: a dynamic size, a buffer above max-bytes, one inside a loop and
// a function that returns a buffer stay on the heap.
// CHECK-LABEL: func.func @stays
// CHECK: memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: memref.alloc() : memref<32768xf32>
// CHECK: scf.for
// CHECK: memref.alloc() : memref<4xf32>
func.func @stays(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %d = memref.alloc(%n) : memref<?xf32>
  %big = memref.alloc() : memref<32768xf32>
  scf.for %i = %c0 to %n step %c1 {
    %l = memref.alloc() : memref<4xf32>
    memref.dealloc %l : memref<4xf32>
  }
  memref.dealloc %d : memref<?xf32>
  memref.dealloc %big : memref<32768xf32>
  return
}

// CHECK-LABEL: func.func @returns
// CHECK: memref.alloc() : memref<4xf32>
func.func @returns() -> memref<4xf32> {
  %r = memref.alloc() : memref<4xf32>
  return %r : memref<4xf32>
}
