// RUN: attn-opt %s -split-input-file -attn-kernels-to-gpu -canonicalize -cse | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-kernels-to-gpu=block-size=128 | FileCheck %s --check-prefix=BS128
// RUN: attn-opt %s -split-input-file -attn-kernels-to-gpu=tensor-cores=false -canonicalize -cse | FileCheck %s --check-prefix=F32

// Kernels as the planner writes them (an attn op on tensor views of memref
// bindings over work items [begin, end)) become gpu.funcs with the CUDA ABI
// of artifact.fbs (bindings, S, T, work, workspace); the CPU impl and its C
// entry disappear.

// An elementwise op: one element per thread iteration, rows of 16 spread
// over the block (256 / 16 = 16 rows per block), the attn_memrefs read
// from the bindings pointer (9 words each: data, sizes[4], strides[4]).
// CHECK-NOT: func.func
// CHECK-LABEL: gpu.module @attn_kernels
// CHECK: gpu.func @k0_gelu(%[[B:.*]]: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %[[WORK:.*]]: i64, %{{.*}}: !llvm.ptr) kernel
// CHECK-SAME: attn.items_per_block = 16 : i64
// CHECK-SAME: attn.shared_memory_bytes = 0 : i64
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: %[[DATA0:.*]] = llvm.load %[[B]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[SIZE0:.*]] = llvm.getelementptr %[[B]][1] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: %[[IN:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<?x16xf32, strided<[16, 1]>>
// CHECK: llvm.getelementptr %[[B]][9] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: %[[OUT:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<?x16xf32, strided<[16, 1]>>
// CHECK: %[[N:.*]] = arith.index_cast %[[WORK]] : i64 to index
// CHECK: %[[BLOCK:.*]] = gpu.block_id x
// CHECK: %[[BEGIN:.*]] = arith.muli %[[BLOCK]], %c16
// CHECK: %[[NEXT:.*]] = arith.addi %[[BEGIN]], %c16
// CHECK: %[[END:.*]] = arith.minui %[[N]], %[[NEXT]]
// CHECK: %[[COUNT:.*]] = arith.subi %[[END]], %[[BEGIN]]
// CHECK: %[[TOTAL:.*]] = arith.muli %[[COUNT]], %c16
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: scf.for %[[E:.*]] = %[[TID]] to %[[TOTAL]] step %c256
// CHECK: %[[COL:.*]] = arith.remui %[[E]], %c16
// CHECK: %[[ROW:.*]] = arith.divui %[[E]], %c16
// CHECK: %[[R:.*]] = arith.addi %[[ROW]], %[[BEGIN]]
// CHECK: %[[X:.*]] = memref.load %[[IN]][%[[R]], %[[COL]]]
// CHECK: math.tanh
// CHECK: memref.store %{{.*}}, %[[OUT]][%[[R]], %[[COL]]]
// CHECK: gpu.return
// BS128: known_block_size = array<i32: 128, 1, 1>
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
func.func @k0_gelu(%arg0: !llvm.ptr, %arg1: i64, %arg2: i64, %arg3: i64, %arg4: i64) {
  return
}

// -----

// A linear on tensor cores: the same 64 x 64 block tiles, row tile
// groups and staging, but each staged value is split once, where it is
// stored, into two tf32 (hi: rounded to the nearest tf32, infinities and
// NaNs truncated; lo: the rest truncated) kept in hi and lo tiles padded
// to 72 columns; per 8-deep step each
// warp loads its mma.sync m16n8k8 fragments from both and runs lo x hi,
// hi x lo, hi x hi for each of its 2 x 2 fragments; the epilogue adds the
// bias at the store.
// CHECK-LABEL: gpu.func @k1_linear
// CHECK-SAME: workgroup(%[[XS:.*]] : memref<16x72xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WS:.*]] : memref<16x72xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[XLO:.*]] : memref<16x72xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WLO:.*]] : memref<16x72xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.grid_y = 16 : i64, attn.items_per_block = 64 : i64
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]], %c32
// CHECK: %[[GROUP:.*]] = arith.divui %[[LANE]], %c4
// CHECK: %[[T:.*]] = arith.remui %[[LANE]], %c4
// CHECK: scf.for
// CHECK: %[[X:.*]] = scf.if {{.*}} -> (f32)
// CHECK: memref.load %{{.*}} : memref<?x16xf32, strided<[16, 1]>>
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: %[[XBITS:.*]] = arith.bitcast %[[X]] : f32 to i32
// CHECK: %[[TRUNC:.*]] = arith.andi %[[XBITS]], %c-8192_i32 : i32
// CHECK: %[[HALFUP:.*]] = arith.addi %[[XBITS]], %c4096_i32 : i32
// CHECK: %[[ROUNDED:.*]] = arith.andi %[[HALFUP]], %c-8192_i32 : i32
// CHECK: %[[EXP:.*]] = arith.andi %[[XBITS]], %c2139095040_i32 : i32
// CHECK: %[[SPECIAL:.*]] = arith.cmpi eq, %[[EXP]], %c2139095040_i32 : i32
// CHECK: %[[HIBITS:.*]] = arith.select %[[SPECIAL]], %[[TRUNC]], %[[ROUNDED]] : i32
// CHECK: %[[HI:.*]] = arith.bitcast %[[HIBITS]] : i32 to f32
// CHECK: %[[REST:.*]] = arith.subf %[[X]], %[[HI]] fastmath<contract> : f32
// CHECK: %[[RESTBITS:.*]] = arith.bitcast %[[REST]] : f32 to i32
// CHECK: %[[LOBITS:.*]] = arith.andi %[[RESTBITS]], %c-8192_i32 : i32
// CHECK: %[[LO:.*]] = arith.bitcast %[[LOBITS]] : i32 to f32
// CHECK: memref.store %[[HI]], %[[XS]]
// CHECK: memref.store %[[LO]], %[[XLO]]
// CHECK: memref.store %{{.*}}, %[[WS]]
// CHECK: memref.store %{{.*}}, %[[WLO]]
// CHECK: gpu.barrier
// CHECK: %[[A0:.*]] = memref.load %[[XS]][%[[T]], %{{.*}}]
// CHECK: %[[A0I:.*]] = arith.bitcast %[[A0]] : f32 to i32
// CHECK: memref.load %[[WS]][%[[T]], %{{.*}}]
// CHECK: %[[ALO0:.*]] = memref.load %[[XLO]][%[[T]], %{{.*}}]
// CHECK: %[[ALO0I:.*]] = arith.bitcast %[[ALO0]] : f32 to i32
// CHECK: memref.load %[[WLO]][%[[T]], %{{.*}}]
// CHECK: nvvm.mma.sync A[%[[ALO0I]], {{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<tf32>, multiplicandBPtxType = #nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = 8, k = 8>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: nvvm.mma.sync A[%[[A0I]], {{.*}}]
// CHECK: nvvm.mma.sync A[%[[A0I]], {{.*}}]
// CHECK-COUNT-21: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: memref.load %{{.*}} : memref<48xf32, strided<[1]>>
// CHECK: memref.store %{{.*}} : memref<?x48xf32, strided<[48, 1]>>
// With tensor-cores=false, a linear split over output features, tiled through shared memory: 64
// features per block, 64 rows at a time (row tiles y, y + 16, ... on block
// y of 16), the reduction staged 16 at a time (x and the weight read in
// their own layout, f16 widened, zeros outside, stored as [k, row] and
// [k, feature] tiles padded to 65 columns), each of the 16 x 16 threads
// accumulating 4 x 4 outputs in registers (8 shared loads, 16
// multiply-adds per step), the bias added at the store.
// F32-LABEL: gpu.func @k1_linear
// F32-SAME: workgroup(%[[XS:.*]] : memref<16x65xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WS:.*]] : memref<16x65xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// F32-SAME: attn.grid_y = 16 : i64, attn.items_per_block = 64 : i64
// F32-SAME: known_block_size = array<i32: 256, 1, 1>
// F32: %[[BEGIN:.*]] = arith.muli %{{.*}}, %c64 : index
// F32: %[[Y:.*]] = gpu.block_id y
// F32: %[[TID:.*]] = gpu.thread_id x
// F32: %[[TX:.*]] = arith.remui %[[TID]], %c16
// F32: %[[TY:.*]] = arith.divui %[[TID]], %c16
// F32: %[[FIRST:.*]] = arith.muli %[[Y]], %c64
// F32: scf.for %[[ROWS:.*]] = %[[FIRST]] to %{{.*}} step %c1024
// F32: memref.load %{{.*}} : memref<?x16xf32, strided<[16, 1]>>
// F32: %[[W:.*]] = memref.load %{{.*}} : memref<16x48xf16, strided<[48, 1]>>
// F32: arith.extf %[[W]] : f16 to f32
// F32: memref.store %{{.*}}, %[[XS]][%[[TX]], %[[TY]]]
// F32: memref.store %{{.*}}, %[[WS]]
// F32: gpu.barrier
// F32: memref.load %[[XS]][%c0, %[[TY]]]
// F32: memref.load %[[WS]][%c0, %[[TX]]]
// F32-COUNT-6: memref.load {{.*}} : memref<16x65xf32, #gpu.address_space<workgroup>>
// F32-COUNT-16: arith.mulf
// F32: gpu.barrier
// F32: scf.if
// F32: %[[FEATURE:.*]] = arith.addi %[[BEGIN]], %[[TX]]
// F32: %[[BIAS:.*]] = memref.load %{{.*}}[%[[FEATURE]]] : memref<48xf32, strided<[1]>>
// F32: %[[SUM:.*]] = arith.addf %{{.*}}, %[[BIAS]]
// F32: memref.store %[[SUM]], %{{.*}}[%{{.*}}, %[[FEATURE]]] : memref<?x48xf32, strided<[48, 1]>>
func.func private @k1_linear_impl(%arg0: memref<?x16xf32, strided<[16, 1]>>, %arg1: memref<16x48xf16, strided<[48, 1]>>, %arg2: memref<48xf32, strided<[1]>>, %arg3: memref<?x48xf32, strided<[48, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<?x16xf32, strided<[16, 1]>> to tensor<?x16xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<16x48xf16, strided<[48, 1]>> to tensor<16x48xf16>
  %wc = tensor.extract_slice %w[0, %begin] [16, %count] [1, 1] : tensor<16x48xf16> to tensor<16x?xf16>
  %b = bufferization.to_tensor %arg2 restrict : memref<48xf32, strided<[1]>> to tensor<48xf32>
  %bc = tensor.extract_slice %b[%begin] [%count] [1] : tensor<48xf32> to tensor<?xf32>
  %y = attn.linear %x, %wc, %bc layout<in_out> : (tensor<?x16xf32>, tensor<16x?xf16>, tensor<?xf32>) -> tensor<?x?xf32>
  %c0 = arith.constant 0 : index
  %rows = memref.dim %arg3, %c0 : memref<?x48xf32, strided<[48, 1]>>
  %dst = memref.subview %arg3[0, %begin] [%rows, %count] [1, 1] : memref<?x48xf32, strided<[48, 1]>> to memref<?x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<?x?xf32>, memref<?x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}

// -----

// Two reduction slices (32 inputs): the first slice is loaded before the
// loop; each iteration stores the slice it carries into shared memory,
// then issues the next slice's loads (guarded: none past the last) before
// its tensor-core steps, and carries those values to the next iteration.
// CHECK-LABEL: gpu.func @k2_linear
// CHECK: %[[X0:.*]] = scf.if
// CHECK: memref.load %{{.*}} : memref<?x32xf32, strided<[32, 1]>>
// CHECK: %{{.*}}:24 = scf.for %[[K0:.*]] = %c0 to %c32 step %c16 iter_args(%{{.*}} = %cst, {{.*}}, %[[XV:.*]] = %[[X0]], {{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK: arith.subf %[[XV]]
// CHECK: memref.store %{{.*}}, %[[XS:.*]][%{{.*}}, %{{.*}}] : memref<16x72xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK: %[[NEXT:.*]] = arith.addi %[[K0]], %c16
// CHECK: arith.addi %[[NEXT]], %{{.*}}
// CHECK: scf.if
// CHECK: memref.load %{{.*}} : memref<?x32xf32, strided<[32, 1]>>
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: scf.yield
func.func private @k2_linear_impl(%arg0: memref<?x32xf32, strided<[32, 1]>>, %arg1: memref<48x32xf32, strided<[32, 1]>>, %arg2: memref<?x48xf32, strided<[48, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<?x32xf32, strided<[32, 1]>> to tensor<?x32xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x32xf32, strided<[32, 1]>> to tensor<48x32xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 32] [1, 1] : tensor<48x32xf32> to tensor<?x32xf32>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<?x32xf32>, tensor<?x32xf32>) -> tensor<?x?xf32>
  %c0 = arith.constant 0 : index
  %rows = memref.dim %arg2, %c0 : memref<?x48xf32, strided<[48, 1]>>
  %dst = memref.subview %arg2[0, %begin] [%rows, %count] [1, 1] : memref<?x48xf32, strided<[48, 1]>> to memref<?x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<?x?xf32>, memref<?x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}

