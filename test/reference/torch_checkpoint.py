#!/usr/bin/env python3
"""Writes real torch.save checkpoints for attn's PyTorch reader.

    torch_checkpoint.py convert SRC BIN_DIR ST_DIR [--dtype float32|float16|bfloat16]
                        [--tie DST=SRC ...] [--flat] [--legacy]
        reads SRC/model.safetensors (F32, as cogmodel.py make writes it),
        converts every tensor to --dtype, makes each --tie DST the very tensor
        SRC (tied weights: one storage, memoized by the pickler), and writes
          BIN_DIR/pytorch_model.bin  with torch.save(state_dict) (no
                                     safetensors there, so attnc reads this)
          ST_DIR/model.safetensors   the same tensors, same dtype
        plus config.json and vocab.json in both, so that both directories
        must compile to the same model. --flat makes every tensor a view of
        one shared storage (nonzero storage offsets); --legacy writes the
        pre-1.6 format (_use_new_zipfile_serialization=False). The .bin is
        read back with torch.load and checked against what was saved.
    torch_checkpoint.py malicious PATH --marker FILE
        writes a torch.save file whose state_dict holds, after a real tensor,
        an object that unpickles by calling os.system("touch FILE")
    torch_checkpoint.py load-unsafely PATH
        torch.load(PATH): runs the pickle (and any payload) as Python does

Run with /usr/bin/python3 (Debian's torch).
"""
import argparse
import collections
import json
import os
import shlex
import shutil
import struct
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cogmodel import read_safetensors  # noqa: E402

DTYPES = {"float32": (torch.float32, "F32"), "float16": (torch.float16, "F16"),
          "bfloat16": (torch.bfloat16, "BF16")}


def write_safetensors(path, tensors, dtype_name):
    """Writes `tensors` (all of one dtype) as safetensors, bytes unchanged."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        # Reinterpret as int16/int32 to get the raw little-endian bytes of
        # half and bfloat16, which numpy cannot represent.
        raw = t.view(torch.int16 if t.element_size() == 2 else torch.int32)
        data = raw.numpy().astype("<i2" if t.element_size() == 2 else "<i4").tobytes()
        header[name] = {"dtype": dtype_name, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def copy_side_files(src, dst):
    os.makedirs(dst, exist_ok=True)
    for name in ("config.json", "vocab.json"):
        shutil.copy(os.path.join(src, name), os.path.join(dst, name))


def convert(args):
    dtype, dtype_name = DTYPES[args.dtype]
    loaded = read_safetensors(os.path.join(args.src, "model.safetensors"))
    state = collections.OrderedDict(
        (name, loaded[name].to(dtype)) for name in sorted(loaded))
    for tie in args.tie:
        dst, src = tie.split("=")
        assert state[dst].shape == state[src].shape, tie
        state[dst] = state[src]
    if args.flat:
        # One storage for every distinct tensor; each becomes a view of it.
        distinct = list({id(t): t for t in state.values()}.values())
        flat = torch.cat([t.reshape(-1) for t in distinct])
        views, offset = {}, 0
        for t in distinct:
            views[id(t)] = flat[offset:offset + t.numel()].view(t.shape)
            offset += t.numel()
        state = collections.OrderedDict(
            (name, views[id(t)]) for name, t in state.items())

    copy_side_files(args.src, args.bin_dir)
    copy_side_files(args.src, args.st_dir)
    bin_path = os.path.join(args.bin_dir, "pytorch_model.bin")
    torch.save(state, bin_path, _use_new_zipfile_serialization=not args.legacy)
    write_safetensors(os.path.join(args.st_dir, "model.safetensors"),
                      state, dtype_name)

    # torch.load of our own file is safe; check the round trip.
    back = torch.load(bin_path)
    assert list(back) == list(state), "names differ"
    for name, t in state.items():
        assert back[name].dtype == dtype and torch.equal(back[name], t), name
    for tie in args.tie:
        dst, src = tie.split("=")
        assert back[dst].data_ptr() == back[src].data_ptr(), tie


class _Payload:
    """Unpickles by running a shell command, as a malicious file would."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def malicious(args):
    state = collections.OrderedDict()
    state["embed.weight"] = torch.zeros(2, 3)
    state["payload"] = _Payload("touch " + shlex.quote(args.marker))
    torch.save(state, args.path)


def load_unsafely(args):
    torch.load(args.path)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert")
    c.add_argument("src")
    c.add_argument("bin_dir")
    c.add_argument("st_dir")
    c.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    c.add_argument("--tie", action="append", default=[], metavar="DST=SRC")
    c.add_argument("--flat", action="store_true")
    c.add_argument("--legacy", action="store_true")
    m = sub.add_parser("malicious")
    m.add_argument("path")
    m.add_argument("--marker", required=True)
    u = sub.add_parser("load-unsafely")
    u.add_argument("path")
    args = parser.parse_args()
    {"convert": convert, "malicious": malicious,
     "load-unsafely": load_unsafely}[args.command](args)


if __name__ == "__main__":
    main()
