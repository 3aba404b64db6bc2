// RUN: attn-opt %s -attn-lower-to-linalg -canonicalize -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-lower-to-linalg=key-tile=16 -split-input-file | FileCheck --check-prefix=TILE16 %s
// RUN: not attn-opt %s -attn-lower-to-linalg=key-tile=0 -split-input-file 2>&1 | FileCheck --check-prefix=TILE0 %s

// TILE16-LABEL: func.func @fused_attention_causal
// TILE16: arith.constant 16 : index
// TILE16: scf.for
// TILE0: key-tile must be positive, got 0

// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[$ID2:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[T:.*]]: tensor<10x4xf32>, %[[IDS:.*]]: tensor<?xi32>)
// CHECK: linalg.generic {indexing_maps = [#[[$ROW]], #[[$ID2]]], iterator_types = ["parallel", "parallel"]} ins(%[[IDS]] : tensor<?xi32>)
// CHECK: %[[R:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: %[[C:.*]] = linalg.index 1
// CHECK: tensor.extract %[[T]][%[[R]], %[[C]]]
// CHECK-NOT: attn.
func.func @embedding(%t: tensor<10x4xf32>, %ids: tensor<?xi32>) -> tensor<?x4xf32> {
  %e = attn.embedding %t[%ids] : (tensor<10x4xf32>, tensor<?xi32>) -> tensor<?x4xf32>
  return %e : tensor<?x4xf32>
}

// -----