// -----

// A one-row linear (decode) with an [out, in] weight: 8 features per block,
// halved until the launch has 256 blocks, so 48 features take one each; the
// reduction is split over 256 slices of threads reading along the weight's
// rows (here one step of up to 8 independent loads: 16 inputs over 256
// slices; indices past the end clamped and their products dropped); each
// warp adds its lanes' sums by shuffles, and the first thread the 8 warps'
// sums from shared memory.
// CHECK-LABEL: gpu.func @k5_linear
// CHECK-SAME: workgroup(%[[PARTIALS:.*]] : memref<256x1xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.items_per_block = 1 : i64
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[SLICE:.*]] = arith.remui %[[TID]], %c256
// CHECK: %[[COLUMN:.*]] = arith.divui %[[TID]], %c256
// CHECK: %[[PARTIAL:.*]] = scf.if
// CHECK: %[[I:.*]] = arith.minui %[[SLICE]], %c15
// CHECK: vector.load %{{.*}}[%{{.*}}, %[[I]]] {alignment = 2 : i64} : memref<48x16xbf16, strided<[16, 1]>>, vector<1xbf16>
// CHECK: %[[INSIDE:.*]] = arith.cmpi ult, %[[SLICE]], %c16
// CHECK: arith.select %[[INSIDE]]
// CHECK: gpu.shuffle xor %[[PARTIAL]]
// CHECK-COUNT-4: gpu.shuffle xor
// CHECK: %[[WARP:.*]] = arith.divui %[[SLICE]], %c32
// CHECK: memref.store %{{.*}}, %[[PARTIALS]][%[[WARP]], %[[COLUMN]]]
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args
// CHECK: memref.load %[[PARTIALS]][%{{.*}}, %[[TID]]]
// CHECK: memref.store %{{.*}} : memref<1x48xf32, strided<[48, 1]>>
func.func private @k5_linear_impl(%arg0: memref<1x16xf32, strided<[16, 1]>>, %arg1: memref<48x16xbf16, strided<[16, 1]>>, %arg2: memref<1x48xf32, strided<[48, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x16xf32, strided<[16, 1]>> to tensor<1x16xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x16xbf16, strided<[16, 1]>> to tensor<48x16xbf16>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 16] [1, 1] : tensor<48x16xbf16> to tensor<?x16xbf16>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x16xf32>, tensor<?x16xbf16>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}

