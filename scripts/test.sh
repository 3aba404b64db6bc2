#!/usr/bin/env bash
# Installs what is missing, builds, runs every suite, and ends with one line
# "N passed, M failed". Exits non-zero when anything failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

attn_install_deps
attn_build
attn_fetch_gpt2_bpe

passed=0
failed=0

# The lit suite: dialect, transform, conversion, pipeline, frontend and e2e
# tests, and the GoogleTest unit tests (one result per test case).
attn_log "lit"
lit_log=$(mktemp)
set +e
/usr/lib/llvm-22/bin/lit --no-gtest-sharding -sv "$ATTN_BUILD/test" 2>&1 | tee "$lit_log"
set -e
count() { sed -n "s/^ *$1: *\([0-9]*\).*/\1/p" "$lit_log" | head -n1; }
passed=$((passed + $(count Passed || true) + 0))
for kind in Failed Unresolved 'Timed Out' 'Unexpectedly Passed'; do
  n=$(count "$kind")
  failed=$((failed + ${n:-0}))
done
if ! grep -q '^ *Passed: ' "$lit_log" && [ "$failed" -eq 0 ]; then
  attn_log "lit reported no results"
  failed=$((failed + 1))
fi
rm -f "$lit_log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
