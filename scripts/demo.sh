#!/usr/bin/env bash
# Installs what is missing, builds, and shows attn at work: the fusion of the
# seed's scale + causal mask + softmax in one GPT-2 attention block.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

attn_install_deps
attn_build >/dev/null

example="$ATTN_ROOT/docs/examples/attention-block.mlir"
echo "--- attention as the frontend writes it ($example)"
grep -v '^//' "$example"
echo
echo "--- after attn-opt --attn-fuse-masked-softmax"
"$ATTN_BUILD/bin/attn-opt" "$example" --attn-fuse-masked-softmax
