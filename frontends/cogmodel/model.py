"""CogModel module classes, copied from the course notebook (the seed).

The classes, attribute names and arithmetic are the seed's, so the state_dict
keys are the seed's:

    embed.weight                     (vocab, d)
    pos_encoder.pe                   (max_len, 1, d)   buffer
    layers.N.self_attn.q_layer.weight / .bias   (d, d) / (d,)
    layers.N.self_attn.k_layer.weight / .bias
    layers.N.self_attn.v_layer.weight / .bias
    layers.N.norm1.w / layers.N.norm1.b         (d,)
    norm.weight / norm.bias          (d,)   nn.LayerNorm, eps 1e-5
    decoder.weight / decoder.bias    (vocab, d) / (vocab,)

Only two optional constructor arguments were added, both defaulting to the
seed's behaviour:
  * max_len (PositionalEncoding / CogModel): rows of the pe buffer (seed: 5000).
  * positional (PositionalEncoding / CogModel):
      "seed"          x + pe[:x.size(0)]  -- for batch-first input x.size(0) is
                      the batch size, so batch element b gets row b at every
                      position (with batch 1: row 0 everywhere).
      "per_position"  x + pe[:seq_len] read per token: position t gets row t.
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

POSITIONAL_MODES = ("seed", "per_position")


class SingleHeadAttention(nn.Module):
    def __init__(self, d_model: int):
        """
        Here we will assume that the input dimensions are same as the
        output dims.
        """
        super().__init__()
        self.q_layer = torch.nn.Linear(d_model, d_model)
        self.k_layer = torch.nn.Linear(d_model, d_model)
        self.v_layer = torch.nn.Linear(d_model, d_model)

    def forward(self, x, mask=None, return_weights: bool = False):
        Q = self.q_layer(x)
        K = self.k_layer(x)
        V = self.v_layer(x)

        A = Q @ K.transpose(-2, -1)  # NB: no 1/sqrt(d) scale (seed)

        if mask is not None:
            A = A.masked_fill(mask == 0, -1e9)

        weights = F.softmax(A, dim=-1)

        if return_weights:
            return weights, weights @ V

        out = weights @ V
        return out


class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))

    def forward(self, residual):
        residual_mean = residual.mean(dim=-1, keepdim=True)
        residual_std = (residual.var(dim=-1, keepdim=True, unbiased=False) + self.eps).sqrt()
        residual = (residual - residual_mean) / residual_std
        residual = residual * self.w + self.b
        return residual


class SelfAttentionLayer(nn.Module):
    def __init__(self, embed_dim: int):
        super(SelfAttentionLayer, self).__init__()
        self.self_attn = SingleHeadAttention(embed_dim)
        self.norm1 = LayerNorm(embed_dim)

    def forward(self, src, mask=None):
        src = src + self.norm1(
            self.self_attn(src, mask=mask)
        )
        return src


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, max_len=5000, positional: str = "seed"):
        super(PositionalEncoding, self).__init__()
        if positional not in POSITIONAL_MODES:
            raise ValueError(f"positional must be one of {POSITIONAL_MODES}, got {positional!r}")
        self.positional = positional

        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(100.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)  # (max_len, 1, d_model)

        self.register_buffer('pe', pe)

    def forward(self, x):
        if self.positional == "seed":
            # The seed, verbatim: indexed by x.size(0) (the batch size for
            # batch-first input); broadcasts row b over every position.
            x = x + self.pe[:x.size(0), :]
        else:
            # per_position: x is (batch, seq, d); position t gets pe[t].
            x = x + self.pe[:x.size(1), :].transpose(0, 1)
        return x


class CogModel(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, num_layers: int,
                 max_len: int = 5000, positional: str = "seed"):
        super(CogModel, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.pos_encoder = PositionalEncoding(embed_dim, max_len=max_len, positional=positional)
        self.layers = nn.ModuleList([SelfAttentionLayer(embed_dim) for _ in range(num_layers)])
        self.norm = nn.LayerNorm(embed_dim)
        self.decoder = nn.Linear(embed_dim, vocab_size)

    def forward(self, src):
        """src: (batch, seq) token ids -> (batch, seq, vocab) logits."""
        mask = torch.triu(torch.ones(
            src.size(1), src.size(1), dtype=torch.bool, device=src.device)).T

        src = self.embed(src)
        src = self.pos_encoder(src)
        for layer in self.layers:
            src = layer(src, mask)

        src = self.norm(src)
        output = self.decoder(src)
        return output
