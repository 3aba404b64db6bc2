#!/usr/bin/env bash
# Installs what is missing, builds, runs every suite, and ends with one line
# "N passed, M failed". Exits non-zero when anything failed.
#
#   scripts/test.sh             build/: the lit suite, then a short run of
#                               each fuzz target (scripts/fuzz.sh)
#   scripts/test.sh --sanitize  build-asan/: the lit suite with attn built
#                               with AddressSanitizer and UBSan
set -euo pipefail

sanitize=0
for arg in "$@"; do
  case $arg in
  --sanitize) sanitize=1 ;;
  *)
    echo "usage: scripts/test.sh [--sanitize]" >&2
    exit 2
    ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$sanitize" -eq 1 ]; then
  export ATTN_BUILD="$root/build-asan"
fi
source "$root/scripts/lib.sh"

attn_install_deps
if [ "$sanitize" -eq 1 ] && [ ! -f "$ATTN_BUILD/build.ninja" ]; then
  # Every attn target instrumented (MLIR, LLVM and the kernels that attnc
  # compiles are not); -O1 keeps the build and the suite fast enough.
  attn_log "configuring $ATTN_BUILD (ATTN_SANITIZE=ON)"
  cmake -G Ninja -S "$ATTN_ROOT" -B "$ATTN_BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only -DNDEBUG" \
    "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only -DNDEBUG" \
    -DATTN_SANITIZE=ON \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 >/dev/null
fi
attn_build ${ATTN_JOBS:+-j "$ATTN_JOBS"}
attn_fetch_gpt2_bpe

passed=0
failed=0

# The lit suite: dialect, transform, conversion, pipeline, frontend and e2e
# tests, the C++ unit tests (one result per test case), and the replay of
# the fuzz targets' seeds and regressions.
attn_log "lit"
lit_log=$(mktemp)
set +e
/usr/lib/llvm-22/bin/lit --no-gtest-sharding -sv "$ATTN_BUILD/test" 2>&1 | tee "$lit_log"
set -e
# lit pads the names when several kinds occur ("  Passed     : 230").
count() { sed -n "s/^ *$1 *: *\([0-9]*\).*/\1/p" "$lit_log" | head -n1; }
passed=$((passed + $(count Passed || true) + 0))
for kind in Failed Unresolved 'Timed Out' 'Unexpectedly Passed'; do
  n=$(count "$kind")
  failed=$((failed + ${n:-0}))
done
if ! grep -q '^ *Passed *: ' "$lit_log" && [ "$failed" -eq 0 ]; then
  attn_log "lit reported no results"
  failed=$((failed + 1))
fi
rm -f "$lit_log"

# A short libFuzzer run of each fuzz target (scripts/fuzz.sh, its own build
# in build-fuzz/), one result per target. ATTN_FUZZ_SECONDS=0 skips it.
fuzz_seconds=${ATTN_FUZZ_SECONDS:-20}
if [ "$sanitize" -eq 0 ] && [ "$fuzz_seconds" -gt 0 ]; then
  attn_log "fuzz (${fuzz_seconds}s per target)"
  fuzz_log=$(mktemp)
  set +e
  # Its own "N passed, M failed" goes into the totals, not the output.
  bash "$ATTN_ROOT/scripts/fuzz.sh" "$fuzz_seconds" 2>&1 | tee "$fuzz_log" |
    grep --line-buffered -v -E '^[0-9]+ passed, [0-9]+ failed$'
  set -e
  fuzz_passed=$(grep -c '^PASS: fuzz/' "$fuzz_log" || true)
  fuzz_failed=$(grep -c '^FAIL: fuzz/' "$fuzz_log" || true)
  # A build that failed ran no target: each counts as failed.
  fuzz_targets=$(sed -n 's/^all_targets=(\(.*\))$/\1/p' \
    "$ATTN_ROOT/scripts/fuzz.sh" | wc -w)
  if [ $((fuzz_passed + fuzz_failed)) -lt "$fuzz_targets" ]; then
    fuzz_failed=$((fuzz_targets - fuzz_passed))
  fi
  passed=$((passed + fuzz_passed))
  failed=$((failed + fuzz_failed))
  rm -f "$fuzz_log"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