// The addend is an input of the same generic, added to the gathered
// element; one row of it broadcasts over the rows.
// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[$FIRST:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-DAG: #[[$ID2:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @embedding_plus
// CHECK-SAME: (%[[T:.*]]: tensor<10x4xf32>, %[[IDS:.*]]: tensor<?xi32>, %[[P:.*]]: tensor<1x4xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[$ROW]], #[[$FIRST]], #[[$ID2]]], iterator_types = ["parallel", "parallel"]} ins(%[[IDS]], %[[P]] : tensor<?xi32>, tensor<1x4xf32>)
// CHECK: ^bb0(%{{.*}}: i32, %[[ROWP:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[E:.*]] = tensor.extract %[[T]]
// CHECK: arith.addf %[[E]], %[[ROWP]]
// CHECK-NOT: attn.
func.func @embedding_plus(%t: tensor<10x4xf32>, %ids: tensor<?xi32>, %p: tensor<1x4xf32>) -> tensor<?x4xf32> {
  %e = attn.embedding %t[%ids] plus %p : (tensor<10x4xf32>, tensor<?xi32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  return %e : tensor<?x4xf32>
}

// -----

// GPT-2's Conv1D: W is [in, out]; the output starts as the broadcast bias.
// Loops (s, i, o): the innermost walks rows of W and of the output.
// CHECK-DAG: #[[$X:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$O:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @linear_in_out
// CHECK-SAME: (%[[IN:.*]]: tensor<?x8xf32>, %[[WT:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<16xf32>)
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<16xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[$X]], #[[$W]], #[[$O]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[IN]], %[[WT]] : {{.*}}) outs(%[[INIT]] : tensor<?x16xf32>)
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<reassoc,contract>
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc,contract>
func.func @linear_in_out(%x: tensor<?x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %0 = attn.linear %x, %w, %b layout<in_out> : (tensor<?x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// Weights stored in f16/bf16 are widened where they are read.
// CHECK-LABEL: func.func @narrow_weights
// CHECK: tensor.extract %{{.*}} : tensor<10x8xbf16>
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<8x4xf16>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.mulf
func.func @narrow_weights(%t: tensor<10x8xbf16>, %ids: tensor<?xi32>, %w: tensor<8x4xf16>) -> tensor<?x4xf32> {
  %x = attn.embedding %t[%ids] : (tensor<10x8xbf16>, tensor<?xi32>) -> tensor<?x8xf32>
  %y = attn.linear %x, %w layout<in_out> : (tensor<?x8xf32>, tensor<8x4xf16>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// torch.nn.Linear: W is [out, in]; no bias starts from zeros.
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func @linear_out_in
// CHECK: %[[Z:.*]] = linalg.fill
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[$W]], #{{.*}}], {{.*}} outs(%[[Z]] : tensor<?x16xf32>)
func.func @linear_out_in(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>) -> tensor<?x16xf32> {
  %0 = attn.linear %x, %w layout<out_in> : (tensor<?x8xf32>, tensor<16x8xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// A residual without an activation joins the bias in the accumulator's
// initial value.
// CHECK-LABEL: func.func @linear_residual
// CHECK-SAME: (%[[IN:.*]]: tensor<?x8xf32>, %[[WT:.*]]: tensor<16x8xf32>, %[[B:.*]]: tensor<16xf32>, %[[R:.*]]: tensor<?x16xf32>)
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[B]], %[[R]] : tensor<16xf32>, tensor<?x16xf32>)
// CHECK: arith.addf
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[IN]], %[[WT]] : {{.*}}) outs(%[[INIT]] : tensor<?x16xf32>)
// CHECK: return %[[Y]]
func.func @linear_residual(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>, %r: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = attn.linear %x, %w, %b layout<out_in> residual %r : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// An activation applies in place to the product (no new tensor), then the
// residual is added.
// CHECK-LABEL: func.func @linear_gelu_residual
// CHECK-SAME: (%[[IN:.*]]: tensor<?x8xf32>, %[[WT:.*]]: tensor<16x8xf32>, %[[R:.*]]: tensor<?x16xf32>)
// CHECK: %[[Z:.*]] = linalg.fill
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[IN]], %[[WT]] : {{.*}}) outs(%[[Z]] : tensor<?x16xf32>)
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[R]] : tensor<?x16xf32>) outs(%[[P]] : tensor<?x16xf32>)
// CHECK-NEXT: ^bb0(%[[RV:.*]]: f32, %[[PV:.*]]: f32):
// CHECK: math.tanh
// CHECK: %[[S:.*]] = arith.addf %{{.*}}, %[[RV]]
// CHECK-NEXT: linalg.yield %[[S]]
// CHECK: return %[[Y]]
func.func @linear_gelu_residual(%x: tensor<?x8xf32>, %w: tensor<16x8xf32>, %r: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = attn.linear %x, %w layout<out_in> activation<gelu> residual %r : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// Row by row, mean and variance as scalars (no [rows] temporaries), the
// normalized row written into the output's row.
// CHECK-LABEL: func.func @layer_norm
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999997E-7 : f32
// CHECK-DAG: %[[N:.*]] = arith.constant 1.600000e+01 : f32
// CHECK: %[[ROWS:.*]] = scf.for %[[R:.*]] = %c0 to %{{.*}} step %c1 iter_args(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x16xf32>)
// CHECK: %[[ROW:.*]] = tensor.extract_slice %{{.*}}[%[[R]], 0] [1, 16] [1, 1] : tensor<?x16xf32> to tensor<16xf32>
// CHECK: %[[SUM:.*]] = scf.for {{.*}} -> (f32)
// CHECK: arith.addf {{.*}} fastmath<reassoc,contract>
// CHECK: %[[MEAN:.*]] = arith.divf %[[SUM]], %[[N]]
// CHECK: scf.for {{.*}} -> (f32)
// CHECK: arith.subf %{{.*}}, %[[MEAN]]
// CHECK: arith.addf %{{.*}}, %[[EPS]]
// CHECK: %[[STD:.*]] = math.sqrt
// CHECK: %[[NORM:.*]] = linalg.generic {{.*}} ins(%[[ROW]], %{{.*}}, %{{.*}} : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
// CHECK: arith.divf %{{.*}}, %[[STD]]
// CHECK: tensor.insert_slice %[[NORM]] into %[[OUT]][%[[R]], 0] [1, 16] [1, 1]
// CHECK-NOT: tensor.empty
func.func @layer_norm(%x: tensor<?x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %0 = attn.layer_norm %x, %g, %b eps(1.0e-06) : tensor<?x16xf32>, tensor<16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// A linear with a norm: the row normalized first into a tensor of the
// input's shape (as attn.layer_norm lowers), which the product reads.
// CHECK-LABEL: func.func @linear_norm
// CHECK-SAME: (%[[IN:.*]]: tensor<1x16xf32>, %[[WT:.*]]: tensor<4x16xf32>, %[[G:.*]]: tensor<16xf32>, %[[B:.*]]: tensor<16xf32>)
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<1x16xf32>
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[IN]][0, 0] [1, 16] [1, 1] : tensor<1x16xf32> to tensor<16xf32>
// CHECK: math.sqrt
// CHECK: linalg.generic {{.*}} ins(%[[ROW]], %[[G]], %[[B]] : tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
// CHECK: %[[NORMED:.*]] = tensor.insert_slice %{{.*}} into %[[EMPTY]][0, 0] [1, 16] [1, 1]
// CHECK: %[[Z:.*]] = linalg.fill
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[NORMED]], %[[WT]] : tensor<1x16xf32>, tensor<4x16xf32>) outs(%[[Z]] : tensor<1x4xf32>)
// CHECK: return %[[P]]
func.func @linear_norm(%x: tensor<1x16xf32>, %w: tensor<4x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<1x4xf32> {
  %0 = attn.linear %x, %w layout<out_in> norm(%g, %b eps(1.0e-05)) : (tensor<1x16xf32>, tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

// CHECK-LABEL: func.func @gelu
// CHECK-DAG: arith.constant 5.000000e-01 : f32
// CHECK-DAG: arith.constant 4.471500e-02 : f32
// CHECK-DAG: arith.constant 0.797884583 : f32
// CHECK: linalg.generic
// CHECK: math.tanh
func.func @gelu(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = attn.gelu %x : tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// The seed adds pe[:1] to every position: the rhs is read at row 0.
// CHECK-DAG: #[[$BCAST:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[$BCAST]], #{{.*}}]
// CHECK: arith.addf
func.func @add_broadcast(%x: tensor<?x4xf32>, %row: tensor<1x4xf32>) -> tensor<?x4xf32> {
  %a = attn.add %x, %row : tensor<?x4xf32>, tensor<1x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @heads
// CHECK: %[[E:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2]] output_shape [%{{.*}}, 12, 64] : tensor<?x768xf32> into tensor<?x12x64xf32>
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[E]] : tensor<?x12x64xf32>) outs(%{{.*}} : tensor<12x?x64xf32>) permutation = [1, 0, 2]
// CHECK: %[[S:.*]] = linalg.generic {{.*}} ins(%[[T]]
// merge_heads gathers straight into its output: out[s, c] = in[c / 64, s, c % 64].
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x768xf32>)
// CHECK: %[[C:.*]] = linalg.index 1
// CHECK: %[[H:.*]] = arith.divui %[[C]], %c64
// CHECK: %[[E:.*]] = arith.remui %[[C]], %c64
// CHECK: %[[SEQ:.*]] = linalg.index 0
// CHECK: tensor.extract %[[S]][%[[H]], %[[SEQ]], %[[E]]]
// CHECK-NOT: tensor.collapse_shape
func.func @heads(%x: tensor<?x768xf32>) -> tensor<?x768xf32> {
  %h = attn.split_heads %x : tensor<?x768xf32> -> tensor<12x?x64xf32>
  // An intervening op keeps the pair from folding away.
  %s = attn.scale %h by 2.0 : tensor<12x?x64xf32>
  %m = attn.merge_heads %s : tensor<12x?x64xf32> -> tensor<?x768xf32>
  return %m : tensor<?x768xf32>
}

// -----

// Scores: loops (h, i, j, d), a dot product along head_dim. Weighted sum:
// loops (h, i, j, d) with the reduction over j, the innermost loop along
// rows of v and of the output.
// CHECK-DAG: #[[$Q:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[$K:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[$S:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @scores_and_weighted_sum
// CHECK: %[[SC:.*]] = linalg.generic {indexing_maps = [#[[$Q]], #[[$K]], #[[$S]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK: linalg.generic {indexing_maps = [#[[$S]], #[[$K]], #[[$Q]]], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%[[SC]]
func.func @scores_and_weighted_sum(%q: tensor<2x?x8xf32>, %k: tensor<2x?x8xf32>) -> tensor<2x?x8xf32> {
  %s = attn.qk_scores %q, %k : tensor<2x?x8xf32>, tensor<2x?x8xf32> -> tensor<2x?x?xf32>
  %o = attn.weighted_sum %s, %k : tensor<2x?x?xf32>, tensor<2x?x8xf32> -> tensor<2x?x8xf32>
  return %o : tensor<2x?x8xf32>
}

// -----

// Query i at absolute position offset + i sees key j iff j <= offset + i.
// CHECK-LABEL: func.func @causal_mask
// CHECK-SAME: %[[OFF:[a-z0-9]+]]: index
// CHECK-DAG: %[[FILL:.*]] = arith.constant -1.000000e+09 : f32
// CHECK: %[[I:.*]] = linalg.index 1
// CHECK: %[[J:.*]] = linalg.index 2
// CHECK: %[[LIMIT:.*]] = arith.addi %[[OFF]], %[[I]]
// CHECK: %[[SEE:.*]] = arith.cmpi ule, %[[J]], %[[LIMIT]]
// CHECK: arith.select %[[SEE]], %{{.*}}, %[[FILL]]
func.func @causal_mask(%s: tensor<2x?x?xf32>, %off: index) -> tensor<2x?x?xf32> {
  %m = attn.causal_mask %s, %off fill(-1.0e9) : tensor<2x?x?xf32>
  return %m : tensor<2x?x?xf32>
}

// -----

// Max, then the sum of exp(x - max), then exp(x - max) / sum.
// CHECK-LABEL: func.func @softmax
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[NEGINF]] : f32)
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]{{.*}} outs(%[[INIT]]
// CHECK: arith.maximumf
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[MAX]]
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[MAX]], %[[SUM]]
// CHECK: math.exp
// CHECK: arith.divf
func.func @softmax(%s: tensor<2x?x?xf32>) -> tensor<2x?x?xf32> {
  %p = attn.softmax %s axis(2) : tensor<2x?x?xf32>
  return %p : tensor<2x?x?xf32>
}

