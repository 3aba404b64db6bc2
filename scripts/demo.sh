#!/usr/bin/env bash
# Installs what is missing, builds, compiles the shipped CogModel checkpoint
# (models/cogmodel) into an artifact and generates from it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

attn_install_deps
attn_build >/dev/null

artifact="$ATTN_BUILD/cogmodel.attn"
echo "\$ attnc models/cogmodel -o $artifact"
"$ATTN_BUILD/bin/attnc" "$ATTN_ROOT/models/cogmodel" -o "$artifact"
for prompt in "minecraft echo" "minecraft upper" "attention echo" "compiler upper"; do
  echo "\$ attn-run cogmodel.attn --prompt \"$prompt\""
  "$ATTN_BUILD/bin/attn-run" "$artifact" --prompt "$prompt"
done
echo "\$ attn-run cogmodel.attn --prompt \"zebra echo\" --json"
"$ATTN_BUILD/bin/attn-run" "$artifact" --prompt "zebra echo" --json
