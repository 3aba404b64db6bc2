"""Writes a damaged copy of an attn artifact, for the loader's tests.

    edit_artifact.py IN OUT [--set FIELD=JSON]... [--identifier XXXX]
                            [--truncate N] [--elf-byte OFFSET=VALUE]...
                            [--reseal] [--weight-byte OFFSET=VALUE]...

--set        changes a field of the FlatBuffer: FIELD is a dotted path into
             its JSON form (flatc --json with runtime/schema/artifact.fbs),
             e.g. programs.0.dispatches.1.bindings.0.buffer=99; the FlatBuffer
             is rebuilt with flatc and an embedded weight segment moved after
             it (segment_offset follows), so only the named field differs, and
             sealed anew (runtime/Trailer.h), as a hostile artifact would be
--identifier replaces the 4-byte file identifier ("ATTN")
--truncate   drops the last N bytes of the file
--elf-byte   sets byte OFFSET of the first CPU variant's ELF image to VALUE (a
             damaged file: the FlatBuffer no longer matches its seal)
--reseal     then seals the edited FlatBuffer anew, as a hostile artifact
             would, so that the checks after the seal see the image
--weight-byte sets byte OFFSET of the embedded weight segment to VALUE (a
             damaged weight: its tensor's recorded hash no longer matches)
"""

import argparse
import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                      "runtime", "schema", "artifact.fbs")


def flatc():
    return shutil.which("flatc") or "/usr/bin/flatc"


def to_json(data, work):
    path = os.path.join(work, "in.attn")
    with open(path, "wb") as f:
        f.write(data)
    subprocess.run([flatc(), "--json", "--strict-json", "--defaults-json", "-o", work,
                    SCHEMA, "--", path], check=True)
    with open(os.path.join(work, "in.json")) as f:
        return json.load(f)


def from_json(value, work):
    path = os.path.join(work, "out.json")
    with open(path, "w") as f:
        json.dump(value, f)
    subprocess.run([flatc(), "--binary", "-o", work, SCHEMA, path], check=True)
    with open(os.path.join(work, "out.attn"), "rb") as f:
        return f.read()


def xxh3(data):
    """XXH3-64, seed 0, from Debian's libxxhash (what runtime/Hash.h computes)."""
    library = ctypes.CDLL("libxxhash.so.0")
    library.XXH3_64bits.restype = ctypes.c_uint64
    library.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return library.XXH3_64bits(data, len(data))


SEAL_MAGIC = b"ATTNSEAL"
SEAL_SIZE = 24


def seal(flatbuffer):
    """The 24 bytes that end an artifact whose FlatBuffer is `flatbuffer`."""
    return SEAL_MAGIC + struct.pack("<QQ", len(flatbuffer), xxh3(flatbuffer))


def reseal(data):
    """`data` with its seal recomputed over the FlatBuffer size it records."""
    assert data[-SEAL_SIZE:-16] == SEAL_MAGIC
    (size,) = struct.unpack("<Q", data[-16:-8])
    return data[:-SEAL_SIZE] + seal(data[:size])


def set_field(root, path, value):
    keys = path.split(".")
    node = root
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def rebuild(data, edits, work):
    root = to_json(data, work)
    weights = root.get("weights")
    segment = b""
    if weights and weights.get("location") == "Embedded":
        begin = weights["segment_offset"]
        segment = data[begin:begin + weights["segment_size"]]
    for path, value in edits:
        set_field(root, path, value)
    if not segment:
        flat = from_json(root, work)
        return flat + seal(flat)
    # Move the segment after the new FlatBuffer, 64-byte aligned; the offset
    # is a fixed-size field, so one more build has the same size.
    root["weights"]["segment_offset"] = 1 << 40
    size = len(from_json(root, work))
    offset = (size + 4096 + 63) // 64 * 64
    root["weights"]["segment_offset"] = offset
    flat = from_json(root, work)
    assert len(flat) <= offset
    return flat + b"\0" * (offset - len(flat)) + segment + seal(flat)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--identifier")
    parser.add_argument("--truncate", type=int, default=0)
    parser.add_argument("--elf-byte", action="append", default=[])
    parser.add_argument("--reseal", action="store_true")
    parser.add_argument("--weight-byte", action="append", default=[])
    args = parser.parse_args()
    with open(args.input, "rb") as f:
        data = f.read()
    with tempfile.TemporaryDirectory() as work:
        if args.set:
            edits = []
            for item in args.set:
                path, value = item.split("=", 1)
                edits.append((path, json.loads(value)))
            data = rebuild(data, edits, work)
        if args.elf_byte:
            image = bytes(to_json(data, work)["cpu"][0]["shared_object"])
            start = data.find(image)
            assert start >= 0
            data = bytearray(data)
            for item in args.elf_byte:
                offset, value = item.split("=")
                data[start + int(offset, 0)] = int(value, 0)
            data = bytes(data)
            if args.reseal:
                data = reseal(data)
        if args.weight_byte:
            start = to_json(data, work)["weights"]["segment_offset"]
            data = bytearray(data)
            for item in args.weight_byte:
                offset, value = item.split("=")
                data[start + int(offset, 0)] = int(value, 0)
            data = bytes(data)
    if args.identifier:
        assert len(args.identifier) == 4
        data = data[:4] + args.identifier.encode() + data[8:]
    if args.truncate:
        data = data[:-args.truncate]
    with open(args.output, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    sys.exit(main())
