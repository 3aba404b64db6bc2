#!/usr/bin/env python3
"""Greedy completion with a trained CogModel checkpoint directory.

    /usr/bin/python3 frontends/cogmodel/generate.py "minecraft echo"
    -> minecraft echo minecraft

Loads config.json / vocab.json / model.safetensors (read by hand: 8-byte
little-endian header length, JSON header, raw F32 data), builds the seed's
CogModel, and generates like the seed: argmax of the last position, stop at
token 0, whole sequence re-run each step (batch 1).
"""
import argparse
import json
import os
import struct
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import CogModel  # noqa: E402
from train import Tokenizer, STOP_ID  # noqa: E402

DEFAULT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "models", "cogmodel"))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(model_dir, "vocab.json")) as f:
        vocab = json.load(f)
    model = CogModel(cfg["vocab_size"], cfg["d_model"], cfg["n_layers"],
                     max_len=cfg["max_len"], positional=cfg["positional"])
    model.load_state_dict(read_safetensors(os.path.join(model_dir, "model.safetensors")))
    model.eval()
    return model, Tokenizer(vocab), cfg


@torch.no_grad()
def generate_text(model, tok, cfg, prompt, max_new=28):
    x = torch.tensor([tok.encode(prompt)])
    for _ in range(max_new):
        if cfg["positional"] == "per_position" and x.size(1) >= cfg["max_len"]:
            break
        pred = model(x).argmax(dim=2)[:, -1]
        if int(pred) == STOP_ID:
            break
        x = torch.cat((x, pred.unsqueeze(0)), dim=1)
    return tok.decode(x[0].tolist())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prompt", nargs="*", default=["minecraft echo", "minecraft upper"])
    ap.add_argument("--model", default=DEFAULT_DIR)
    ap.add_argument("--max-new", type=int, default=28)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, tok, cfg = load(args.model)
    for p in args.prompt:
        print(generate_text(model, tok, cfg, p, args.max_new))


if __name__ == "__main__":
    main()