// -----

// Along a non-last axis the reduction moves to that loop.
// CHECK-DAG: #[[$ROWS:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @softmax_axis1
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[$ROWS]]], iterator_types = ["parallel", "reduction", "parallel"]}
func.func @softmax_axis1(%s: tensor<2x?x?xf32>) -> tensor<2x?x?xf32> {
  %p = attn.softmax %s axis(1) : tensor<2x?x?xf32>
  return %p : tensor<2x?x?xf32>
}

// -----

// The scale and mask are applied where each element is read, in all three
// passes over the scores.
// CHECK-LABEL: func.func @masked_softmax
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 1.250000e-01 : f32
// CHECK-COUNT-3: arith.mulf %{{.*}}, %[[SCALE]]
// CHECK-NOT: attn.
func.func @masked_softmax(%s: tensor<2x?x?xf32>, %off: index) -> tensor<2x?x?xf32> {
  %p = attn.masked_softmax %s, %off scale(0.125) fill(-3.4028234663852886e+38) : tensor<2x?x?xf32>
  return %p : tensor<2x?x?xf32>
}

// -----

// CHECK-LABEL: func.func @kv_cache
// CHECK-SAME: (%[[C:.*]]: tensor<2x16x4xf32>, %[[ROWS:.*]]: tensor<2x?x4xf32>, %[[POS:.*]]: index, %[[LEN:.*]]: index)
// CHECK: %[[N:.*]] = tensor.dim %[[ROWS]]
// CHECK: %[[W:.*]] = tensor.insert_slice %[[ROWS]] into %[[C]][0, %[[POS]], 0] [2, %[[N]], 4] [1, 1, 1]
// CHECK: tensor.extract_slice %[[W]][0, 0, 0] [2, %[[LEN]], 4] [1, 1, 1] : tensor<2x16x4xf32> to tensor<2x?x4xf32>
func.func @kv_cache(%c: tensor<2x16x4xf32>, %r: tensor<2x?x4xf32>, %pos: index, %len: index) -> tensor<2x?x4xf32> {
  %w = attn.kv_cache_write %c[%pos], %r : tensor<2x16x4xf32>, tensor<2x?x4xf32>
  %rd = attn.kv_cache_read %w[%len] : tensor<2x16x4xf32> -> tensor<2x?x4xf32>
  return %rd : tensor<2x?x4xf32>
}

