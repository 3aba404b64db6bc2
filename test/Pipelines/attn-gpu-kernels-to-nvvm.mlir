// RUN: attn-opt %s -attn-gpu-kernels-to-nvvm | FileCheck %s
// RUN: attn-opt %s -attn-gpu-kernels-to-nvvm=archs=sm_90 | FileCheck %s --check-prefix=SM90
// RUN: attn-opt %s -attn-gpu-kernels-to-nvvm -gpu-module-to-binary=format=isa | FileCheck %s --check-prefix=PTX
// RUN: attn-opt %s --pass-pipeline="builtin.module(attn-kernels-to-gpu,nvvm-attach-target{chip=sm_80},gpu.module(attn-gpu-math-to-nvvm))" | FileCheck %s --check-prefix=STAGE

// The planner's kernels through the whole GPU pipeline: one gpu.module
// with a target per architecture (sm_80 and sm_90 by default), nothing left
// but the LLVM and NVVM dialects, no call into libdevice, and the entry ABI
// of artifact.fbs: (bindings pointer, S, T, work, workspace pointer), all
// 64-bit.

// CHECK-NOT: func.func
// CHECK-LABEL: gpu.module @attn_kernels [#nvvm.target<O = 3, chip = "sm_80">, #nvvm.target<O = 3, chip = "sm_90">]
// CHECK-NOT: __nv_
// CHECK-NOT: memref.
// CHECK-NOT: scf.
// CHECK-NOT: math.
// CHECK: llvm.func @k0_gelu(%{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: !llvm.ptr)
// CHECK-SAME: attn.items_per_block = 16 : i64
// CHECK-SAME: nvvm.kernel
// CHECK-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
// CHECK: nvvm.read.ptx.sreg.ctaid.x
// CHECK: nvvm.read.ptx.sreg.tid.x
// CHECK: llvm.inline_asm {{.*}}"ex2.approx.ftz.f32 $0, $1;"
// CHECK: llvm.func @k1_fused_attention(%{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: !llvm.ptr)
// CHECK-SAME: attn.items_per_block = 1 : i64
// The running output of one query lives in private memory.
// CHECK: llvm.alloca %{{.*}} x f32 : (i64) -> !llvm.ptr

// SM90: gpu.module @attn_kernels [#nvvm.target<O = 3, chip = "sm_90">]

// Midway: the gpu.funcs of attn-kernels-to-gpu in a module with its target,
// their math already PTX instructions, the rest still gpu/scf/memref.
// STAGE: gpu.module @attn_kernels [#nvvm.target<chip = "sm_80">]
// STAGE: gpu.func @k0_gelu
// STAGE-NOT: math.tanh
// STAGE: scf.for
// STAGE: nvvm.inline_ptx "ex2.approx.ftz.f32 $0, $1;"
// STAGE: memref.store
// STAGE: gpu.func @k1_fused_attention
// STAGE: gpu.barrier
// STAGE-NOT: math.exp
// STAGE: gpu.return

// PTX: gpu.binary @attn_kernels
// PTX-SAME: #gpu.object<#nvvm.target<O = 3, chip = "sm_80">
// PTX-SAME: .target sm_80
// PTX-SAME: .visible .entry k0_gelu(\0A\09.param .u64 .ptr .align 1 k0_gelu_param_0,\0A\09.param .u64 k0_gelu_param_1,\0A\09.param .u64 k0_gelu_param_2,\0A\09.param .u64 k0_gelu_param_3,\0A\09.param .u64 .ptr .align 1 k0_gelu_param_4\0A)
// PTX-SAME: .visible .entry k1_fused_attention(
// PTX-SAME: #gpu.object<#nvvm.target<O = 3, chip = "sm_90">
// PTX-SAME: .target sm_90

func.func private @k0_gelu_impl(%in: memref<?x16xf32, strided<[16, 1]>>,
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

func.func private @k1_fused_attention_impl(%arg0: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg1: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg2: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg3: memref<2x?x8xf32, strided<[64, 8, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %c1 = arith.constant 1 : index
  %q0 = bufferization.to_tensor %arg0 restrict : memref<2x?x8xf32, strided<[64, 8, 1]>> to tensor<2x?x8xf32>
  %k0 = bufferization.to_tensor %arg1 restrict : memref<2x?x8xf32, strided<[64, 8, 1]>> to tensor<2x?x8xf32>
  %v0 = bufferization.to_tensor %arg2 restrict : memref<2x?x8xf32, strided<[64, 8, 1]>> to tensor<2x?x8xf32>
  %nq = tensor.dim %q0, %c1 : tensor<2x?x8xf32>
  %nk = tensor.dim %k0, %c1 : tensor<2x?x8xf32>
  %q = tensor.extract_slice %q0[%begin, 0, 0] [%count, %nq, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<?x?x8xf32>
  %k = tensor.extract_slice %k0[%begin, 0, 0] [%count, %nk, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<?x?x8xf32>
  %v = tensor.extract_slice %v0[%begin, 0, 0] [%count, %nk, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<?x?x8xf32>
  %o = attn.fused_attention %q, %k, %v scale(0.35) causal(%T, -1.0e+09) : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, index) -> tensor<?x?x8xf32>
  %dst = memref.subview %arg3[%begin, 0, 0] [%count, %nq, 8] [1, 1, 1] : memref<2x?x8xf32, strided<[64, 8, 1]>> to memref<?x?x8xf32, strided<[64, 8, 1], offset: ?>>
  bufferization.materialize_in_destination %o in restrict writable %dst : (tensor<?x?x8xf32>, memref<?x?x8xf32, strided<[64, 8, 1], offset: ?>>) -> ()
  return
}
