// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @embedding_table_rank(%t: tensor<768xf32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{expects 'table' of rank 2 [rows, dim], got 'tensor<768xf32>'}}
  %0 = attn.embedding %t[%ids] : (tensor<768xf32>, tensor<?xi32>) -> tensor<?x768xf32>
  return
}

// -----

func.func @embedding_ids_rank(%t: tensor<10x8xf32>, %ids: tensor<1x4xi32>) {
  // expected-error @+1 {{expects 'ids' of rank 1 [seq], got 'tensor<1x4xi32>'}}
  %0 = attn.embedding %t[%ids] : (tensor<10x8xf32>, tensor<1x4xi32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @embedding_ids_float(%t: tensor<10x8xf32>, %ids: tensor<4xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of signless integer or index values}}
  %0 = attn.embedding %t[%ids] : (tensor<10x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @embedding_dim(%t: tensor<10x8xf32>, %ids: tensor<4xi32>) {
  // expected-error @+1 {{dim of 'table' (8) does not match dim of 'result' (16): 'tensor<10x8xf32>' vs 'tensor<4x16xf32>'}}
  %0 = attn.embedding %t[%ids] : (tensor<10x8xf32>, tensor<4xi32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @embedding_seq(%t: tensor<10x8xf32>, %ids: tensor<4xi32>) {
  // expected-error @+1 {{seq of 'ids' (4) does not match seq of 'result' (5)}}
  %0 = attn.embedding %t[%ids] : (tensor<10x8xf32>, tensor<4xi32>) -> tensor<5x8xf32>
  return
}

// -----

func.func @linear_input_rank(%x: tensor<2x3x768xf32>, %w: tensor<768x64xf32>) {
  // expected-error @+1 {{expects 'input' of rank 2 [seq, in], got 'tensor<2x3x768xf32>'}}
  %0 = attn.linear %x, %w layout<in_out> : (tensor<2x3x768xf32>, tensor<768x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @linear_in_features_conv1d(%x: tensor<?x768xf32>, %w: tensor<64x768xf32>) {
  // expected-error @+1 {{in features of 'input' (768) does not match in features of 'weight' (64): 'tensor<?x768xf32>' vs 'tensor<64x768xf32>'}}
  %0 = attn.linear %x, %w layout<in_out> : (tensor<?x768xf32>, tensor<64x768xf32>) -> tensor<?x768xf32>
  return
}

// -----

func.func @linear_out_features_torch(%x: tensor<?x128xf32>, %w: tensor<64x128xf32>) {
  // expected-error @+1 {{out features of 'weight' (64) does not match out features of 'result' (128)}}
  %0 = attn.linear %x, %w layout<out_in> : (tensor<?x128xf32>, tensor<64x128xf32>) -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_bias_rank(%x: tensor<?x8xf32>, %w: tensor<8x4xf32>, %b: tensor<1x4xf32>) {
  // expected-error @+1 {{expects 'bias' of rank 1 [out], got 'tensor<1x4xf32>'}}
  %0 = attn.linear %x, %w, %b layout<in_out> : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_norm_size(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{in features of 'norm gamma' (4) does not match in features of 'input' (8): 'tensor<4xf32>' vs 'tensor<?x8xf32>'}}
  %0 = attn.linear %x, %w layout<out_in> norm(%g, %g eps(1.0e-05)) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_norm_rank(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{expects 'norm beta' of rank 1 [in], got 'tensor<1x8xf32>'}}
  %0 = attn.linear %x, %w layout<out_in> norm(%g, %b eps(1.0e-05)) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<1x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_norm_type(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf16>) {
  // expected-error @+1 {{'norm gamma' element type 'tensor<8xf16>' does not match 'input' 'tensor<?x8xf32>'}}
  %0 = attn.linear %x, %w layout<out_in> norm(%g, %g eps(1.0e-05)) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<8xf16>, tensor<8xf16>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_norm_epsilon(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{the norm's epsilon must be positive and finite, got 0}}
  %0 = attn.linear %x, %w layout<out_in> norm(%g, %g eps(0.0)) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x4xf32>
  return
}

// -----

// The generic form can leave out part of the norm.
func.func @linear_norm_without_epsilon(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{expects the norm's gamma, beta and epsilon together}}
  %0 = "attn.linear"(%x, %w, %g, %g) <{layout = #attn.layout<out_in>, operandSegmentSizes = array<i32: 1, 1, 0, 0, 1, 1>}> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_bias_size(%x: tensor<?x8xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{out features of 'bias' (8) does not match out features of 'weight' (4)}}
  %0 = attn.linear %x, %w, %b layout<in_out> : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_residual_type(%x: tensor<?x8xf32>, %w: tensor<8x4xf32>, %r: tensor<?x8xf32>) {
  // expected-error @+1 {{'residual' type 'tensor<?x8xf32>' does not match 'result' 'tensor<?x4xf32>'}}
  %0 = attn.linear %x, %w layout<in_out> residual %r : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<?x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_residual_element_type(%x: tensor<?x8xf32>, %w: tensor<8x4xf32>, %r: tensor<?x4xf16>) {
  // expected-error @+1 {{'residual' type 'tensor<?x4xf16>' does not match 'result' 'tensor<?x4xf32>'}}
  %0 = attn.linear %x, %w layout<in_out> residual %r : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<?x4xf16>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_unknown_activation(%x: tensor<?x8xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+2 {{expected ::mlir::attn::Activation to be one of: gelu}}
  // expected-error @+1 {{failed to parse Attn_ActivationAttr parameter 'value'}}
  %0 = attn.linear %x, %w layout<in_out> activation<relu> : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_bias_type(%x: tensor<?x8xf32>, %w: tensor<8x4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{'bias' element type 'tensor<4xf16>' does not match 'input' 'tensor<?x8xf32>'}}
  %0 = attn.linear %x, %w, %b layout<in_out> : (tensor<?x8xf32>, tensor<8x4xf32>, tensor<4xf16>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_element_types(%x: tensor<?x8xf16>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{failed to verify that all of {input, result} have same element type}}
  %0 = attn.linear %x, %w layout<in_out> : (tensor<?x8xf16>, tensor<8x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_bad_layout(%x: tensor<?x8xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+2 {{expected ::mlir::attn::WeightLayout to be one of: in_out, out_in}}
  // expected-error @+1 {{failed to parse Attn_WeightLayoutAttr parameter 'value'}}
  %0 = attn.linear %x, %w layout<row_major> : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @layer_norm_features(%x: tensor<?x768xf32>, %g: tensor<512xf32>) {
  // expected-error @+1 {{features of 'input' (768) does not match features of 'gamma' (512)}}
  %0 = attn.layer_norm %x, %g, %g eps(1.0e-05) : tensor<?x768xf32>, tensor<512xf32>
  return
}

// -----

func.func @layer_norm_gamma_rank(%x: tensor<?x8xf32>, %g: tensor<1x8xf32>) {
  // expected-error @+1 {{expects 'gamma' of rank 1 [features], got 'tensor<1x8xf32>'}}
  %0 = attn.layer_norm %x, %g, %g eps(1.0e-05) : tensor<?x8xf32>, tensor<1x8xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<?x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be positive and finite, got 0.000000e+00}}
  %0 = attn.layer_norm %x, %g, %g eps(0.0) : tensor<?x8xf32>, tensor<8xf32>
  return
}

// -----

func.func @gelu_integer(%x: tensor<4xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of floating-point values, but got 'tensor<4xi32>'}}
  %0 = attn.gelu %x : tensor<4xi32>
  return
}

// -----

func.func @split_heads_hidden(%x: tensor<?x768xf32>) {
  // expected-error @+1 {{hidden size of 'input' (768) is not heads x head_dim of 'result': 'tensor<?x768xf32>' vs 'tensor<12x?x32xf32>'}}
  %0 = attn.split_heads %x : tensor<?x768xf32> -> tensor<12x?x32xf32>
  return
}

// -----

func.func @split_heads_dynamic_heads(%x: tensor<?x768xf32>) {
  // expected-error @+1 {{expects a static, positive number of heads in 'result', got 'tensor<?x?x64xf32>'}}
  %0 = attn.split_heads %x : tensor<?x768xf32> -> tensor<?x?x64xf32>
  return
}

// -----

// Found by the attn-ir fuzzer: zero heads divided the hidden size by zero.
func.func @split_heads_zero_heads(%x: tensor<?x768xf32>) {
  // expected-error @+1 {{expects a static, positive number of heads in 'result', got 'tensor<0x?x?xf32>'}}
  %0 = attn.split_heads %x : tensor<?x768xf32> -> tensor<0x?x?xf32>
  return
}

// -----

func.func @split_heads_seq(%x: tensor<5x768xf32>) {
  // expected-error @+1 {{seq of 'input' (5) does not match seq of 'result' (6)}}
  %0 = attn.split_heads %x : tensor<5x768xf32> -> tensor<12x6x64xf32>
  return
}

// -----

func.func @merge_heads_rank(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{expects 'input' of rank 3 [heads, seq, head_dim], got 'tensor<?x64xf32>'}}
  %0 = attn.merge_heads %x : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @merge_heads_hidden(%x: tensor<12x?x64xf32>) {
  // expected-error @+1 {{hidden size of 'result' (512) is not heads x head_dim of 'input'}}
  %0 = attn.merge_heads %x : tensor<12x?x64xf32> -> tensor<?x512xf32>
  return
}

// -----

func.func @qk_head_dim(%q: tensor<12x?x64xf32>, %k: tensor<12x?x32xf32>) {
  // expected-error @+1 {{head_dim of 'query' (64) does not match head_dim of 'key' (32): 'tensor<12x?x64xf32>' vs 'tensor<12x?x32xf32>'}}
  %0 = attn.qk_scores %q, %k : tensor<12x?x64xf32>, tensor<12x?x32xf32> -> tensor<12x?x?xf32>
  return
}

// -----

func.func @qk_heads(%q: tensor<12x?x64xf32>, %k: tensor<4x?x64xf32>) {
  // expected-error @+1 {{heads of 'query' (12) does not match heads of 'key' (4)}}
  %0 = attn.qk_scores %q, %k : tensor<12x?x64xf32>, tensor<4x?x64xf32> -> tensor<12x?x?xf32>
  return
}

// -----

func.func @qk_query_rank(%q: tensor<?x64xf32>, %k: tensor<1x?x64xf32>) {
  // expected-error @+1 {{expects 'query' of rank 3 [heads, queries, head_dim], got 'tensor<?x64xf32>'}}
  %0 = attn.qk_scores %q, %k : tensor<?x64xf32>, tensor<1x?x64xf32> -> tensor<1x?x?xf32>
  return
}

// -----

func.func @qk_result_keys(%q: tensor<1x4x64xf32>, %k: tensor<1x7x64xf32>) {
  // expected-error @+1 {{keys of 'key' (7) does not match keys of 'result' (4)}}
  %0 = attn.qk_scores %q, %k : tensor<1x4x64xf32>, tensor<1x7x64xf32> -> tensor<1x4x4xf32>
  return
}

// -----

func.func @qk_result_queries(%q: tensor<1x4x64xf32>, %k: tensor<1x7x64xf32>) {
  // expected-error @+1 {{queries of 'query' (4) does not match queries of 'result' (7)}}
  %0 = attn.qk_scores %q, %k : tensor<1x4x64xf32>, tensor<1x7x64xf32> -> tensor<1x7x7xf32>
  return
}

// -----

func.func @scale_integer(%x: tensor<4xi8>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of floating-point values}}
  %0 = attn.scale %x by 2.0 : tensor<4xi8>
  return
}

// -----

func.func @causal_mask_rank(%s: tensor<?x?xf32>, %off: index) {
  // expected-error @+1 {{expects 'input' of rank 3 [heads, queries, keys], got 'tensor<?x?xf32>'}}
  %0 = attn.causal_mask %s, %off fill(-1.0e+09) : tensor<?x?xf32>
  return
}

// -----

func.func @causal_mask_nan(%s: tensor<1x?x?xf32>, %off: index) {
  // expected-error @+1 {{mask fill value must not be NaN}}
  %0 = attn.causal_mask %s, %off fill(0x7FF8000000000000) : tensor<1x?x?xf32>
  return
}

// -----

func.func @softmax_axis(%s: tensor<1x?x?xf32>) {
  // expected-error @+1 {{axis 3 is out of range for 'input' 'tensor<1x?x?xf32>' (rank 3)}}
  %0 = attn.softmax %s axis(3) : tensor<1x?x?xf32>
  return
}

// -----

func.func @softmax_negative_axis(%s: tensor<1x?x?xf32>) {
  // expected-error @+1 {{axis -1 is out of range for 'input' 'tensor<1x?x?xf32>' (rank 3)}}
  %0 = attn.softmax %s axis(-1) : tensor<1x?x?xf32>
  return
}

// -----

func.func @weighted_sum_keys(%p: tensor<1x4x7xf32>, %v: tensor<1x6x64xf32>) {
  // expected-error @+1 {{keys of 'probs' (7) does not match keys of 'value' (6): 'tensor<1x4x7xf32>' vs 'tensor<1x6x64xf32>'}}
  %0 = attn.weighted_sum %p, %v : tensor<1x4x7xf32>, tensor<1x6x64xf32> -> tensor<1x4x64xf32>
  return
}

// -----

func.func @weighted_sum_head_dim(%p: tensor<1x4x7xf32>, %v: tensor<1x7x64xf32>) {
  // expected-error @+1 {{head_dim of 'value' (64) does not match head_dim of 'result' (32)}}
  %0 = attn.weighted_sum %p, %v : tensor<1x4x7xf32>, tensor<1x7x64xf32> -> tensor<1x4x32xf32>
  return
}

// -----

func.func @weighted_sum_heads(%p: tensor<2x4x7xf32>, %v: tensor<3x7x64xf32>) {
  // expected-error @+1 {{heads of 'probs' (2) does not match heads of 'value' (3)}}
  %0 = attn.weighted_sum %p, %v : tensor<2x4x7xf32>, tensor<3x7x64xf32> -> tensor<2x4x64xf32>
  return
}

// -----

func.func @masked_softmax_scale(%s: tensor<1x?x?xf32>, %off: index) {
  // expected-error @+1 {{scale must be finite, got INF}}
  %0 = attn.masked_softmax %s, %off scale(0x7FF0000000000000) fill(-1.0e+09) : tensor<1x?x?xf32>
  return
}

// -----

func.func @masked_softmax_nan(%s: tensor<1x?x?xf32>, %off: index) {
  // expected-error @+1 {{mask fill value must not be NaN}}
  %0 = attn.masked_softmax %s, %off scale(1.0) fill(0x7FF8000000000000) : tensor<1x?x?xf32>
  return
}

// -----

func.func @fused_head_dim(%q: tensor<2x?x64xf32>, %k: tensor<2x?x32xf32>) {
  // expected-error @+1 {{head_dim of 'query' (64) does not match head_dim of 'key' (32)}}
  %0 = attn.fused_attention %q, %k, %k scale(1.0) : (tensor<2x?x64xf32>, tensor<2x?x32xf32>, tensor<2x?x32xf32>) -> tensor<2x?x32xf32>
  return
}

// -----

func.func @fused_keys(%q: tensor<2x?x64xf32>, %k: tensor<2x5x64xf32>, %v: tensor<2x6x64xf32>) {
  // expected-error @+1 {{keys of 'key' (5) does not match keys of 'value' (6)}}
  %0 = attn.fused_attention %q, %k, %v scale(1.0) : (tensor<2x?x64xf32>, tensor<2x5x64xf32>, tensor<2x6x64xf32>) -> tensor<2x?x64xf32>
  return
}

// -----

func.func @fused_value_heads(%q: tensor<2x?x64xf32>, %k: tensor<2x?x64xf32>, %v: tensor<3x?x64xf32>) {
  // expected-error @+1 {{heads of 'key' (2) does not match heads of 'value' (3)}}
  %0 = attn.fused_attention %q, %k, %v scale(1.0) : (tensor<2x?x64xf32>, tensor<2x?x64xf32>, tensor<3x?x64xf32>) -> tensor<2x?x64xf32>
  return
}

// -----

func.func @fused_offset_without_fill(%q: tensor<1x?x8xf32>, %off: index) {
  // expected-error @+1 {{expects the causal query offset and fill value together}}
  %0 = "attn.fused_attention"(%q, %q, %q, %off) <{scale = 1.0 : f64}> : (tensor<1x?x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32>, index) -> tensor<1x?x8xf32>
  return
}

// -----

func.func @fused_fill_without_offset(%q: tensor<1x?x8xf32>) {
  // expected-error @+1 {{expects the causal query offset and fill value together}}
  %0 = "attn.fused_attention"(%q, %q, %q) <{scale = 1.0 : f64, fill = -1.0e9 : f64}> : (tensor<1x?x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32>) -> tensor<1x?x8xf32>
  return
}

// -----

func.func @kv_write_capacity(%c: tensor<2x16x8xf32>, %rows: tensor<2x17x8xf32>, %pos: index) {
  // expected-error @+1 {{'rows' has 17 rows, more than the 'cache' capacity 16: 'tensor<2x17x8xf32>' vs 'tensor<2x16x8xf32>'}}
  %0 = attn.kv_cache_write %c[%pos], %rows : tensor<2x16x8xf32>, tensor<2x17x8xf32>
  return
}

// -----

func.func @kv_write_head_dim(%c: tensor<2x16x8xf32>, %rows: tensor<2x?x4xf32>, %pos: index) {
  // expected-error @+1 {{head_dim of 'cache' (8) does not match head_dim of 'rows' (4)}}
  %0 = attn.kv_cache_write %c[%pos], %rows : tensor<2x16x8xf32>, tensor<2x?x4xf32>
  return
}

// -----

func.func @kv_write_rank(%c: tensor<16x8xf32>, %rows: tensor<1x?x8xf32>, %pos: index) {
  // expected-error @+1 {{expects 'cache' of rank 3 [heads, capacity, head_dim], got 'tensor<16x8xf32>'}}
  %0 = attn.kv_cache_write %c[%pos], %rows : tensor<16x8xf32>, tensor<1x?x8xf32>
  return
}

// -----

func.func @kv_read_heads(%c: tensor<2x16x8xf32>, %len: index) {
  // expected-error @+1 {{heads of 'cache' (2) does not match heads of 'result' (4)}}
  %0 = attn.kv_cache_read %c[%len] : tensor<2x16x8xf32> -> tensor<4x?x8xf32>
  return
}

// -----

func.func @kv_read_capacity(%c: tensor<2x16x8xf32>, %len: index) {
  // expected-error @+1 {{'result' has 32 rows, more than the 'cache' capacity 16}}
  %0 = attn.kv_cache_read %c[%len] : tensor<2x16x8xf32> -> tensor<2x32x8xf32>
  return
}

// -----

// expected-error @+1 {{'attn.weight' of argument #0 must be a non-empty name, got 3 : i64}}
func.func @weight_name_not_string(%w: tensor<4xf32> {attn.weight = 3}) {
  return
}

// -----

// expected-error @+1 {{'attn.weight' of argument #0 must be a non-empty name, got ""}}
func.func @weight_name_empty(%w: tensor<4xf32> {attn.weight = ""}) {
  return
}

// -----

// expected-error @+1 {{'attn.weight' argument #1 ("h.0.ln_1.weight") must be a ranked tensor, got 'index'}}
func.func @weight_not_tensor(%x: tensor<4xf32>, %w: index {attn.weight = "h.0.ln_1.weight"}) {
  return
}

// -----

// expected-error @+1 {{'attn.transposed' of argument #0 must be a unit attribute}}
func.func @transposed_not_unit(%w: tensor<4x2xf32> {attn.weight = "w", attn.transposed = 1}) {
  return
}

// -----

// expected-error @+1 {{'attn.transposed' argument #0 must be a 2-D 'attn.weight' tensor}}
func.func @transposed_not_2d(%w: tensor<4xf32> {attn.weight = "w", attn.transposed}) {
  return
}

// -----

// expected-error @+1 {{'attn.transposed' argument #0 must be a 2-D 'attn.weight' tensor}}
func.func @transposed_not_weight(%w: tensor<4x2xf32> {attn.transposed}) {
  return
}

// -----

// expected-error @+1 {{unknown attn argument attribute 'attn.weigth'}}
func.func @weight_typo(%w: tensor<4xf32> {attn.weigth = "wte.weight"}) {
  return
}

// -----

// expected-error @+1 {{'attn.kv_cache' argument #0 ("h.0.k") must be a ranked tensor, got 'i32'}}
func.func @kv_cache_not_tensor(%c: i32 {attn.kv_cache = "h.0.k"}) {
  return
}

// -----

func.func @add_rank(%x: tensor<?x8xf32>, %y: tensor<8xf32>) {
  // expected-error @+1 {{expects 'rhs' of the rank of 'lhs', got 'tensor<8xf32>' and 'tensor<?x8xf32>'}}
  %0 = attn.add %x, %y : tensor<?x8xf32>, tensor<8xf32>
  return
}

// -----

func.func @add_shape(%x: tensor<?x8xf32>, %y: tensor<2x4xf32>) {
  // expected-error @+1 {{axis 1 of 'lhs' (8) does not match axis 1 of 'rhs' (4)}}
  %0 = attn.add %x, %y : tensor<?x8xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @linear_wider_weight(%x: tensor<?x8xf16>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{'weight' elements of type 'f32' cannot feed 'f16' computation (only the same type, or f16/bf16 into f32)}}
  %0 = attn.linear %x, %w layout<in_out> : (tensor<?x8xf16>, tensor<8x4xf32>) -> tensor<?x4xf16>
  return
}

// -----

func.func @embedding_integer_table(%t: tensor<10x4xf64>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{'table' elements of type 'f64' cannot feed 'f32' computation}}
  %0 = attn.embedding %t[%ids] : (tensor<10x4xf64>, tensor<?xi32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @cached_value_cache_dim(%q: tensor<2x1x8xf32>, %v: tensor<2x1x4xf32>, %kc: tensor<2x16x8xf32>, %vc: tensor<2x16x8xf32>, %pos: index) {
  // expected-error @+1 {{head_dim of 'value_cache' (8) does not match head_dim of 'value' (4): 'tensor<2x16x8xf32>' vs 'tensor<2x1x4xf32>'}}
  %o:3 = attn.cached_attention %q, %q, %v into %kc, %vc[%pos] length(%pos) scale(1.0) causal(-1.0e9) : tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x1x4xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32> -> tensor<2x1x4xf32>
  return
}

// -----

func.func @cached_key_capacity(%q: tensor<2x?x8xf32>, %k: tensor<2x17x8xf32>, %kc: tensor<2x16x8xf32>, %pos: index) {
  // expected-error @+1 {{'key' has 17 rows, more than the 'key_cache' capacity 16}}
  %o:3 = attn.cached_attention %q, %k, %k into %kc, %kc[%pos] length(%pos) scale(1.0) causal(-1.0e9) : tensor<2x?x8xf32>, tensor<2x17x8xf32>, tensor<2x17x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  return
}

// -----

func.func @cached_heads(%q: tensor<3x1x8xf32>, %k: tensor<2x1x8xf32>, %kc: tensor<2x16x8xf32>, %pos: index) {
  // expected-error @+1 {{heads of 'query' (3) does not match heads of 'key' (2)}}
  %o:3 = attn.cached_attention %q, %k, %k into %kc, %kc[%pos] length(%pos) scale(1.0) causal(-1.0e9) : tensor<3x1x8xf32>, tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32> -> tensor<3x1x8xf32>
  return
}

// -----

func.func @cached_nan_fill(%q: tensor<2x1x8xf32>, %kc: tensor<2x16x8xf32>, %pos: index) {
  // expected-error @+1 {{mask fill value must not be NaN}}
  %o:3 = "attn.cached_attention"(%q, %q, %q, %kc, %kc, %pos, %pos) <{scale = 1.0 : f64, fill = 0x7FF8000000000000 : f64}> : (tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32>, index, index) -> (tensor<2x1x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32>)
  return
}

// -----

func.func @embedding_addend_dim(%t: tensor<10x8xf32>, %ids: tensor<?xi32>, %pos: tensor<?x4xf32>) {
  // expected-error @+1 {{dim of 'addend' (4) does not match dim of 'result' (8): 'tensor<?x4xf32>' vs 'tensor<?x8xf32>'}}
  %0 = attn.embedding %t[%ids] plus %pos : (tensor<10x8xf32>, tensor<?xi32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @embedding_addend_rows(%t: tensor<10x8xf32>, %ids: tensor<4xi32>, %pos: tensor<3x8xf32>) {
  // expected-error @+1 {{seq of 'addend' (3) does not match seq of 'result' (4)}}
  %0 = attn.embedding %t[%ids] plus %pos : (tensor<10x8xf32>, tensor<4xi32>, tensor<3x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @embedding_addend_type(%t: tensor<10x8xf32>, %ids: tensor<?xi32>, %pos: tensor<?x8xf16>) {
  // expected-error @+1 {{expects 'addend' of the result's element type, got 'tensor<?x8xf16>' vs 'tensor<?x8xf32>'}}
  %0 = attn.embedding %t[%ids] plus %pos : (tensor<10x8xf32>, tensor<?xi32>, tensor<?x8xf16>) -> tensor<?x8xf32>
  return
}

// -----

// expected-error @+1 {{'attn.alignment' of argument #0 must be a power-of-two integer, got 24 : i64}}
func.func private @alignment_not_power_of_two(%w: memref<4xf32> {attn.alignment = 24 : i64})

// -----

// expected-error @+1 {{'attn.alignment' of argument #0 must be a power-of-two integer, got "16"}}
func.func private @alignment_not_integer(%w: memref<4xf32> {attn.alignment = "16"})

// -----

// expected-error @+1 {{'attn.alignment' argument #0 must be a memref, got 'tensor<4xf32>'}}
func.func @alignment_of_tensor(%w: tensor<4xf32> {attn.alignment = 16 : i64}) {
  return
}