// -----

// The cached attention is the composite it stands for: both caches written
// at the position, their first `length` rows read, and the fused attention's
// online softmax over the written keys, causal from the position.
// CHECK-LABEL: func.func @cached_attention
// CHECK-SAME: (%[[Q:.*]]: tensor<2x1x4xf32>, %[[K:.*]]: tensor<2x1x4xf32>, %[[V:.*]]: tensor<2x1x4xf32>, %[[KC:.*]]: tensor<2x16x4xf32>, %[[VC:.*]]: tensor<2x16x4xf32>, %[[POS:.*]]: index, %[[LEN:.*]]: index)
// CHECK-DAG: %[[KW:.*]] = tensor.insert_slice %[[K]] into %[[KC]][0, %[[POS]], 0] [2, 1, 4] [1, 1, 1]
// CHECK-DAG: %[[VW:.*]] = tensor.insert_slice %[[V]] into %[[VC]][0, %[[POS]], 0] [2, 1, 4] [1, 1, 1]
// CHECK-DAG: %[[KS:.*]] = tensor.extract_slice %[[KW]][0, 0, 0] [2, %[[LEN]], 4] [1, 1, 1]
// CHECK-DAG: tensor.extract_slice %[[VW]][0, 0, 0] [2, %[[LEN]], 4] [1, 1, 1]
// CHECK: arith.addi %[[POS]], %{{.*}}
// CHECK: tensor.extract %[[KS]]
// CHECK: return %{{.*}}, %[[KW]], %[[VW]]
// CHECK-NOT: attn.
func.func @cached_attention(%q: tensor<2x1x4xf32>, %k: tensor<2x1x4xf32>, %v: tensor<2x1x4xf32>, %kc: tensor<2x16x4xf32>, %vc: tensor<2x16x4xf32>, %pos: index, %len: index) -> (tensor<2x1x4xf32>, tensor<2x16x4xf32>, tensor<2x16x4xf32>) {
  %o, %kc2, %vc2 = attn.cached_attention %q, %k, %v into %kc, %vc[%pos] length(%len) scale(0.5) causal(-1.0e9) : tensor<2x1x4xf32>, tensor<2x1x4xf32>, tensor<2x1x4xf32>, tensor<2x16x4xf32>, tensor<2x16x4xf32> -> tensor<2x1x4xf32>
  return %o, %kc2, %vc2 : tensor<2x1x4xf32>, tensor<2x16x4xf32>, tensor<2x16x4xf32>
}

