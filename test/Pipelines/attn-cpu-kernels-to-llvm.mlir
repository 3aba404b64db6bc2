// RUN: attn-opt %s -attn-cpu-kernels-to-llvm | FileCheck %s

// A kernel as the planner writes it: strided memref bindings, S, T and the
// [begin, end) range of work items, attn on tensors inside. The pipeline
// must leave nothing but the LLVM dialect, with no call into MLIR's runner
// utilities (the runtime does not link them).

// CHECK-NOT: memrefCopy
// CHECK-LABEL: llvm.func @gelu_kernel
// CHECK-NOT: attn.
// CHECK-NOT: linalg.
// CHECK-NOT: memref.
// GELU's tanh is a polynomial (attn-approximate-math), not a libm call that
// would keep the loop scalar.
// CHECK-NOT: llvm.call @tanhf
// CHECK: llvm.intr.fma
// CHECK-NOT: llvm.call
// CHECK-LABEL: llvm.func @copy_kernel
// CHECK-NOT: memref.copy
// CHECK: llvm.store
func.func @gelu_kernel(%in: memref<?x16xf32, strided<[16, 1]>>,
                       %out: memref<?x16xf32, strided<[16, 1]>>,
                       %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %in restrict : memref<?x16xf32, strided<[16, 1]>> to tensor<?x16xf32>
  %rows = tensor.extract_slice %x[%begin, 0] [%count, 16] [1, 1] : tensor<?x16xf32> to tensor<?x16xf32>
  %y = attn.gelu %rows : tensor<?x16xf32>
  %dst = memref.subview %out[%begin, 0] [%count, 16] [1, 1] : memref<?x16xf32, strided<[16, 1]>> to memref<?x16xf32, strided<[16, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<?x16xf32>, memref<?x16xf32, strided<[16, 1], offset: ?>>) -> ()
  return
}

func.func @copy_kernel(%rows: memref<1x?x32xf32, strided<[2048, 32, 1]>>,
                       %cache: memref<1x?x32xf32, strided<[2048, 32, 1]>>,
                       %S: index, %T: index, %begin: index, %end: index) {
  %x = bufferization.to_tensor %rows restrict : memref<1x?x32xf32, strided<[2048, 32, 1]>> to tensor<1x?x32xf32>
  bufferization.materialize_in_destination %x in restrict writable %cache : (tensor<1x?x32xf32>, memref<1x?x32xf32, strided<[2048, 32, 1]>>) -> ()
  return
}
