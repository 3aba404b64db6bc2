"""Prints the CUDA kernel table of an attn artifact, one line per kernel and
per PTX module, for FileCheck:

    cuda_kernels.py ARTIFACT

    cpu: yes|no
    kernel k0_embedding block_size=256 items_per_block=1 shared_memory_bytes=0 grid_y=1 reads_step=yes workspace_bytes=0
    module sm_80 entries=14 missing=none
    ...

`entries` counts the `.entry` directives of the module's PTX, `missing`
names the kernels that it does not define.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                      "runtime", "schema", "artifact.fbs")


def main():
    artifact = sys.argv[1]
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([shutil.which("flatc") or "/usr/bin/flatc", "--json",
                        "--strict-json", "--defaults-json", "-o", work, SCHEMA,
                        "--", artifact], check=True)
        name = os.path.splitext(os.path.basename(artifact))[0] + ".json"
        with open(os.path.join(work, name)) as f:
            root = json.load(f)
    print("cpu:", "yes" if root.get("cpu") else "no")
    cuda = root.get("cuda")
    if not cuda:
        print("cuda: no")
        return
    names = cuda["kernel_names"]
    # The optional lists' meaning when absent (artifact.fbs).
    grid_y = cuda.get("grid_y") or [1] * len(names)
    reads_step = cuda.get("reads_step") or [True] * len(names)
    workspace = cuda.get("workspace_bytes") or [0] * len(names)
    for i, kernel in enumerate(names):
        print(f"kernel {kernel} block_size={cuda['block_size'][i]} "
              f"items_per_block={cuda['items_per_block'][i]} "
              f"shared_memory_bytes={cuda['shared_memory_bytes'][i]} "
              f"grid_y={grid_y[i]} "
              f"reads_step={'yes' if reads_step[i] else 'no'} "
              f"workspace_bytes={workspace[i]}")
    for module in cuda["modules"]:
        entries = re.findall(r"\.entry\s+(\w+)\(", module["ptx"])
        missing = [k for k in names if k not in entries]
        print(f"module {module['arch']} entries={len(entries)} "
              f"missing={','.join(missing) or 'none'}")


if __name__ == "__main__":
    main()