// -----

// The fused attention, one query row at a time: for each head and row, an
// online softmax over tiles of 64 keys carrying the running max and sum as
// scalars and the [16] output row; the [64] scores tile and the row are
// created once (alloc_tensor) and threaded through every loop, so they are
// one buffer each. A causal row with a -1e9 fill visits keys up to its own
// position, min(keys, off + i + 1); the short last tile reads its last key
// again and masks the slot with -inf.
// CHECK-LABEL: func.func @fused_attention_causal
// CHECK-SAME: (%[[Q:.*]]: tensor<2x?x8xf32>, %[[K:.*]]: tensor<2x?x8xf32>, %[[V:.*]]: tensor<2x?x16xf32>, %[[OFF:.*]]: index)
// CHECK-DAG: %[[FILL:.*]] = arith.constant -1.000000e+09 : f32
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[TILE:.*]] = arith.constant 64 : index
// CHECK: %[[SCORES:.*]] = bufferization.alloc_tensor() : tensor<64xf32>
// CHECK: %[[ACC:.*]] = bufferization.alloc_tensor() : tensor<16xf32>
// CHECK: scf.for %[[H:.*]] = %c0 to %c2 step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %[[SCORES]], %{{.*}} = %[[ACC]])
// CHECK: scf.for %[[I:.*]] = %c0 to %{{.*}} step %c1
// CHECK: %[[POS:.*]] = arith.addi %[[OFF]], %[[I]]
// CHECK: %[[NEXT:.*]] = arith.addi %[[POS]], %c1
// CHECK: %[[LIMIT:.*]] = arith.minsi %{{.*}}, %[[NEXT]]
// CHECK: %[[LAST:.*]] = arith.subi %[[LIMIT]], %c1
// CHECK: %[[QROW:.*]] = tensor.extract_slice %[[Q]][%[[H]], %[[I]], 0] [1, 1, 8] [1, 1, 1] : tensor<2x?x8xf32> to tensor<8xf32>
// CHECK: scf.for %[[START:.*]] = %c0 to %[[LIMIT]] step %[[TILE]] iter_args({{.*}}) -> (f32, f32, tensor<16xf32>, tensor<64xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[QROW]] : tensor<8xf32>) outs(%{{.*}} : tensor<64xf32>)
// CHECK: arith.minsi %{{.*}}, %[[LAST]]
// CHECK: tensor.extract %[[K]][%[[H]]
// The causal mask compares absolute key positions start + t with the row's.
// CHECK: arith.cmpi ule, %{{.*}}, %[[POS]]
// CHECK: arith.select %{{.*}}, %{{.*}}, %[[FILL]]
// CHECK: arith.cmpi ult, %{{.*}}, %[[LIMIT]]
// CHECK: arith.select %{{.*}}, %{{.*}}, %[[NEGINF]]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%{{.*}} : tensor<64xf32>) outs(%{{.*}} : tensor<16xf32>)
// CHECK: tensor.extract %[[V]][%[[H]]
// CHECK: scf.yield
// An empty row (l = 0) gives 0, not NaN.
// CHECK: arith.cmpf oeq
// CHECK: arith.divf
// CHECK: arith.select
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%[[H]], %[[I]], 0] [1, 1, 16]
// CHECK-NOT: attn.fused_attention
func.func @fused_attention_causal(%q: tensor<2x?x8xf32>, %k: tensor<2x?x8xf32>, %v: tensor<2x?x16xf32>, %off: index) -> tensor<2x?x16xf32> {
  %o = attn.fused_attention %q, %k, %v scale(1.0) causal(%off, -1.0e9) : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x16xf32>, index) -> tensor<2x?x16xf32>
  return %o : tensor<2x?x16xf32>
}

