#!/usr/bin/env python3
"""PyTorch eager baselines with a KV cache, on the same checkpoints as attn.

    torch_models.py DIR [--prefill N]... [--decode-after P --decode N] [--repeats R]

DIR is a GPT-2 (Hugging Face layout) or CogModel checkpoint directory. The
timing protocol is attn-bench's: prefill of N tokens from an empty cache;
decode steps after a P-token prefill, the median step; each repeated R times
after a warm-up. Prints one JSON object. Thread settings are the caller's
(bench/run.py sets torch to 1 thread on top of OpenBLAS's, the fastest
combination on our 2-core machines).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test", "reference"))


def load_state(directory):
    import gpt2 as ref  # test/reference/gpt2.py
    path = os.path.join(directory, "model.safetensors")
    state = ref.read_safetensors(path)
    return {k[len("transformer."):] if k.startswith("transformer.") else k: v.float()
            for k, v in state.items()}


class GPT2Cached:
    """GPT-2 forward with a KV cache, written for speed in eager PyTorch."""

    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = json.load(f)
        self.s = load_state(directory)
        self.heads = self.cfg["n_head"]
        self.eps = self.cfg.get("layer_norm_epsilon", 1e-5)
        self.head = self.s.get("lm_head.weight", self.s["wte.weight"])
        self.reset()

    def reset(self):
        self.cache = [None] * self.cfg["n_layer"]

    def step(self, ids, past):
        s, d = self.s, self.cfg["n_embd"]
        hd = d // self.heads
        pos = torch.arange(past, past + ids.numel())
        x = s["wte.weight"][ids] + s["wpe.weight"][pos]
        for i in range(self.cfg["n_layer"]):
            p = f"h.{i}."
            h = F.layer_norm(x, (d,), s[p + "ln_1.weight"], s[p + "ln_1.bias"], self.eps)
            qkv = torch.addmm(s[p + "attn.c_attn.bias"], h, s[p + "attn.c_attn.weight"])
            q, k, v = (t.view(-1, self.heads, hd).transpose(0, 1) for t in qkv.split(d, dim=1))
            if self.cache[i] is not None:
                k = torch.cat([self.cache[i][0], k], dim=1)
                v = torch.cat([self.cache[i][1], v], dim=1)
            self.cache[i] = (k, v)
            w = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(hd)
            if ids.numel() > 1:
                n, m = ids.numel(), k.size(1)
                mask = torch.ones(n, m, dtype=torch.bool).tril(m - n)
                w = w.masked_fill(~mask, torch.finfo(w.dtype).min)
            o = torch.matmul(torch.softmax(w, dim=-1), v).transpose(0, 1).reshape(-1, d)
            x = x + torch.addmm(s[p + "attn.c_proj.bias"], o, s[p + "attn.c_proj.weight"])
            h = F.layer_norm(x, (d,), s[p + "ln_2.weight"], s[p + "ln_2.bias"], self.eps)
            h = torch.addmm(s[p + "mlp.c_fc.bias"], h, s[p + "mlp.c_fc.weight"])
            h = F.gelu(h, approximate="tanh")
            x = x + torch.addmm(s[p + "mlp.c_proj.bias"], h, s[p + "mlp.c_proj.weight"])
        last = F.layer_norm(x[-1:], (d,), s["ln_f.weight"], s["ln_f.bias"], self.eps)
        return last @ self.head.t()


class CogModelCached:
    """CogModel (the seed's per-position model) with a KV cache: the seed's
    arithmetic (single head, no 1/sqrt(d) scale, -1e9 mask fill, LayerNorm
    after attention) on the checkpoint's weights."""

    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = json.load(f)
        if self.cfg.get("positional") != "per_position":
            sys.exit(f"{directory}: the benchmark runs per_position CogModels")
        import gpt2 as ref  # test/reference/gpt2.py reads safetensors
        self.s = {k: v.float() for k, v in
                  ref.read_safetensors(os.path.join(directory, "model.safetensors")).items()}
        self.pe = self.s["pos_encoder.pe"][:, 0, :]
        self.eps = self.cfg.get("layer_norm_eps", 1e-6)
        self.final_eps = self.cfg.get("final_norm_eps", 1e-5)
        self.reset()

    def reset(self):
        self.cache = [None] * self.cfg["n_layers"]

    def step(self, ids, past):
        s = self.s
        x = s["embed.weight"][ids] + self.pe[past:past + ids.numel()]
        for i in range(self.cfg["n_layers"]):
            p = f"layers.{i}."
            q = F.linear(x, s[p + "self_attn.q_layer.weight"], s[p + "self_attn.q_layer.bias"])
            k = F.linear(x, s[p + "self_attn.k_layer.weight"], s[p + "self_attn.k_layer.bias"])
            v = F.linear(x, s[p + "self_attn.v_layer.weight"], s[p + "self_attn.v_layer.bias"])
            if self.cache[i] is not None:
                k = torch.cat([self.cache[i][0], k])
                v = torch.cat([self.cache[i][1], v])
            self.cache[i] = (k, v)
            a = q @ k.t()
            if ids.numel() > 1:
                n, m = ids.numel(), k.size(0)
                a = a.masked_fill(~torch.ones(n, m, dtype=torch.bool).tril(m - n), -1e9)
            o = torch.softmax(a, dim=-1) @ v
            mean = o.mean(dim=-1, keepdim=True)
            std = (o.var(dim=-1, keepdim=True, unbiased=False) + self.eps).sqrt()
            x = x + (o - mean) / std * s[p + "norm1.w"] + s[p + "norm1.b"]
        last = F.layer_norm(x[-1:], (x.size(1),), s["norm.weight"], s["norm.bias"],
                            self.final_eps)
        return F.linear(last, s["decoder.weight"], s["decoder.bias"])


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir")
    parser.add_argument("--prefill", type=int, action="append", default=[])
    parser.add_argument("--decode-after", type=int, default=0)
    parser.add_argument("--decode", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with open(os.path.join(args.dir, "config.json")) as f:
        model_type = json.load(f).get("model_type")
    model = CogModelCached(args.dir) if model_type == "cogmodel" else GPT2Cached(args.dir)
    vocab = model.cfg["vocab_size"]

    def tokens(n):
        return torch.tensor([(i * 7919 + 13) % vocab for i in range(n)])

    out = {"dir": args.dir, "torch_threads": torch.get_num_threads()}
    with torch.inference_mode():
        for n in args.prefill:
            ids, times = tokens(n), []
            for r in range(args.repeats + 1):
                model.reset()
                start = time.perf_counter()
                model.step(ids, 0)
                if r:
                    times.append((time.perf_counter() - start) * 1e3)
            out[f"prefill_{n}_ms"] = median(times)
        if args.decode:
            ids, times = tokens(args.decode_after + args.decode), []
            for r in range(args.repeats + 1):
                model.reset()
                model.step(ids[:args.decode_after], 0)
                steps = []
                for i in range(args.decode):
                    pos = args.decode_after + i
                    start = time.perf_counter()
                    model.step(ids[pos:pos + 1], pos)
                    steps.append((time.perf_counter() - start) * 1e3)
                if r:
                    times.append(median(steps))
            out[f"decode_{args.decode}_after_{args.decode_after}_ms_per_token"] = median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
