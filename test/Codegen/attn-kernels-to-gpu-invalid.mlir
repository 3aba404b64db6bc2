// RUN: attn-opt %s -split-input-file -attn-kernels-to-gpu -verify-diagnostics
// RUN: not attn-opt %s -split-input-file -attn-kernels-to-gpu=block-size=48 2>&1 | FileCheck %s --check-prefix=BLOCK

// BLOCK: error: block-size must be a power of two in [32, 1024], got 48

// expected-error @+1 {{'func.func' op is not a planned kernel: expected memref bindings, S, T, begin and end}}
func.func private @k0_gelu_impl(%S: index, %T: index, %begin: index, %end: index) {
  return
}

// -----

// expected-error @+1 {{'func.func' op does not write its result into a subview of its output}}
func.func private @k0_gelu_impl(%in: memref<?x16xf32, strided<[16, 1]>>,
                                %out: memref<?x16xf32, strided<[16, 1]>>,
                                %S: index, %T: index, %begin: index, %end: index) {
  %x = bufferization.to_tensor %in restrict : memref<?x16xf32, strided<[16, 1]>> to tensor<?x16xf32>
  %y = attn.gelu %x : tensor<?x16xf32>
  bufferization.materialize_in_destination %y in restrict writable %out : (tensor<?x16xf32>, memref<?x16xf32, strided<[16, 1]>>) -> ()
  return
}

// -----

// expected-error @+1 {{'func.func' op holds more than one attn op}}
func.func private @k0_gelu_impl(%in: memref<?x16xf32, strided<[16, 1]>>,
                                %out: memref<?x16xf32, strided<[16, 1]>>,
                                %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %in restrict : memref<?x16xf32, strided<[16, 1]>> to tensor<?x16xf32>
  %rows = tensor.extract_slice %x[%begin, 0] [%count, 16] [1, 1] : tensor<?x16xf32> to tensor<?x16xf32>
  %y = attn.gelu %rows : tensor<?x16xf32>
  %z = attn.gelu %y : tensor<?x16xf32>
  %dst = memref.subview %out[%begin, 0] [%count, 16] [1, 1] : memref<?x16xf32, strided<[16, 1]>> to memref<?x16xf32, strided<[16, 1], offset: ?>>
  bufferization.materialize_in_destination %z in restrict writable %dst : (tensor<?x16xf32>, memref<?x16xf32, strided<[16, 1], offset: ?>>) -> ()
  return
}

// -----

func.func private @k0_kv_cache_read_impl(%cache: memref<2x8x4xf32, strided<[32, 4, 1]>>,
                                         %out: memref<2x?x4xf32, strided<[32, 4, 1]>>,
                                         %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %c = bufferization.to_tensor %cache restrict : memref<2x8x4xf32, strided<[32, 4, 1]>> to tensor<2x8x4xf32>
  // expected-error @+1 {{'attn.kv_cache_read' op has no GPU kernel}}
  %r = attn.kv_cache_read %c[%T] : tensor<2x8x4xf32> -> tensor<2x?x4xf32>
  %dst = memref.subview %out[%begin, 0, 0] [%count, %T, 4] [1, 1, 1] : memref<2x?x4xf32, strided<[32, 4, 1]>> to memref<?x?x4xf32, strided<[32, 4, 1], offset: ?>>
  %rs = tensor.extract_slice %r[%begin, 0, 0] [%count, %T, 4] [1, 1, 1] : tensor<2x?x4xf32> to tensor<?x?x4xf32>
  bufferization.materialize_in_destination %rs in restrict writable %dst : (tensor<?x?x4xf32>, memref<?x?x4xf32, strided<[32, 4, 1], offset: ?>>) -> ()
  return
}

// -----

func.func private @k0_fused_attention_impl(%arg0: memref<2x?x?xf32, strided<[64, 8, 1]>>, %arg1: memref<2x?x?xf32, strided<[64, 8, 1]>>, %arg2: memref<2x?x?xf32, strided<[64, 8, 1]>>, %arg3: memref<2x?x?xf32, strided<[64, 8, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %q = bufferization.to_tensor %arg0 restrict : memref<2x?x?xf32, strided<[64, 8, 1]>> to tensor<2x?x?xf32>
  %k = bufferization.to_tensor %arg1 restrict : memref<2x?x?xf32, strided<[64, 8, 1]>> to tensor<2x?x?xf32>
  %v = bufferization.to_tensor %arg2 restrict : memref<2x?x?xf32, strided<[64, 8, 1]>> to tensor<2x?x?xf32>
  // expected-error @+1 {{'attn.fused_attention' op needs a static head_dim on the GPU}}
  %o = attn.fused_attention %q, %k, %v scale(0.35) : (tensor<2x?x?xf32>, tensor<2x?x?xf32>, tensor<2x?x?xf32>) -> tensor<2x?x?xf32>
  %dst = memref.subview %arg3[%begin, 0, 0] [%count, %S, %S] [1, 1, 1] : memref<2x?x?xf32, strided<[64, 8, 1]>> to memref<?x?x?xf32, strided<[64, 8, 1], offset: ?>>
  %os = tensor.extract_slice %o[%begin, 0, 0] [%count, %S, %S] [1, 1, 1] : tensor<2x?x?xf32> to tensor<?x?x?xf32>
  bufferization.materialize_in_destination %os in restrict writable %dst : (tensor<?x?x?xf32>, memref<?x?x?xf32, strided<[64, 8, 1], offset: ?>>) -> ()
  return
}

// -----

// A norm over several rows: attn-fuse-linear-prologues fuses one-row norms
// only, and the tiled matrix products have no norm.
func.func private @k3_linear_impl(%arg0: memref<?x16xf32, strided<[16, 1]>>, %arg1: memref<48x16xf32, strided<[16, 1]>>, %arg2: memref<16xf32, strided<[1]>>, %arg3: memref<?x48xf32, strided<[48, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %c0 = arith.constant 0 : index
  %x = bufferization.to_tensor %arg0 restrict : memref<?x16xf32, strided<[16, 1]>> to tensor<?x16xf32>
  %n = tensor.dim %x, %c0 : tensor<?x16xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x16xf32, strided<[16, 1]>> to tensor<48x16xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 16] [1, 1] : tensor<48x16xf32> to tensor<?x16xf32>
  %g = bufferization.to_tensor %arg2 restrict : memref<16xf32, strided<[1]>> to tensor<16xf32>
  // expected-error @+1 {{'attn.linear' op with a norm has a GPU kernel for one row only, got output 'memref<?x48xf32, strided<[48, 1]>>'}}
  %y = attn.linear %x, %wc layout<out_in> norm(%g, %g eps(1.0e-05)) : (tensor<?x16xf32>, tensor<?x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x?xf32>
  %dst = memref.subview %arg3[0, %begin] [%n, %count] [1, 1] : memref<?x48xf32, strided<[48, 1]>> to memref<?x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<?x?xf32>, memref<?x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}
