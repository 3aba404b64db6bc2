"""Writes the fuzz targets' seed corpora: OUT/<target>/<files>.

    make_seeds.py OUT --tools BIN [--only TARGET]...

Seeds come from what the tests make: small safetensors and torch.save files
written here (every dtype, scalars, empty tensors, metadata, tied weights,
views, the legacy format, the pickles alone), the checkpoints of the test models
(test/reference/cogmodel.py, gpt2.py), the runtime tests' bigram artifact
(BIN/attn-test-artifact) and an artifact that BIN/attnc compiles from a tiny
CogModel, text for the tokenizers, and the attn IR of the lit tests split at
`// -----`. The torch seeds need Debian's python3 (torch).
"""

import argparse
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = ["safetensors", "pytorch", "artifact", "tokenizer", "attn-ir",
           "runtime-safetensors"]


def safetensors(tensors, metadata=None, pad=0):
    """tensors: [(name, dtype, shape, bytes)] -> the file's bytes."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode() + b" " * pad
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def run(*command, **kwargs):
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)


def seeds_safetensors(out, work):
    f32 = struct.pack("<6f", 1, -2, 3.5, 0, float("inf"), float("nan"))
    write(f"{out}/two-f32.safetensors", safetensors(
        [("a.weight", "F32", [2, 3], f32), ("a.bias", "F32", [3], f32[:12])],
        {"format": "pt"}))
    write(f"{out}/dtypes.safetensors", safetensors([
        ("f16", "F16", [2], b"\x00\x3c\x00\x7c"),
        ("bf16", "BF16", [2], b"\x80\x3f\x80\xff"),
        ("f64", "F64", [1], struct.pack("<d", 0.5)),
        ("i64", "I64", [1], struct.pack("<q", -1)),
        ("i32", "I32", [1], struct.pack("<i", 7)),
        ("i16", "I16", [1], b"\x01\x00"),
        ("i8", "I8", [1], b"\xff"),
        ("u8", "U8", [1], b"\x01"),
        ("bool", "BOOL", [2], b"\x01\x00"),
        ("scalar", "F32", [], struct.pack("<f", 2)),
        ("empty", "F32", [0, 4], b""),
    ]))
    write(f"{out}/empty.safetensors", safetensors([], pad=6))
    # The checkpoints of the test models.
    run(sys.executable, f"{SRC}/test/reference/cogmodel.py", "make", f"{work}/cog",
        "--d-model", "8", "--layers", "1", "--max-len", "4", "--vocab-chars", "ab",
        "--words", "echo")
    os.replace(f"{work}/cog/model.safetensors", f"{out}/cogmodel.safetensors")
    run(sys.executable, f"{SRC}/test/reference/gpt2.py", "make", f"{work}/gpt2",
        "--n-embd", "4", "--n-head", "2", "--n-layer", "1", "--n-positions", "4",
        "--vocab", "8", "--dtype", "f16")
    os.replace(f"{work}/gpt2/model.safetensors", f"{out}/gpt2-f16.safetensors")


def seeds_pytorch(out, work):
    import torch
    torch.manual_seed(0)
    tied = torch.randn(3, 2)
    torch.save({"a": torch.randn(2, 3), "b": torch.arange(4, dtype=torch.float16),
                "c": torch.tensor([1, -2], dtype=torch.int64)}, f"{out}/plain.pt")
    torch.save({"state_dict": {"w": torch.randn(2)}, "epoch": 3,
                "optimizer": {"lr": 0.1, "betas": (0.9, 0.999), "names": ["x", None, True]}},
               f"{out}/wrapped.pt")
    torch.save({"wte": tied, "lm_head": tied, "row": tied[1:], "col": tied[:, 1:].contiguous()},
               f"{out}/tied.pt")
    torch.save({"bf16": torch.ones(2, dtype=torch.bfloat16), "bool": torch.tensor([True, False]),
                "scalar": torch.tensor(1.5), "empty": torch.zeros(0, 3),
                "i8": torch.tensor([-1], dtype=torch.int8), "u8": torch.tensor([1], dtype=torch.uint8),
                "f64": torch.tensor([0.25], dtype=torch.float64)}, f"{out}/dtypes.pt")
    torch.save({"t": torch.randn(2, 2).t()}, f"{out}/transposed.pt")
    torch.save({"a": torch.randn(2)}, f"{out}/legacy.pt", _use_new_zipfile_serialization=False)
    run(sys.executable, f"{SRC}/test/reference/gpt2.py", "make", f"{work}/gpt2bin",
        "--n-embd", "4", "--n-head", "2", "--n-layer", "1", "--n-positions", "4",
        "--vocab", "8", "--format", "bin")
    os.replace(f"{work}/gpt2bin/pytorch_model.bin", f"{out}/gpt2.bin")
    # Their data.pkl alone: the target unpickles what is not a zip archive.
    import zipfile
    for name in sorted(os.listdir(out)):
        if zipfile.is_zipfile(f"{out}/{name}"):
            with zipfile.ZipFile(f"{out}/{name}") as archive:
                pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
                write(f"{out}/{name}.data.pkl", archive.read(pickles[0]))


def seeds_artifact(out, work, tools):
    run(f"{tools}/attn-test-artifact", f"{out}/bigram.attn")
    run(f"{tools}/attn-test-artifact", f"{out}/bigram-ctx4.attn", "--context", "4",
        "--token", "2", "é")
    run(sys.executable, f"{SRC}/test/reference/cogmodel.py", "make", f"{work}/cogattn",
        "--d-model", "8", "--layers", "1", "--max-len", "4", "--vocab-chars", "ab",
        "--words", "echo")
    run(f"{tools}/attnc", f"{work}/cogattn", "-o", f"{out}/cogmodel.attn")
    run(f"{tools}/attnc", f"{work}/cogattn", "--weight-dtype=bf16", "--fusion=none",
        "-o", f"{out}/cogmodel-bf16.attn")


def seeds_tokenizer(out, work):
    texts = [
        b"hello world",
        b"The quick brown fox jumps over the lazy dog. It's 1234 o'clock!",
        b"  leading and trailing spaces  \n\n\ttabs",
        "caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 na\u00efve".encode(),
        b"they're we've I'm you'll he'd",
        b"<|endoftext|>",
        b"\xff\xfe not utf-8 \xc0\x80",
        b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a",
        b"a  b echo upper",
    ]
    for i, text in enumerate(texts):
        write(f"{out}/text-{i}", text)


def seeds_attn_ir(out, work):
    files = sorted(glob.glob(f"{SRC}/test/Dialect/Attn/*.mlir") +
                   glob.glob(f"{SRC}/test/Transforms/*.mlir") +
                   glob.glob(f"{SRC}/docs/examples/*.mlir"))
    for path in files:
        with open(path, "rb") as f:
            pieces = f.read().split(b"\n// -----")
        stem = os.path.relpath(path, SRC).replace("/", "_")
        for i, piece in enumerate(pieces):
            write(f"{out}/{stem}.{i}", piece.lstrip(b"\n"))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--tools", required=True, help="attnc and attn-test-artifact's folder")
    parser.add_argument("--only", action="append", choices=TARGETS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for target in args.only or TARGETS:
            out = os.path.join(args.out, target)
            os.makedirs(out, exist_ok=True)
            if target in ("safetensors", "runtime-safetensors"):
                seeds_safetensors(out, work)
            elif target == "pytorch":
                seeds_pytorch(out, work)
            elif target == "artifact":
                seeds_artifact(out, work, args.tools)
            elif target == "tokenizer":
                seeds_tokenizer(out, work)
            else:
                seeds_attn_ir(out, work)


if __name__ == "__main__":
    main()
