#!/usr/bin/env python3
"""PyTorch reference for CogModel, independent of attn's compiler.

It runs the seed's own module code (frontends/cogmodel/model.py) the way the
seed generates: the whole sequence is recomputed for every new token (no KV
cache), greedy, stopping at token 0.

    cogmodel.py make DIR [--vocab-chars abc] [--d-model D] [--layers L]
                         [--max-len M] [--positional seed|per_position] [--seed S]
        writes a seeded random checkpoint directory (config.json,
        model.safetensors with the seed's state_dict names, vocab.json)
    cogmodel.py run DIR (--tokens 1,2,3 | --prompt TEXT) [--max-new-tokens N]
        prints {"prompt_tokens", "tokens", "stop_reason", "logits"} as JSON,
        the contract of `attn-run --json --logits`

Run with /usr/bin/python3 (Debian's torch).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "frontends", "cogmodel"))
from model import CogModel  # noqa: E402
from train import Tokenizer, write_safetensors  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import greedy, print_json  # noqa: E402


def make(args):
    torch.manual_seed(args.seed)
    tokens = ["<pad>", " "] + list(args.vocab_chars) + args.words
    model = CogModel(len(tokens), args.d_model, args.layers,
                     max_len=args.max_len, positional=args.positional)
    with torch.no_grad():
        # Random norms and embeddings of a realistic scale, so that a wrong
        # epsilon, gamma or beta shows in the logits.
        for name, p in model.named_parameters():
            if name.endswith((".w", "norm.weight")):
                p.copy_(1.0 + 0.5 * torch.randn_like(p))
            elif name.endswith((".b", "norm.bias")):
                p.copy_(0.5 * torch.randn_like(p))
            elif name == "embed.weight":
                p.copy_(torch.randn_like(p))
        # Keep the stop token unlikely, so that generation runs long enough
        # to exercise the KV cache.
        model.decoder.bias[0] -= 10.0
    os.makedirs(args.dir, exist_ok=True)
    write_safetensors(os.path.join(args.dir, "model.safetensors"),
                      model.state_dict(), {"format": "pt"})
    with open(os.path.join(args.dir, "vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
    config = {
        "model_type": "cogmodel", "vocab_size": len(tokens),
        "d_model": args.d_model, "n_layers": args.layers,
        "max_len": args.max_len, "positional": args.positional,
        "layer_norm_eps": 1e-6, "final_norm_eps": 1e-5, "mask_fill": -1e9,
        "stop_token_id": 0,
    }
    with open(os.path.join(args.dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def load(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    model = CogModel(config["vocab_size"], config["d_model"], config["n_layers"],
                     max_len=config["max_len"], positional=config["positional"])
    state = read_safetensors(os.path.join(directory, "model.safetensors"))
    model.load_state_dict(state)
    model.eval()
    return model, config


def read_safetensors(path):
    import struct
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", f"{name}: only F32 is read here"
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=torch.float32)
        tensors[name] = t.reshape(entry["shape"]).clone()
    return tensors


def run(args):
    model, config = load(args.dir)
    if args.prompt is not None:
        with open(os.path.join(args.dir, "vocab.json")) as f:
            prompt = Tokenizer(json.load(f)).encode(args.prompt)
    else:
        prompt = [int(t) for t in args.tokens.split(",")]
    result = greedy(lambda seq: model(seq)[0, -1], prompt,
                    config.get("stop_token_id", 0),
                    args.context_length or config["max_len"], args.max_new_tokens)
    print_json(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--vocab-chars", default="abcdefghijklmnopqrstuvwxyz")
    m.add_argument("--words", nargs="*", default=["echo", "upper"])
    m.add_argument("--d-model", type=int, default=32)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--max-len", type=int, default=64)
    m.add_argument("--positional", default="seed", choices=["seed", "per_position"])
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("dir")
    given = r.add_mutually_exclusive_group(required=True)
    given.add_argument("--tokens", help="comma-separated token ids")
    given.add_argument("--prompt", help="text, tokenized as the training script does")
    r.add_argument("--max-new-tokens", type=int, default=8)
    r.add_argument("--context-length", type=int, default=0)
    args = parser.parse_args()
    make(args) if args.command == "make" else run(args)


if __name__ == "__main__":
    main()
