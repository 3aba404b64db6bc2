// RUN: attn-opt %s -attn-register-tile-contractions -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-register-tile-contractions=row-tile=2\ column-tile=3 -split-input-file | FileCheck --check-prefix=TILE23 %s
// RUN: attn-opt %s -attn-register-tile-contractions=column-block-bytes=4096 -split-input-file | FileCheck --check-prefix=SMALL %s
// RUN: not attn-opt %s -split-input-file -attn-register-tile-contractions=column-tile=0 2>&1 | FileCheck --check-prefix=ZERO %s

#x = affine_map<(s, o, k) -> (s, k)>
#w = affine_map<(s, o, k) -> (o, k)>
#out = affine_map<(s, o, k) -> (s, o)>

// A linear with an [out, in] weight after bufferization: full 4x4 tiles
// accumulate in 16 loop-carried scalars, a block of columns at a time for
// all row tiles (512 KiB of f32 weight rows: 131072 / 768 = 170, so 168
// columns); the
// ragged columns and rows keep the generic, on subviews.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: memref<?x768xf32, strided<[768, 1]>>, %[[W:.*]]: memref<2304x768xf32, strided<[768, 1]>>, %[[C:.*]]: memref<?x2304xf32, strided<[2304, 1]>>)
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[ROWS:.*]] = memref.dim %[[C]], %c0
// CHECK: %[[REM:.*]] = arith.remui %[[ROWS]], %[[C4]]
// CHECK: %[[FULL:.*]] = arith.subi %[[ROWS]], %[[REM]]
// CHECK: %[[FULLCOLS:.*]] = arith.subi
// CHECK: %[[BUDGET:.*]] = arith.constant 131072 : index
// CHECK: %[[PERROW:.*]] = arith.maxui %{{.*}}, %{{.*}}
// CHECK: %[[FIT:.*]] = arith.divui %[[BUDGET]], %[[PERROW]]
// CHECK: %[[BCOLS:.*]] = arith.maxui
// CHECK: scf.for %[[B:.*]] = %{{.*}} to %[[FULLCOLS]] step %[[BCOLS]]
// CHECK: %[[BEND:.*]] = arith.minui
// CHECK: scf.for %[[S0:.*]] = %{{.*}} to %[[FULL]] step %[[C4]]
// The k loop in chunks of 1024 (one here: 768 deep), each over all the
// block's column tiles.
// CHECK: %[[KSTEP:.*]] = arith.constant 1024 : index
// CHECK: scf.for %[[K0:.*]] = %{{.*}} to %{{.*}} step %[[KSTEP]]
// CHECK: %[[KEND:.*]] = arith.minui
// CHECK: scf.for %[[O0:.*]] = %[[B]] to %[[BEND]] step %[[C4]]
// CHECK-COUNT-16: memref.load %[[C]]
// CHECK: %[[R:.*]]:16 = scf.for %[[K:.*]] = %[[K0]] to %[[KEND]] step %{{.*}} iter_args
// CHECK-COUNT-4: memref.load %[[X]]
// CHECK-COUNT-4: memref.load %[[W]]
// CHECK-COUNT-16: arith.mulf
// CHECK: scf.yield
// CHECK-COUNT-16: memref.store %[[R]]#{{[0-9]+}}, %[[C]]
// The ragged columns of every full row, once, after the blocks.
// CHECK: memref.subview %[[X]][0, 0] [%{{.*}}, 768] [1, 1]
// CHECK: memref.subview %[[W]][%[[FULLCOLS]], 0] [%{{.*}}, 768] [1, 1] : memref<2304x768xf32, strided<[768, 1]>> to memref<?x768xf32, strided<[768, 1], offset: ?>>
// CHECK: linalg.generic
// The rows past the last full tile, one at a time, in 1x8 tiles.
// CHECK: scf.for
// CHECK: scf.for %[[R:.*]] = %[[FULL]] to %[[ROWS]] step %c1
// CHECK: scf.for
// CHECK: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK-COUNT-8: memref.store
// CHECK: memref.subview %[[X]][%[[FULL]], 0] [%{{.*}}, 768] [1, 1]
// CHECK: linalg.generic
// CHECK-NOT: linalg.generic
// A block smaller than one tile's weight rows still holds one tile.
// SMALL-LABEL: func.func @linear
// SMALL: arith.constant 1024 : index
// SMALL: %[[FIT:.*]] = arith.divui
// SMALL: %[[TILES:.*]] = arith.divui %[[FIT]], %[[C4:.*]] : index
// SMALL: %[[COLS:.*]] = arith.muli %[[TILES]], %[[C4]]
// SMALL: arith.maxui %[[COLS]], %[[C4]]
// TILE23-LABEL: func.func @linear
// TILE23: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32)
// ZERO: row-tile, column-tile, remainder-column-tile and k-block must be positive, got 4, 0, 8 and 1024
func.func @linear(%x: memref<?x768xf32, strided<[768, 1]>>, %w: memref<2304x768xf32, strided<[768, 1]>>, %c: memref<?x2304xf32, strided<[2304, 1]>>) {
  linalg.generic {indexing_maps = [#x, #w, #out], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x768xf32, strided<[768, 1]>>, memref<2304x768xf32, strided<[768, 1]>>) outs(%c : memref<?x2304xf32, strided<[2304, 1]>>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %m fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// f16 weights: the widening in the body is cloned with the multiply-add.
#x = affine_map<(s, o, k) -> (s, k)>
#w = affine_map<(s, o, k) -> (o, k)>
#out = affine_map<(s, o, k) -> (s, o)>

// CHECK-LABEL: func.func @linear_f16
// CHECK: scf.for {{.*}} iter_args
// CHECK-COUNT-16: arith.extf
// TILE23-LABEL: func.func @linear_f16
func.func @linear_f16(%x: memref<?x64xf32>, %w: memref<32x64xf16>, %c: memref<?x32xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #out], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x64xf32>, memref<32x64xf16>) outs(%c : memref<?x32xf32>) {
  ^bb0(%a: f32, %b: f16, %acc: f32):
    %e = arith.extf %b : f16 to f32
    %m = arith.mulf %a, %e : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Negative: an [in, out] weight (loops s, i, o) is attn-tile-contractions'.
// CHECK-LABEL: func.func @conv1d
// CHECK-NOT: scf.for
// CHECK: linalg.generic
#xi = affine_map<(s, i, o) -> (s, i)>
#wi = affine_map<(s, i, o) -> (i, o)>
#oi = affine_map<(s, i, o) -> (s, o)>
func.func @conv1d(%x: memref<?x8xf32>, %w: memref<8x4xf32>, %c: memref<?x4xf32>) {
  linalg.generic {indexing_maps = [#xi, #wi, #oi], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %w : memref<?x8xf32>, memref<8x4xf32>) outs(%c : memref<?x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Negative: rows of W not contiguous along k (a transposed view).
#x = affine_map<(s, o, k) -> (s, k)>
#w = affine_map<(s, o, k) -> (o, k)>
#out = affine_map<(s, o, k) -> (s, o)>

// CHECK-LABEL: func.func @strided_rows
// CHECK-NOT: scf.for
// CHECK: linalg.generic
func.func @strided_rows(%x: memref<?x8xf32>, %w: memref<4x8xf32, strided<[1, 4]>>, %c: memref<?x4xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #out], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x8xf32>, memref<4x8xf32, strided<[1, 4]>>) outs(%c : memref<?x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Negative: on tensors the pass does nothing (it runs after bufferization).
#x = affine_map<(s, o, k) -> (s, k)>
#w = affine_map<(s, o, k) -> (o, k)>
#out = affine_map<(s, o, k) -> (s, o)>

// CHECK-LABEL: func.func @on_tensors
// CHECK-NOT: scf.for
func.func @on_tensors(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %c: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %r = linalg.generic {indexing_maps = [#x, #w, #out], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x8xf32>, tensor<4x8xf32>) outs(%c : tensor<?x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}
