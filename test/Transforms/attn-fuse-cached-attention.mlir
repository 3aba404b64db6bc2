// RUN: attn-opt %s -attn-fuse-cached-attention -split-input-file | FileCheck %s

// A decode step of GPT-2 after attn-fuse-attention: the new key and value
// rows go into the fused op, the cache writes and reads disappear, and the
// written caches the function returns are the fused op's results.
// CHECK-LABEL: func.func @decode_step
// CHECK-SAME: (%[[Q:.*]]: tensor<12x?x64xf32>, %[[K:.*]]: tensor<12x?x64xf32>, %[[V:.*]]: tensor<12x?x64xf32>, %[[KC:.*]]: tensor<12x1024x64xf32>, %[[VC:.*]]: tensor<12x1024x64xf32>, %[[POS:.*]]: index)
// CHECK: %[[LEN:.*]] = arith.addi %[[POS]], %c1
// CHECK-NOT: attn.kv_cache
// CHECK: %[[O:.*]], %[[KC2:.*]], %[[VC2:.*]] = attn.cached_attention %[[Q]], %[[K]], %[[V]] into %[[KC]], %[[VC]][%[[POS]]] length(%[[LEN]]) scale(1.250000e-01) causal(-3.4028234663852886E+38)
// CHECK-NOT: attn.kv_cache
// CHECK-NOT: attn.fused_attention
// CHECK: return %[[O]], %[[KC2]], %[[VC2]]
func.func @decode_step(%q: tensor<12x?x64xf32>, %k: tensor<12x?x64xf32>, %v: tensor<12x?x64xf32>, %kc: tensor<12x1024x64xf32>, %vc: tensor<12x1024x64xf32>, %pos: index) -> (tensor<12x?x64xf32>, tensor<12x1024x64xf32>, tensor<12x1024x64xf32>) {
  %c1 = arith.constant 1 : index
  %len = arith.addi %pos, %c1 : index
  %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %v : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
  %vs = attn.kv_cache_read %vc2[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
  %o = attn.fused_attention %q, %ks, %vs scale(0.125) causal(%pos, -3.4028234663852886e+38) : (tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>, index) -> tensor<12x?x64xf32>
  return %o, %kc2, %vc2 : tensor<12x?x64xf32>, tensor<12x1024x64xf32>, tensor<12x1024x64xf32>
}

// -----

// The causal offset is not where the rows were written: the queries would
// see other keys than the chain's, so nothing fuses.
// CHECK-LABEL: func.func @offset_is_not_position
// CHECK-COUNT-2: attn.kv_cache_write
// CHECK: attn.fused_attention
// CHECK-NOT: attn.cached_attention
func.func @offset_is_not_position(%q: tensor<2x?x8xf32>, %k: tensor<2x?x8xf32>, %kc: tensor<2x16x8xf32>, %vc: tensor<2x16x8xf32>, %pos: index, %off: index, %len: index) -> tensor<2x?x8xf32> {
  %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %vs = attn.kv_cache_read %vc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %o = attn.fused_attention %q, %ks, %vs scale(1.0) causal(%off, -1.0e9) : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, index) -> tensor<2x?x8xf32>
  return %o : tensor<2x?x8xf32>
}

// -----

// Keys and values read different lengths.
// CHECK-LABEL: func.func @different_lengths
// CHECK-NOT: attn.cached_attention
func.func @different_lengths(%q: tensor<2x?x8xf32>, %k: tensor<2x?x8xf32>, %kc: tensor<2x16x8xf32>, %vc: tensor<2x16x8xf32>, %pos: index, %len: index, %len2: index) -> tensor<2x?x8xf32> {
  %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %vs = attn.kv_cache_read %vc2[%len2] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %o = attn.fused_attention %q, %ks, %vs scale(1.0) causal(%pos, -1.0e9) : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, index) -> tensor<2x?x8xf32>
  return %o : tensor<2x?x8xf32>
}

// -----

// The key read has another user, and the written value cache is read again
// before the attention: both would need the cache before the fused op
// writes it.
// CHECK-LABEL: func.func @other_readers
// CHECK-NOT: attn.cached_attention
func.func @other_readers(%q: tensor<2x?x8xf32>, %k: tensor<2x?x8xf32>, %kc: tensor<2x16x8xf32>, %vc: tensor<2x16x8xf32>, %pos: index, %len: index) -> (tensor<2x?x8xf32>, tensor<2x?x8xf32>) {
  %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %vs = attn.kv_cache_read %vc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %o = attn.fused_attention %q, %ks, %vs scale(1.0) causal(%pos, -1.0e9) : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, index) -> tensor<2x?x8xf32>
  return %o, %ks : tensor<2x?x8xf32>, tensor<2x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @read_before_attention
// CHECK-NOT: attn.cached_attention
func.func @read_before_attention(%q: tensor<2x?x8xf32>, %k: tensor<2x?x8xf32>, %kc: tensor<2x16x8xf32>, %vc: tensor<2x16x8xf32>, %pos: index, %len: index) -> (tensor<2x?x8xf32>, tensor<2x?x8xf32>) {
  %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %vs = attn.kv_cache_read %vc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %early = attn.kv_cache_read %vc2[%pos] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %o = attn.fused_attention %q, %ks, %vs scale(1.0) causal(%pos, -1.0e9) : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, index) -> tensor<2x?x8xf32>
  return %o, %early : tensor<2x?x8xf32>, tensor<2x?x8xf32>
}

// -----

// Without a causal mask there is no position for the new rows' queries.
// CHECK-LABEL: func.func @not_causal
// CHECK-NOT: attn.cached_attention
func.func @not_causal(%q: tensor<2x?x8xf32>, %k: tensor<2x?x8xf32>, %kc: tensor<2x16x8xf32>, %vc: tensor<2x16x8xf32>, %pos: index, %len: index) -> tensor<2x?x8xf32> {
  %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %k : tensor<2x16x8xf32>, tensor<2x?x8xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %vs = attn.kv_cache_read %vc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %o = attn.fused_attention %q, %ks, %vs scale(1.0) : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>) -> tensor<2x?x8xf32>
  return %o : tensor<2x?x8xf32>
}

// -----

// The attention reads the written cache itself (as its query): the fused
// op would define what it reads.
// CHECK-LABEL: func.func @attention_reads_the_written_cache
// CHECK-NOT: attn.cached_attention
func.func @attention_reads_the_written_cache(%k: tensor<2x16x8xf32>, %kc: tensor<2x16x8xf32>, %vc: tensor<2x16x8xf32>, %pos: index, %len: index) -> tensor<2x16x8xf32> {
  %kc2 = attn.kv_cache_write %kc[%pos], %k : tensor<2x16x8xf32>, tensor<2x16x8xf32>
  %vc2 = attn.kv_cache_write %vc[%pos], %k : tensor<2x16x8xf32>, tensor<2x16x8xf32>
  %ks = attn.kv_cache_read %kc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %vs = attn.kv_cache_read %vc2[%len] : tensor<2x16x8xf32> -> tensor<2x?x8xf32>
  %o = attn.fused_attention %kc2, %ks, %vs scale(1.0) causal(%pos, -1.0e9) : (tensor<2x16x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, index) -> tensor<2x16x8xf32>
  return %o : tensor<2x16x8xf32>
}
