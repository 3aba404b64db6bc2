#!/usr/bin/env bash
# Installs what is missing, builds, shows the attention fusion on one GPT-2
# attention block (docs/examples/attention-block.mlir), then compiles the
# shipped CogModel checkpoint (models/cogmodel) into an artifact and
# generates from it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

attn_install_deps
attn_build >/dev/null

# The seed's five attention steps become one masked softmax, then one
# flash-style fused attention.
block="$ATTN_ROOT/docs/examples/attention-block.mlir"
echo "\$ attn-opt docs/examples/attention-block.mlir --attn-fuse-masked-softmax"
"$ATTN_BUILD/bin/attn-opt" "$block" --attn-fuse-masked-softmax
echo "\$ attn-opt docs/examples/attention-block.mlir --attn-fuse-masked-softmax --attn-fuse-attention"
"$ATTN_BUILD/bin/attn-opt" "$block" --attn-fuse-masked-softmax --attn-fuse-attention

artifact="$ATTN_BUILD/cogmodel.attn"
echo "\$ attnc models/cogmodel -o $artifact"
"$ATTN_BUILD/bin/attnc" "$ATTN_ROOT/models/cogmodel" -o "$artifact"
for prompt in "minecraft echo" "minecraft upper" "attention echo" "compiler upper"; do
  echo "\$ attn-run cogmodel.attn --prompt \"$prompt\""
  "$ATTN_BUILD/bin/attn-run" "$artifact" --prompt "$prompt"
done
echo "\$ attn-run cogmodel.attn --prompt \"zebra echo\" --json"
"$ATTN_BUILD/bin/attn-run" "$artifact" --prompt "zebra echo" --json
