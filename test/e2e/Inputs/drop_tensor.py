"""Rewrites a safetensors file without one tensor's header entry:
drop_tensor.py FILE NAME."""
import json
import struct
import sys

path, name = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    data = f.read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
del header[name]
text = json.dumps(header).encode()
text += b" " * ((8 - len(text) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data[8 + n:])
