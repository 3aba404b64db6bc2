// RUN: attn-opt %s -attn-tile-contractions -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-tile-contractions=row-tile=4 -split-input-file | FileCheck --check-prefix=TILE4 %s
// RUN: not attn-opt %s -attn-tile-contractions=row-tile=0 2>&1 | FileCheck --check-prefix=ZERO %s

#x = affine_map<(s, i, o) -> (s, i)>
#w = affine_map<(s, i, o) -> (i, o)>
#out = affine_map<(s, i, o) -> (s, o)>

// GPT-2's Conv1D after attn-lower-to-linalg: loops (s, i, o). Rows are
// blocked by 16 and, inside a block, the reduction comes first.
// CHECK-LABEL: func.func @conv1d
// CHECK-SAME: (%[[X:.*]]: tensor<?x768xf32>, %[[W:.*]]: tensor<768x2304xf32>, %[[INIT:.*]]: tensor<?x2304xf32>)
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK: %[[R:.*]] = scf.for %[[S0:.*]] = %{{.*}} to %{{.*}} step %[[C16]] iter_args(%[[ACC:.*]] = %[[INIT]]) -> (tensor<?x2304xf32>)
// CHECK: %[[XT:.*]] = tensor.extract_slice %[[X]][%[[S0]], 0]
// CHECK: %[[OT:.*]] = tensor.extract_slice %[[ACC]][%[[S0]], 0]
// CHECK: %[[T:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "parallel"]} ins(%[[XT]], %{{.*}} : tensor<?x768xf32>, tensor<768x2304xf32>) outs(%[[OT]] : tensor<?x2304xf32>)
// CHECK: tensor.insert_slice %[[T]] into %[[ACC]][%[[S0]], 0]
// CHECK: return %[[R]]
// TILE4-LABEL: func.func @conv1d
// TILE4: arith.constant 4 : index
// ZERO: row-tile must be positive, got 0
func.func @conv1d(%x: tensor<?x768xf32>, %w: tensor<768x2304xf32>, %init: tensor<?x2304xf32>) -> tensor<?x2304xf32> {
  %r = linalg.generic {indexing_maps = [#x, #w, #out], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %w : tensor<?x768xf32>, tensor<768x2304xf32>) outs(%init : tensor<?x2304xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x2304xf32>
  return %r : tensor<?x2304xf32>
}

// -----

// A dot-product contraction (reduction innermost) is left alone.
// CHECK-LABEL: func.func @dot_rows
// CHECK-NOT: scf.for
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
func.func @dot_rows(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>, %init: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(s, o, i) -> (s, i)>, affine_map<(s, o, i) -> (o, i)>, affine_map<(s, o, i) -> (s, o)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x64xf32>, tensor<32x64xf32>) outs(%init : tensor<?x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}