// -----

// Without a mask nothing compares positions; the scale multiplies each score.
// CHECK-LABEL: func.func @fused_attention_plain
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: scf.for
// CHECK-NOT: arith.cmpi ule
// CHECK: arith.mulf %{{.*}}, %[[SCALE]]
// CHECK: scf.yield
func.func @fused_attention_plain(%q: tensor<2x?x8xf32>) -> tensor<2x?x8xf32> {
  %o = attn.fused_attention %q, %q, %q scale(0.5) : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>) -> tensor<2x?x8xf32>
  return %o : tensor<2x?x8xf32>
}

// -----

// A mild fill (-2) leaves masked keys some weight: every key is visited and
// masked with the fill, none skipped.
// CHECK-LABEL: func.func @fused_attention_mild_fill
// CHECK-DAG: %[[FILL:.*]] = arith.constant -2.000000e+00 : f32
// CHECK: scf.for {{.*}} -> (tensor<1x?x4xf32>, tensor<64xf32>, tensor<4xf32>)
// CHECK: %[[NKEYS:.*]] = tensor.dim %{{.*}}, %c1 : tensor<1x?x4xf32>
// CHECK-NOT: arith.minsi
// CHECK: scf.for %{{.*}} = %c0 to %[[NKEYS]] step %c64
// CHECK: arith.select %{{.*}}, %{{.*}}, %[[FILL]]
func.func @fused_attention_mild_fill(%q: tensor<1x?x4xf32>, %off: index) -> tensor<1x?x4xf32> {
  %o = attn.fused_attention %q, %q, %q scale(1.0) causal(%off, -2.0) : (tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, index) -> tensor<1x?x4xf32>
  return %o : tensor<1x?x4xf32>
}
