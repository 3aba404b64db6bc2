// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// CHECK-LABEL: func.func @model_ops
// CHECK-SAME: %[[WTE:[a-z0-9]+]]: tensor<50257x768xf32> {attn.weight = "wte.weight"}
func.func @model_ops(%ids: tensor<?xi32>,
                     %wte: tensor<50257x768xf32> {attn.weight = "wte.weight"},
                     %w: tensor<768x2304xf32>, %b: tensor<2304xf32>,
                     %wl: tensor<2304x768xf32>,
                     %g: tensor<768xf32>, %beta: tensor<768xf32>)
    -> tensor<?x2304xf32> {
  // CHECK: %[[X:.*]] = attn.embedding %[[WTE]][%{{.*}}] : (tensor<50257x768xf32>, tensor<?xi32>) -> tensor<?x768xf32>
  %x = attn.embedding %wte[%ids] : (tensor<50257x768xf32>, tensor<?xi32>) -> tensor<?x768xf32>
  // CHECK: %[[N:.*]] = attn.layer_norm %[[X]], %{{.*}}, %{{.*}} eps(1.000000e-05) : tensor<?x768xf32>, tensor<768xf32>
  %n = attn.layer_norm %x, %g, %beta eps(1.0e-05) : tensor<?x768xf32>, tensor<768xf32>
  // CHECK: %[[QKV:.*]] = attn.linear %[[N]], %{{.*}}, %{{.*}} layout<in_out> : (tensor<?x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>) -> tensor<?x2304xf32>
  %qkv = attn.linear %n, %w, %b layout<in_out> : (tensor<?x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>) -> tensor<?x2304xf32>
  // CHECK: attn.linear %[[N]], %{{.*}} layout<out_in> : (tensor<?x768xf32>, tensor<2304x768xf32>) -> tensor<?x2304xf32>
  %nobias = attn.linear %n, %wl layout<out_in> : (tensor<?x768xf32>, tensor<2304x768xf32>) -> tensor<?x2304xf32>
  // CHECK: attn.linear %[[N]], %{{.*}}, %{{.*}} layout<in_out> activation<gelu> residual %[[QKV]] : (tensor<?x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>, tensor<?x2304xf32>) -> tensor<?x2304xf32>
  %epilogue = attn.linear %n, %w, %b layout<in_out> activation<gelu> residual %qkv : (tensor<?x768xf32>, tensor<768x2304xf32>, tensor<2304xf32>, tensor<?x2304xf32>) -> tensor<?x2304xf32>
  // CHECK: attn.linear %[[N]], %{{.*}} layout<out_in> residual %[[QKV]] : (tensor<?x768xf32>, tensor<2304x768xf32>, tensor<?x2304xf32>) -> tensor<?x2304xf32>
  %residual = attn.linear %n, %wl layout<out_in> residual %qkv : (tensor<?x768xf32>, tensor<2304x768xf32>, tensor<?x2304xf32>) -> tensor<?x2304xf32>
  // CHECK: attn.linear %[[X]], %{{.*}} layout<out_in> norm(%{{.*}}, %{{.*}} eps(1.000000e-05)) activation<gelu> residual %[[QKV]] : (tensor<?x768xf32>, tensor<2304x768xf32>, tensor<?x2304xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x2304xf32>
  %normalized = attn.linear %x, %wl layout<out_in> norm(%g, %beta eps(1.0e-05)) activation<gelu> residual %qkv : (tensor<?x768xf32>, tensor<2304x768xf32>, tensor<?x2304xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x2304xf32>
  // CHECK: %[[G:.*]] = attn.gelu %[[QKV]] : tensor<?x2304xf32>
  %gl = attn.gelu %qkv : tensor<?x2304xf32>
  // CHECK: attn.add %[[G]], %{{.*}} : tensor<?x2304xf32>, tensor<?x2304xf32>
  %sum = attn.add %gl, %nobias : tensor<?x2304xf32>, tensor<?x2304xf32>
  // CHECK: attn.add %{{.*}}, %{{.*}} : tensor<?x768xf32>, tensor<1x768xf32>
  %row = tensor.extract_slice %wl[0, 0] [1, 768] [1, 1] : tensor<2304x768xf32> to tensor<1x768xf32>
  %bcast = attn.add %x, %row : tensor<?x768xf32>, tensor<1x768xf32>
  return %sum : tensor<?x2304xf32>
}

// CHECK-LABEL: func.func @seed_attention
func.func @seed_attention(%x: tensor<?x768xf32>, %off: index) -> tensor<?x768xf32> {
  // CHECK: %[[H:.*]] = attn.split_heads %{{.*}} : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %h = attn.split_heads %x : tensor<?x768xf32> -> tensor<12x?x64xf32>
  // CHECK: %[[S:.*]] = attn.qk_scores %[[H]], %[[H]] : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
  %s = attn.qk_scores %h, %h : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
  // CHECK: %[[SC:.*]] = attn.scale %[[S]] by 1.250000e-01 : tensor<12x?x?xf32>
  %sc = attn.scale %s by 0.125 : tensor<12x?x?xf32>
  // CHECK: %[[M:.*]] = attn.causal_mask %[[SC]], %{{.*}} fill(-3.4028234663852886E+38) : tensor<12x?x?xf32>
  %m = attn.causal_mask %sc, %off fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
  // CHECK: %[[P:.*]] = attn.softmax %[[M]] axis(2) : tensor<12x?x?xf32>
  %p = attn.softmax %m axis(2) : tensor<12x?x?xf32>
  // CHECK: %[[O:.*]] = attn.weighted_sum %[[P]], %[[H]] : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
  %o = attn.weighted_sum %p, %h : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
  // CHECK: attn.merge_heads %[[O]] : tensor<12x?x64xf32> -> tensor<?x768xf32>
  %y = attn.merge_heads %o : tensor<12x?x64xf32> -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}

// CHECK-LABEL: func.func @fused_forms
func.func @fused_forms(%q: tensor<1x?x128xf32>, %k: tensor<1x?x128xf32>,
                       %s: tensor<1x?x?xf32>, %off: index)
    -> (tensor<1x?x?xf32>, tensor<1x?x128xf32>, tensor<1x?x128xf32>) {
  // CHECK: attn.masked_softmax %{{.*}}, %{{.*}} scale(1.000000e+00) fill(-1.000000e+09) : tensor<1x?x?xf32>
  %p = attn.masked_softmax %s, %off scale(1.0) fill(-1.0e+09) : tensor<1x?x?xf32>
  // CHECK: attn.fused_attention %{{.*}}, %{{.*}}, %{{.*}} scale(1.000000e+00) causal(%{{.*}}, -1.000000e+09) : (tensor<1x?x128xf32>, tensor<1x?x128xf32>, tensor<1x?x128xf32>, index) -> tensor<1x?x128xf32>
  %o = attn.fused_attention %q, %k, %k scale(1.0) causal(%off, -1.0e+09) : (tensor<1x?x128xf32>, tensor<1x?x128xf32>, tensor<1x?x128xf32>, index) -> tensor<1x?x128xf32>
  // CHECK: attn.fused_attention %{{.*}}, %{{.*}}, %{{.*}} scale(5.000000e-01) : (tensor<1x?x128xf32>, tensor<1x?x128xf32>, tensor<1x?x128xf32>) -> tensor<1x?x128xf32>
  // CHECK-NOT: causal
  %f = attn.fused_attention %q, %k, %k scale(0.5) : (tensor<1x?x128xf32>, tensor<1x?x128xf32>, tensor<1x?x128xf32>) -> tensor<1x?x128xf32>
  return %p, %o, %f : tensor<1x?x?xf32>, tensor<1x?x128xf32>, tensor<1x?x128xf32>
}

// CHECK-LABEL: func.func @cached_attention
func.func @cached_attention(%q: tensor<12x?x64xf32>, %k: tensor<12x?x64xf32>,
                            %v: tensor<12x?x64xf32>,
                            %kc: tensor<12x1024x64xf32>,
                            %vc: tensor<12x1024x64xf32>, %pos: index,
                            %len: index)
    -> (tensor<12x?x64xf32>, tensor<12x1024x64xf32>, tensor<12x1024x64xf32>) {
  // CHECK: %{{.*}}, %{{.*}}, %{{.*}} = attn.cached_attention %{{.*}}, %{{.*}}, %{{.*}} into %{{.*}}, %{{.*}}[%{{.*}}] length(%{{.*}}) scale(1.250000e-01) causal(-3.4028234663852886E+38) : tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x1024x64xf32>, tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
  %o, %kc2, %vc2 = attn.cached_attention %q, %k, %v into %kc, %vc[%pos] length(%len) scale(0.125) causal(-3.4028234663852886e+38) : tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x?x64xf32>, tensor<12x1024x64xf32>, tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
  return %o, %kc2, %vc2 : tensor<12x?x64xf32>, tensor<12x1024x64xf32>, tensor<12x1024x64xf32>
}

// CHECK-LABEL: func.func @kv_cache
func.func @kv_cache(%cache: tensor<12x1024x64xf32>, %k: tensor<12x?x64xf32>,
                    %pos: index, %len: index) -> tensor<12x?x64xf32> {
  // CHECK: %[[C:.*]] = attn.kv_cache_write %{{.*}}[%{{.*}}], %{{.*}} : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
  %c = attn.kv_cache_write %cache[%pos], %k : tensor<12x1024x64xf32>, tensor<12x?x64xf32>
  // CHECK: attn.kv_cache_read %[[C]][%{{.*}}] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
  %r = attn.kv_cache_read %c[%len] : tensor<12x1024x64xf32> -> tensor<12x?x64xf32>
  return %r : tensor<12x?x64xf32>
}

// Weights stored in f16 or bf16 feed f32 computation.
// CHECK-LABEL: func.func @narrow_weights
// CHECK: attn.embedding %{{.*}}[%{{.*}}] : (tensor<10x8xbf16>, tensor<?xi32>) -> tensor<?x8xf32>
// CHECK: attn.linear %{{.*}}, %{{.*}}, %{{.*}} layout<in_out> : (tensor<?x8xf32>, tensor<8x4xf16>, tensor<4xf32>) -> tensor<?x4xf32>
func.func @narrow_weights(%t: tensor<10x8xbf16>, %ids: tensor<?xi32>, %w: tensor<8x4xf16>, %b: tensor<4xf32>) -> tensor<?x4xf32> {
  %x = attn.embedding %t[%ids] : (tensor<10x8xbf16>, tensor<?xi32>) -> tensor<?x8xf32>
  %y = attn.linear %x, %w, %b layout<in_out> : (tensor<?x8xf32>, tensor<8x4xf16>, tensor<4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// CHECK-LABEL: func.func @low_precision
func.func @low_precision(%x: tensor<4x8xf16>, %y: tensor<2x4x4xbf16>) -> (tensor<4x8xf16>, tensor<2x4x4xbf16>) {
  // CHECK: attn.gelu %{{.*}} : tensor<4x8xf16>
  %g = attn.gelu %x : tensor<4x8xf16>
  // CHECK: attn.softmax %{{.*}} axis(2) : tensor<2x4x4xbf16>
  %s = attn.softmax %y axis(2) : tensor<2x4x4xbf16>
  return %g, %s : tensor<4x8xf16>, tensor<2x4x4xbf16>
}

// An embedding plus position rows: one per result row, or one for all.
// CHECK-LABEL: func.func @embedding_plus
// CHECK: attn.embedding %{{.*}}[%{{.*}}] plus %{{.*}} : (tensor<10x8xf32>, tensor<?xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: attn.embedding %{{.*}}[%{{.*}}] plus %{{.*}} : (tensor<10x8xf32>, tensor<?xi32>, tensor<1x8xf32>) -> tensor<?x8xf32>
func.func @embedding_plus(%t: tensor<10x8xf32>, %ids: tensor<?xi32>, %pos: tensor<?x8xf32>, %one: tensor<1x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %a = attn.embedding %t[%ids] plus %pos : (tensor<10x8xf32>, tensor<?xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %b = attn.embedding %t[%ids] plus %one : (tensor<10x8xf32>, tensor<?xi32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return %a, %b : tensor<?x8xf32>, tensor<?x8xf32>
}
