// RUN: attn-opt %s -attn-memref-copy-to-linalg -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @strided_copy
// CHECK-SAME: (%[[SRC:.*]]: memref<1x?x32xf32, strided<[2048, 32, 1]>>, %[[DST:.*]]: memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>)
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%[[SRC]] : memref<1x?x32xf32, strided<[2048, 32, 1]>>) outs(%[[DST]] : memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>)
func.func @strided_copy(%src: memref<1x?x32xf32, strided<[2048, 32, 1]>>,
                        %dst: memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>) {
  memref.copy %src, %dst : memref<1x?x32xf32, strided<[2048, 32, 1]>> to memref<1x?x32xf32, strided<[2048, 32, 1], offset: ?>>
  return
}

// -----

// Other memref ops are left alone.
// CHECK-LABEL: func.func @no_copy
// CHECK: memref.load
// CHECK-NOT: linalg.copy
func.func @no_copy(%m: memref<4xf32>, %i: index) -> f32 {
  %v = memref.load %m[%i] : memref<4xf32>
  return %v : f32
}