// -----

// The features per block halve only as far as the launch keeps 256 blocks:
// GPT-2's 768-wide projection takes 2 (384 blocks), each over 128 slices,
// so 4 warp sums per feature meet in shared memory; 2048 features keep 8
// (256 blocks), each over one warp.
// CHECK-LABEL: gpu.func @k7_linear
// CHECK-SAME: workgroup(%[[PARTIALS:.*]] : memref<128x2xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.items_per_block = 2 : i64
// CHECK: %[[SLICE:.*]] = arith.remui %{{.*}}, %c128
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: scf.for %{{.*}} = %c0 to %c4 step %c1 iter_args
// CHECK-LABEL: gpu.func @k8_linear
// CHECK-SAME: workgroup(%[[P8:.*]] : memref<32x8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: attn.items_per_block = 8 : i64
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK: memref.load %[[P8]][%c0, %{{.*}}]
// CHECK-NEXT: arith.addf
func.func private @k7_linear_impl(%arg0: memref<1x16xf32, strided<[16, 1]>>, %arg1: memref<768x16xf32, strided<[16, 1]>>, %arg2: memref<1x768xf32, strided<[768, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x16xf32, strided<[16, 1]>> to tensor<1x16xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<768x16xf32, strided<[16, 1]>> to tensor<768x16xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 16] [1, 1] : tensor<768x16xf32> to tensor<?x16xf32>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x16xf32>, tensor<?x16xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x768xf32, strided<[768, 1]>> to memref<1x?xf32, strided<[768, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[768, 1], offset: ?>>) -> ()
  return
}
func.func private @k8_linear_impl(%arg0: memref<1x16xf32, strided<[16, 1]>>, %arg1: memref<2048x16xf32, strided<[16, 1]>>, %arg2: memref<1x2048xf32, strided<[2048, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x16xf32, strided<[16, 1]>> to tensor<1x16xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<2048x16xf32, strided<[16, 1]>> to tensor<2048x16xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 16] [1, 1] : tensor<2048x16xf32> to tensor<?x16xf32>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x16xf32>, tensor<?x16xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x2048xf32, strided<[2048, 1]>> to memref<1x?xf32, strided<[2048, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[2048, 1], offset: ?>>) -> ()
  return
}

// -----

// Bindings whose offsets the planner aligned (`attn.alignment`) and rows of
// whole 16-byte multiples: an f32 weight is read 4 elements per load, a
// bf16 weight 8, with the input row alike (8 f32 lanes: 32 bytes); the
// chunks of a thread are 4 (8) elements apart per slice, the partial sums
// vectors reduced once after the loop. Every multiply may contract with
// the add it feeds (an fma).
// CHECK-LABEL: gpu.func @k10_linear
// CHECK: %[[SLICE:.*]] = arith.remui %{{.*}}, %c256
// CHECK: %[[C:.*]] = arith.minui %[[SLICE]], %c7
// CHECK: %[[I:.*]] = arith.muli %[[C]], %c4
// CHECK: %[[W:.*]] = vector.load %{{.*}}[%{{.*}}, %[[I]]] {alignment = 16 : i64} : memref<48x32xf32, strided<[32, 1]>>, vector<4xf32>
// CHECK: %[[X:.*]] = vector.load %{{.*}}[%c0, %[[I]]] {alignment = 16 : i64} : memref<1x32xf32, strided<[32, 1]>>, vector<4xf32>
// CHECK: arith.mulf %[[X]], %[[W]] fastmath<contract> : vector<4xf32>
// CHECK: arith.cmpi ult, %[[SLICE]], %c8
// CHECK: vector.reduction <add>, %{{.*}} : vector<4xf32> into f32
// CHECK-LABEL: gpu.func @k11_linear
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<48x32xbf16, strided<[32, 1]>>, vector<8xbf16>
// CHECK: arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
// CHECK: vector.load %{{.*}} {alignment = 32 : i64} : memref<1x32xf32, strided<[32, 1]>>, vector<8xf32>
// CHECK: vector.reduction <add>, %{{.*}} : vector<8xf32> into f32
func.func private @k10_linear_impl(%arg0: memref<1x32xf32, strided<[32, 1]>> {attn.alignment = 256 : i64}, %arg1: memref<48x32xf32, strided<[32, 1]>> {attn.alignment = 256 : i64}, %arg2: memref<1x48xf32, strided<[48, 1]>> {attn.alignment = 256 : i64}, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x32xf32, strided<[32, 1]>> to tensor<1x32xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x32xf32, strided<[32, 1]>> to tensor<48x32xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 32] [1, 1] : tensor<48x32xf32> to tensor<?x32xf32>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x32xf32>, tensor<?x32xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}
func.func private @k11_linear_impl(%arg0: memref<1x32xf32, strided<[32, 1]>> {attn.alignment = 64 : i64}, %arg1: memref<48x32xbf16, strided<[32, 1]>> {attn.alignment = 16 : i64}, %arg2: memref<1x48xf32, strided<[48, 1]>> {attn.alignment = 256 : i64}, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x32xf32, strided<[32, 1]>> to tensor<1x32xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x32xbf16, strided<[32, 1]>> to tensor<48x32xbf16>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 32] [1, 1] : tensor<48x32xbf16> to tensor<?x32xbf16>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x32xf32>, tensor<?x32xbf16>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}

