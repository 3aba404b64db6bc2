"""Rewrites one tensor's entry in a safetensors header, in place:

    edit_safetensors.py FILE TENSOR FIELD JSON

e.g. `edit_safetensors.py model.safetensors embed.weight shape
'[9223372036854775808, 8]'`. JSON is written as given (so integers past
int64 stay exact); the header size field follows the new header.
"""

import json
import struct
import sys


def main():
    path, name, field, value = sys.argv[1:]
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    entry = header[name]
    parts = []
    for key, old in entry.items():
        text = value if key == field else json.dumps(old)
        parts.append("%s: %s" % (json.dumps(key), text))
    header[name] = "\0"
    text = json.dumps(header).replace('"\\u0000"', "{" + ", ".join(parts) + "}")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text.encode() + data[8 + size:])


if __name__ == "__main__":
    main()
