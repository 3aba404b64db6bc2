// One GPT-2 attention block as the frontend writes it, less the KV cache
// (the frontend's keys and values pass through attn.kv_cache_write and
// attn.kv_cache_read): the seed's five steps (scores, scale, causal mask,
// softmax, weighted sum) between the head split and merge. scripts/demo.sh
// runs attn-opt --attn-fuse-masked-softmax, then --attn-fuse-attention on it.
func.func @attention(%q: tensor<?x768xf32>, %k: tensor<?x768xf32>,
                     %v: tensor<?x768xf32>, %offset: index) -> tensor<?x768xf32> {
  %qh = attn.split_heads %q : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %kh = attn.split_heads %k : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %vh = attn.split_heads %v : tensor<?x768xf32> -> tensor<12x?x64xf32>
  %s = attn.qk_scores %qh, %kh : tensor<12x?x64xf32>, tensor<12x?x64xf32> -> tensor<12x?x?xf32>
  %a = attn.scale %s by 0.125 : tensor<12x?x?xf32>
  %m = attn.causal_mask %a, %offset fill(-3.4028234663852886e+38) : tensor<12x?x?xf32>
  %p = attn.softmax %m axis(2) : tensor<12x?x?xf32>
  %o = attn.weighted_sum %p, %vh : tensor<12x?x?xf32>, tensor<12x?x64xf32> -> tensor<12x?x64xf32>
  %y = attn.merge_heads %o : tensor<12x?x64xf32> -> tensor<?x768xf32>
  return %y : tensor<?x768xf32>
}