// -----

// Where the alignment is short of 16 bytes (an input at an odd offset, a
// weight binding at 8 bytes) or rows are no 16-byte multiple (24 bytes), the
// loads stay one element: the input's 4-byte alignment splits a wide load,
// the weight's and row length keep it scalar.
// CHECK-LABEL: gpu.func @k12_linear
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<48x32xf32, strided<[32, 1]>>, vector<4xf32>
// CHECK: vector.load %{{.*}} {alignment = 4 : i64} : memref<1x32xf32, strided<[32, 1]>>, vector<4xf32>
// CHECK-LABEL: gpu.func @k13_linear
// CHECK: vector.load %{{.*}} : memref<48x32xf32, strided<[32, 1]>>, vector<1xf32>
// CHECK-LABEL: gpu.func @k14_linear
// CHECK: vector.load %{{.*}} : memref<48x6xf32, strided<[6, 1]>>, vector<1xf32>
func.func private @k12_linear_impl(%arg0: memref<1x32xf32, strided<[32, 1]>> {attn.alignment = 4 : i64}, %arg1: memref<48x32xf32, strided<[32, 1]>> {attn.alignment = 256 : i64}, %arg2: memref<1x48xf32, strided<[48, 1]>> {attn.alignment = 256 : i64}, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x32xf32, strided<[32, 1]>> to tensor<1x32xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x32xf32, strided<[32, 1]>> to tensor<48x32xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 32] [1, 1] : tensor<48x32xf32> to tensor<?x32xf32>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x32xf32>, tensor<?x32xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}
func.func private @k13_linear_impl(%arg0: memref<1x32xf32, strided<[32, 1]>> {attn.alignment = 256 : i64}, %arg1: memref<48x32xf32, strided<[32, 1]>> {attn.alignment = 8 : i64}, %arg2: memref<1x48xf32, strided<[48, 1]>> {attn.alignment = 256 : i64}, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x32xf32, strided<[32, 1]>> to tensor<1x32xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x32xf32, strided<[32, 1]>> to tensor<48x32xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 32] [1, 1] : tensor<48x32xf32> to tensor<?x32xf32>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x32xf32>, tensor<?x32xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}
func.func private @k14_linear_impl(%arg0: memref<1x6xf32, strided<[6, 1]>> {attn.alignment = 256 : i64}, %arg1: memref<48x6xf32, strided<[6, 1]>> {attn.alignment = 256 : i64}, %arg2: memref<1x48xf32, strided<[48, 1]>> {attn.alignment = 256 : i64}, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x6xf32, strided<[6, 1]>> to tensor<1x6xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x6xf32, strided<[6, 1]>> to tensor<48x6xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 6] [1, 1] : tensor<48x6xf32> to tensor<?x6xf32>
  %y = attn.linear %x, %wc layout<out_in> : (tensor<1x6xf32>, tensor<?x6xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg2[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}

// -----

// A one-row linear with a norm (attn-fuse-linear-prologues): the block first
// copies the input row into shared memory and normalizes it there, as
// attn.layer_norm does (the sum and the centered squares each by a loop per
// thread over its own elements, shuffles across the warp and the 8 warps'
// values through shared memory), then the matrix-vector product reads the
// row from there.
// CHECK-LABEL: gpu.func @k9_linear
// CHECK-SAME: workgroup(%[[PARTIALS:.*]] : memref<256x1xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[ROW:.*]] : memref<16xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SCRATCH:.*]] : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: scf.for %[[C:.*]] = %[[TID]] to %c16 step %c256 {
// CHECK-NEXT: %[[XC:.*]] = memref.load %{{.*}}[%c0, %[[C]]] : memref<1x16xf32, strided<[16, 1]>>
// CHECK-NEXT: memref.store %[[XC]], %[[ROW]][%[[C]]]
// CHECK: %[[SUM:.*]] = scf.for %{{.*}} = %[[TID]] to %c16 step %c256
// CHECK: memref.load %[[ROW]]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[SCRATCH]]
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1
// CHECK: gpu.barrier
// CHECK: %[[MEAN:.*]] = arith.divf %{{.*}}, %cst
// CHECK: scf.for %{{.*}} = %[[TID]] to %c16 step %c256
// CHECK: arith.subf %{{.*}}, %[[MEAN]]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: %[[VAR:.*]] = arith.divf
// CHECK: %[[STD:.*]] = math.sqrt
// CHECK: scf.for %[[I:.*]] = %[[TID]] to %c16 step %c256
// CHECK: arith.divf %{{.*}}, %[[STD]]
// CHECK: memref.store %{{.*}}, %[[ROW]][%[[I]]]
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: vector.load %[[ROW]]
// CHECK: memref.store %{{.*}}, %[[PARTIALS]]
func.func private @k9_linear_impl(%arg0: memref<1x16xf32, strided<[16, 1]>>, %arg1: memref<48x16xf32, strided<[16, 1]>>, %arg2: memref<16xf32, strided<[1]>>, %arg3: memref<16xf32, strided<[1]>>, %arg4: memref<1x48xf32, strided<[48, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x16xf32, strided<[16, 1]>> to tensor<1x16xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x16xf32, strided<[16, 1]>> to tensor<48x16xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 16] [1, 1] : tensor<48x16xf32> to tensor<?x16xf32>
  %g = bufferization.to_tensor %arg2 restrict : memref<16xf32, strided<[1]>> to tensor<16xf32>
  %b = bufferization.to_tensor %arg3 restrict : memref<16xf32, strided<[1]>> to tensor<16xf32>
  %y = attn.linear %x, %wc layout<out_in> norm(%g, %b eps(1.0e-05)) : (tensor<1x16xf32>, tensor<?x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg4[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}

// -----

// A linear's epilogue where its result is stored: the bias, gelu, then the
// residual at the same (row, feature).
// CHECK-LABEL: gpu.func @k6_linear
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} iter_args
// CHECK: %[[BIAS:.*]] = memref.load %{{.*}} : memref<48xf32, strided<[1]>>
// CHECK: arith.addf %{{.*}}, %[[BIAS]]
// CHECK: math.tanh
// CHECK: %[[R:.*]] = memref.load %{{.*}}[%c0, %{{.*}}] : memref<1x48xf32, strided<[48, 1]>>
// CHECK: %[[Y:.*]] = arith.addf %{{.*}}, %[[R]]
// CHECK: memref.store %[[Y]], %{{.*}} : memref<1x48xf32, strided<[48, 1]>>
func.func private @k6_linear_impl(%arg0: memref<1x16xf32, strided<[16, 1]>>, %arg1: memref<48x16xf32, strided<[16, 1]>>, %arg2: memref<48xf32, strided<[1]>>, %arg3: memref<1x48xf32, strided<[48, 1]>>, %arg4: memref<1x48xf32, strided<[48, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<1x16xf32, strided<[16, 1]>> to tensor<1x16xf32>
  %w = bufferization.to_tensor %arg1 restrict : memref<48x16xf32, strided<[16, 1]>> to tensor<48x16xf32>
  %wc = tensor.extract_slice %w[%begin, 0] [%count, 16] [1, 1] : tensor<48x16xf32> to tensor<?x16xf32>
  %b = bufferization.to_tensor %arg2 restrict : memref<48xf32, strided<[1]>> to tensor<48xf32>
  %bc = tensor.extract_slice %b[%begin] [%count] [1] : tensor<48xf32> to tensor<?xf32>
  %r = bufferization.to_tensor %arg3 restrict : memref<1x48xf32, strided<[48, 1]>> to tensor<1x48xf32>
  %rc = tensor.extract_slice %r[0, %begin] [1, %count] [1, 1] : tensor<1x48xf32> to tensor<1x?xf32>
  %y = attn.linear %x, %wc, %bc layout<out_in> activation<gelu> residual %rc : (tensor<1x16xf32>, tensor<?x16xf32>, tensor<?xf32>, tensor<1x?xf32>) -> tensor<1x?xf32>
  %dst = memref.subview %arg4[0, %begin] [1, %count] [1, 1] : memref<1x48xf32, strided<[48, 1]>> to memref<1x?xf32, strided<[48, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<1x?xf32>, memref<1x?xf32, strided<[48, 1], offset: ?>>) -> ()
  return
}

// -----

// A layer norm: one row per warp (8 per block), each lane summing every
// 32nd element, the lanes' sums combined by butterfly shuffles; mean,
// biased variance and the normalized row in three passes.
// CHECK-LABEL: gpu.func @k2_layer_norm
// CHECK-SAME: attn.items_per_block = 8 : i64
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]], %c32
// CHECK: %[[WARP:.*]] = arith.divui %[[TID]], %c32
// CHECK: scf.for %[[E:.*]] = %[[WARP]] to %{{.*}} step %c8
// CHECK: %[[R:.*]] = arith.addi %[[E]], %{{.*}} : index
// CHECK: %[[PART:.*]] = scf.for %{{.*}} = %[[LANE]] to %c16 step %c32 iter_args({{.*}}) -> (f32)
// CHECK: %[[S16:.*]], %{{.*}} = gpu.shuffle xor %[[PART]], %c16_i32, %c32_i32 : f32
// CHECK: arith.addf %[[PART]], %[[S16]]
// CHECK-COUNT-4: gpu.shuffle xor
// CHECK: %[[SUM:.*]] = arith.addf
// CHECK: %[[MEAN:.*]] = arith.divf %[[SUM]], %cst
// CHECK: scf.for {{.*}} -> (f32)
// CHECK: arith.subf %{{.*}}, %[[MEAN]]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: %[[VAR:.*]] = arith.divf %{{.*}}, %cst
// CHECK: %[[SHIFTED:.*]] = arith.addf %[[VAR]], %{{.*}} : f32
// CHECK: %[[STD:.*]] = math.sqrt %[[SHIFTED]]
// CHECK: scf.for %[[J:.*]] = %[[LANE]] to %c16 step %c32
// CHECK: arith.divf %{{.*}}, %[[STD]]
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[R]], %[[J]]] : memref<?x16xf32, strided<[16, 1]>>
func.func private @k2_layer_norm_impl(%arg0: memref<?x16xf32, strided<[16, 1]>>, %arg1: memref<16xf32, strided<[1]>>, %arg2: memref<16xf32, strided<[1]>>, %arg3: memref<?x16xf32, strided<[16, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %x = bufferization.to_tensor %arg0 restrict : memref<?x16xf32, strided<[16, 1]>> to tensor<?x16xf32>
  %rows = tensor.extract_slice %x[%begin, 0] [%count, 16] [1, 1] : tensor<?x16xf32> to tensor<?x16xf32>
  %g = bufferization.to_tensor %arg1 restrict : memref<16xf32, strided<[1]>> to tensor<16xf32>
  %b = bufferization.to_tensor %arg2 restrict : memref<16xf32, strided<[1]>> to tensor<16xf32>
  %y = attn.layer_norm %rows, %g, %b eps(1.0e-05) : tensor<?x16xf32>, tensor<16xf32>
  %dst = memref.subview %arg3[%begin, 0] [%count, 16] [1, 1] : memref<?x16xf32, strided<[16, 1]>> to memref<?x16xf32, strided<[16, 1], offset: ?>>
  bufferization.materialize_in_destination %y in restrict writable %dst : (tensor<?x16xf32>, memref<?x16xf32, strided<[16, 1], offset: ?>>) -> ()
  return
}

// -----

// A KV cache write copies the rows into the cache's view.
// CHECK-LABEL: gpu.func @k4_kv_cache_write
// CHECK: scf.for
// CHECK: %[[V:.*]] = memref.load %{{.*}} : memref<2x?x8xf32, strided<[64, 8, 1]>>
// CHECK: memref.store %[[V]], %{{.*}} : memref<2x?x8xf32, strided<[64, 8, 1]>>
func.func private @k4_kv_cache_write_impl(%arg0: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg1: memref<2x?x8xf32, strided<[64, 8, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %c1 = arith.constant 1 : index
  %r = bufferization.to_tensor %arg0 restrict : memref<2x?x8xf32, strided<[64, 8, 1]>> to tensor<2x?x8xf32>
  %n = tensor.dim %r, %c1 : tensor<2x?x8xf32>
  %rs = tensor.extract_slice %r[%begin, 0, 0] [%count, %n, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<?x?x8xf32>
  %dst = memref.subview %arg1[%begin, 0, 0] [%count, %n, 8] [1, 1, 1] : memref<2x?x8xf32, strided<[64, 8, 1]>> to memref<?x?x8xf32, strided<[64, 8, 1], offset: ?>>
  bufferization.materialize_in_destination %rs in restrict writable %dst : (tensor<?x?x8xf32>, memref<?x?x8xf32, strided<[64, 8, 1], offset: ?>>) -> ()
  return
}

// -----

// The fused attention as a flash kernel: a block of 64 threads per head and
// group of query tiles (tiles y, y + 16, ... on block y of 16), one query
// per thread (tiles of 64 queries), K and V copied into shared memory 64 keys
// at a time between barriers, the online softmax in registers and private
// memory, acc / l at the end.
// CHECK-LABEL: gpu.func @k3_fused_attention
// CHECK-SAME: workgroup(%[[KS:.*]] : memref<64x8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[VS:.*]] : memref<64x8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: private(%[[QP:.*]] : memref<8xf32, #gpu.address_space<private>>, %[[ACC:.*]] : memref<8xf32, #gpu.address_space<private>>)
// CHECK-SAME: attn.grid_y = 16 : i64, attn.items_per_block = 1 : i64
// CHECK-SAME: known_block_size = array<i32: 64, 1, 1>
// CHECK: %[[HEAD:.*]] = gpu.block_id x
// CHECK: %[[Y:.*]] = gpu.block_id y
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[FIRST:.*]] = arith.muli %[[Y]], %c64
// CHECK: scf.for %[[QT:.*]] = %[[FIRST]] to %{{.*}} step %c1024
// CHECK: %[[Q:.*]] = arith.addi %[[QT]], %[[TID]]
// CHECK: %[[ACTIVE:.*]] = arith.cmpi ult, %[[Q]]
// CHECK: scf.if %[[ACTIVE]]
// CHECK: memref.store %{{.*}}, %[[QP]]
// CHECK: %[[STATE:.*]]:2 = scf.for %[[KT:.*]] = %c0 to %{{.*}} step %c64 iter_args(%[[M:.*]] = %cst{{.*}}, %[[L:.*]] = %cst{{.*}}) -> (f32, f32)
// CHECK: scf.for %{{.*}} = %[[TID]] to
// CHECK: memref.store %{{.*}}, %[[KS]]
// CHECK: scf.for %{{.*}} = %[[TID]] to
// CHECK: memref.store %{{.*}}, %[[VS]]
// CHECK: gpu.barrier
// CHECK: scf.if %[[ACTIVE]] -> (f32, f32)
// CHECK: scf.for {{.*}} iter_args(%[[M1:.*]] = %[[M]], %[[L1:.*]] = %[[L]]) -> (f32, f32)
// CHECK: %[[NEWMAX:.*]] = arith.maximumf %[[M1]]
// CHECK: math.exp
// CHECK: math.exp
// CHECK: memref.store %{{.*}}, %[[ACC]]
// CHECK: } else {
// CHECK: scf.yield %[[M]], %[[L]] : f32, f32
// CHECK: gpu.barrier
// CHECK: scf.if %[[ACTIVE]]
// CHECK: arith.divf %{{.*}}, %[[STATE]]#1
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[HEAD]], %[[Q]], %{{.*}}] : memref<2x?x8xf32, strided<[64, 8, 1]>>
func.func private @k3_fused_attention_impl(%arg0: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg1: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg2: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg3: memref<2x?x8xf32, strided<[64, 8, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
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

// -----

// A masked softmax over keys: one row (head, query) per warp; the scores
// scaled and masked at absolute key positions on every read.
// CHECK-LABEL: gpu.func @k6_masked_softmax
// CHECK-SAME: attn.items_per_block = 1 : i64
// CHECK: %[[T:.*]] = arith.index_cast %arg2 : i64 to index
// CHECK: scf.for %[[E:.*]] = %{{.*}} to %{{.*}} step %c8
// CHECK: %[[Q:.*]] = arith.remui %[[E]], %{{.*}}
// CHECK: %[[MAX:.*]] = scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %c32 iter_args
// CHECK: %[[S:.*]] = arith.mulf %{{.*}}, %cst
// CHECK: %[[LIMIT:.*]] = arith.addi %[[T]], %[[Q]]
// CHECK: %[[VISIBLE:.*]] = arith.cmpi ule, %[[J]], %[[LIMIT]]
// CHECK: arith.select %[[VISIBLE]], %[[S]], %cst
// CHECK: arith.maximumf
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: scf.for
// CHECK: math.exp
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: scf.for
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: memref.store
func.func private @k6_masked_softmax_impl(%arg0: memref<2x?x?xf32, strided<[64, 8, 1]>>, %arg1: memref<2x?x?xf32, strided<[64, 8, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %x = bufferization.to_tensor %arg0 restrict : memref<2x?x?xf32, strided<[64, 8, 1]>> to tensor<2x?x?xf32>
  %nq = tensor.dim %x, %c1 : tensor<2x?x?xf32>
  %nk = tensor.dim %x, %c2 : tensor<2x?x?xf32>
  %xs = tensor.extract_slice %x[%begin, 0, 0] [%count, %nq, %nk] [1, 1, 1] : tensor<2x?x?xf32> to tensor<?x?x?xf32>
  %p = attn.masked_softmax %xs, %T scale(0.5) fill(-1.0e+09) : tensor<?x?x?xf32>
  %dst = memref.subview %arg1[%begin, 0, 0] [%count, %nq, %nk] [1, 1, 1] : memref<2x?x?xf32, strided<[64, 8, 1]>> to memref<?x?x?xf32, strided<[64, 8, 1], offset: ?>>
  bufferization.materialize_in_destination %p in restrict writable %dst : (tensor<?x?x?xf32>, memref<?x?x?xf32, strided<[64, 8, 1], offset: ?>>) -> ()
  return
}

// -----

// A decode step's attention with fewer heads (2) than the GPU has SMs
// (flash-decoding): each head's keys split over up to 32 blocks along y of
// 128 threads, as many splits as the keys make of at least 32 (the blocks
// past them do nothing), block y taking ceil(keys / splits) of them;
// thread t takes keys first + t, first + t + 128, ... with its own online
// softmax, merged across the warp by shuffles and across the block's 4
// warps in shared memory. One split writes the output itself. Of several,
// each block writes its state (output row, maximum and sum) to the
// workspace, fences, and counts itself done on its head's counter; the
// block that counts `splits` merges the splits, writes the output and
// resets the counter.
// CHECK-LABEL: gpu.func @k7_fused_attention
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[WS:[a-z0-9]+]]: !llvm.ptr)
// CHECK-SAME: workgroup(%[[WMAX:.*]] : memref<4xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WSUM:.*]] : memref<4xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WACC:.*]] : memref<4x8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[LAST:.*]] : memref<1xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: private(%{{.*}} : memref<8xf32, #gpu.address_space<private>>, %[[ACC:.*]] : memref<8xf32, #gpu.address_space<private>>)
// CHECK-SAME: attn.grid_y = 32 : i64, attn.items_per_block = 1 : i64, attn.shared_memory_bytes = 0 : i64, attn.workspace_bytes = 2568 : i64, known_block_size = array<i32: 128, 1, 1>
// CHECK: %[[T:.*]] = arith.index_cast %arg2 : i64 to index
// CHECK: %[[HEAD:.*]] = gpu.block_id x
// CHECK: %[[SPLIT:.*]] = gpu.block_id y
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[KEYS:.*]] = memref.dim
// CHECK: %[[WARPS:.*]] = arith.divui %[[KEYS]], %c32
// CHECK: %[[SOME:.*]] = arith.maxui %[[WARPS]], %c1
// CHECK: %[[SPLITS:.*]] = arith.minui %[[SOME]], %c32
// CHECK: %[[CHUNK:.*]] = arith.ceildivui %[[KEYS]], %[[SPLITS]]
// CHECK: %[[FIRST:.*]] = arith.muli %[[SPLIT]], %[[CHUNK]]
// CHECK: %[[NEXT:.*]] = arith.addi %[[FIRST]], %[[CHUNK]]
// CHECK: %[[END:.*]] = arith.minui %[[KEYS]], %[[NEXT]]
// CHECK: %[[BUSY:.*]] = arith.cmpi ult, %[[SPLIT]], %[[SPLITS]]
// CHECK: scf.if %[[BUSY]]
// CHECK: %[[START:.*]] = arith.addi %[[FIRST]], %[[TID]]
// CHECK: %[[STATE:.*]]:2 = scf.for %[[KEY:.*]] = %[[START]] to %[[END]] step %c128 iter_args
// CHECK: arith.cmpi ule, %[[KEY]], %[[T]]
// CHECK: memref.store %{{.*}}, %[[ACC]]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[WMAX]]
// CHECK: gpu.barrier
// CHECK: %[[ALONE:.*]] = arith.cmpi eq, %[[SPLITS]], %c1
// CHECK: scf.if %[[ALONE]]
// CHECK: scf.for %{{.*}} = %[[TID]] to %c8 step %c128
// CHECK: memref.load %[[WMAX]]
// CHECK: memref.store %{{.*}}, %{{.*}} : memref<2x1x8xf32, strided<[8, 8, 1]>>
// CHECK: } else {
// CHECK: %[[ACCS:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<2x32x8xf32>
// CHECK: llvm.getelementptr %[[WS]][2048] : (!llvm.ptr) -> !llvm.ptr, i8
// CHECK: %[[STATS:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<2x32x2xf32>
// CHECK: llvm.getelementptr %[[WS]][2560] : (!llvm.ptr) -> !llvm.ptr, i8
// CHECK: %[[COUNTERS:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<2xi32>
// CHECK: scf.for %[[E:.*]] = %[[TID]] to %c8 step %c128
// CHECK: memref.load %[[WMAX]]
// CHECK: memref.store %{{.*}}, %[[ACCS]][%[[HEAD]], %[[SPLIT]], %[[E]]]
// CHECK: memref.store %{{.*}}, %[[STATS]][%[[HEAD]], %[[SPLIT]], %c0]
// CHECK: memref.store %{{.*}}, %[[STATS]][%[[HEAD]], %[[SPLIT]], %c1]
// CHECK: nvvm.memory.barrier <gpu>
// CHECK-NEXT: gpu.barrier
// CHECK: %[[TICKET:.*]] = memref.atomic_rmw addi %c1_i32, %[[COUNTERS]][%[[HEAD]]]
// CHECK: %[[LASTSPLIT:.*]] = arith.subi %[[SPLITS]], %c1
// CHECK: %[[LASTTICKET:.*]] = arith.index_cast %[[LASTSPLIT]] : index to i32
// CHECK: arith.cmpi eq, %[[TICKET]], %[[LASTTICKET]]
// CHECK: memref.store %{{.*}}, %[[LAST]][%c0]
// CHECK: gpu.barrier
// CHECK: %[[FLAG:.*]] = memref.load %[[LAST]][%c0]
// CHECK: %[[IS_LAST:.*]] = arith.cmpi ne, %[[FLAG]], %c0_i32
// CHECK: scf.if %[[IS_LAST]]
// CHECK-NEXT: nvvm.memory.barrier <gpu>
// CHECK: scf.for %[[E2:.*]] = %[[TID]] to %c8 step %c128
// CHECK: scf.for %[[W:.*]] = %c0 to %[[SPLITS]] step %c1
// CHECK: memref.load %[[STATS]][%[[HEAD]], %[[W]], %c0]
// CHECK: memref.load %[[ACCS]][%[[HEAD]], %{{.*}}, %[[E2]]]
// CHECK: arith.divf
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[HEAD]], %c0, %[[E2]]] : memref<2x1x8xf32, strided<[8, 8, 1]>>
// CHECK: memref.store %c0_i32, %[[COUNTERS]][%[[HEAD]]]
func.func private @k7_fused_attention_impl(%arg0: memref<2x1x8xf32, strided<[8, 8, 1]>>, %arg1: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg2: memref<2x?x8xf32, strided<[64, 8, 1]>>, %arg3: memref<2x1x8xf32, strided<[8, 8, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %c1 = arith.constant 1 : index
  %q0 = bufferization.to_tensor %arg0 restrict : memref<2x1x8xf32, strided<[8, 8, 1]>> to tensor<2x1x8xf32>
  %k0 = bufferization.to_tensor %arg1 restrict : memref<2x?x8xf32, strided<[64, 8, 1]>> to tensor<2x?x8xf32>
  %v0 = bufferization.to_tensor %arg2 restrict : memref<2x?x8xf32, strided<[64, 8, 1]>> to tensor<2x?x8xf32>
  %nk = tensor.dim %k0, %c1 : tensor<2x?x8xf32>
  %q = tensor.extract_slice %q0[%begin, 0, 0] [%count, 1, 8] [1, 1, 1] : tensor<2x1x8xf32> to tensor<?x1x8xf32>
  %k = tensor.extract_slice %k0[%begin, 0, 0] [%count, %nk, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<?x?x8xf32>
  %v = tensor.extract_slice %v0[%begin, 0, 0] [%count, %nk, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<?x?x8xf32>
  %o = attn.fused_attention %q, %k, %v scale(0.35) causal(%T, -1.0e+09) : (tensor<?x1x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, index) -> tensor<?x1x8xf32>
  %dst = memref.subview %arg3[%begin, 0, 0] [%count, 1, 8] [1, 1, 1] : memref<2x1x8xf32, strided<[8, 8, 1]>> to memref<?x1x8xf32, strided<[8, 8, 1], offset: ?>>
  bufferization.materialize_in_destination %o in restrict writable %dst : (tensor<?x1x8xf32>, memref<?x1x8xf32, strided<[8, 8, 1], offset: ?>>) -> ()
  return
}

// -----

// With as many heads as kDecodeTargetBlocks (128), the keys are not split:
// one block of 256 threads per head takes keys t, t + 256, ... each with its
// own online softmax; the states merge across each warp by shuffles and
// across the 8 warps in shared memory, rescaled to the overall maximum,
// and the block writes the output. No workspace.
// CHECK-LABEL: gpu.func @k8_fused_attention
// CHECK-SAME: workgroup(%[[WMAX:.*]] : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WSUM:.*]] : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[WACC:.*]] : memref<8x8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: private(%{{.*}} : memref<8xf32, #gpu.address_space<private>>, %[[ACC:.*]] : memref<8xf32, #gpu.address_space<private>>)
// CHECK-NOT: attn.grid_y
// CHECK-NOT: attn.workspace_bytes
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: %[[T:.*]] = arith.index_cast %arg2 : i64 to index
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[WARP:.*]] = arith.divui %[[TID]], %c32
// CHECK: %[[STATE:.*]]:2 = scf.for %[[KEY:.*]] = %[[TID]] to %{{.*}} step %c256 iter_args
// CHECK: arith.cmpi ule, %[[KEY]], %[[T]]
// CHECK: memref.store %{{.*}}, %[[ACC]]
// CHECK: gpu.shuffle xor %[[STATE]]#0, %c16_i32, %c32_i32
// CHECK-COUNT-4: arith.maximumf
// CHECK: math.exp
// CHECK-COUNT-5: gpu.shuffle xor
// Loops over head_dim are unrolled, so that the private rows are registers.
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[WACC]][%[[WARP]], %c0]
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: memref.store %{{.*}}, %[[WACC]][%[[WARP]], %c1]
// CHECK: memref.store %{{.*}}, %[[WMAX]][%[[WARP]]]
// CHECK: memref.store %{{.*}}, %[[WSUM]][%[[WARP]]]
// CHECK: gpu.barrier
// CHECK: scf.for %[[E:.*]] = %[[TID]] to %c8 step %c256
// CHECK: arith.divf
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %c0, %[[E]]] : memref<128x1x8xf32, strided<[8, 8, 1]>>
// CHECK-NOT: memref.atomic_rmw
// CHECK: gpu.return
func.func private @k8_fused_attention_impl(%arg0: memref<128x1x8xf32, strided<[8, 8, 1]>>, %arg1: memref<128x?x8xf32, strided<[64, 8, 1]>>, %arg2: memref<128x?x8xf32, strided<[64, 8, 1]>>, %arg3: memref<128x1x8xf32, strided<[8, 8, 1]>>, %S: index, %T: index, %begin: index, %end: index) {
  %count = arith.subi %end, %begin : index
  %c1 = arith.constant 1 : index
  %q0 = bufferization.to_tensor %arg0 restrict : memref<128x1x8xf32, strided<[8, 8, 1]>> to tensor<128x1x8xf32>
  %k0 = bufferization.to_tensor %arg1 restrict : memref<128x?x8xf32, strided<[64, 8, 1]>> to tensor<128x?x8xf32>
  %v0 = bufferization.to_tensor %arg2 restrict : memref<128x?x8xf32, strided<[64, 8, 1]>> to tensor<128x?x8xf32>
  %nk = tensor.dim %k0, %c1 : tensor<128x?x8xf32>
  %q = tensor.extract_slice %q0[%begin, 0, 0] [%count, 1, 8] [1, 1, 1] : tensor<128x1x8xf32> to tensor<?x1x8xf32>
  %k = tensor.extract_slice %k0[%begin, 0, 0] [%count, %nk, 8] [1, 1, 1] : tensor<128x?x8xf32> to tensor<?x?x8xf32>
  %v = tensor.extract_slice %v0[%begin, 0, 0] [%count, %nk, 8] [1, 1, 1] : tensor<128x?x8xf32> to tensor<?x?x8xf32>
  %o = attn.fused_attention %q, %k, %v scale(0.35) causal(%T, -1.0e+09) : (tensor<?x1x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, index) -> tensor<?x1x8xf32>
  %dst = memref.subview %arg3[%begin, 0, 0] [%count, 1, 8] [1, 1, 1] : memref<128x1x8xf32, strided<[8, 8, 1]>> to memref<?x1x8xf32, strided<[8, 8, 1], offset: ?>>
  bufferization.materialize_in_destination %o in restrict writable %dst : (tensor<?x1x8xf32>, memref<?x1x8xf32, strided<[8, 8, 1], offset: ?>>) -> ()
  return
}
