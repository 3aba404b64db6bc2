#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz in build-fuzz/ (clang-22,
# -fsanitize=fuzzer,address,undefined: flags of its own, so never in build/)
# and runs each on its seed corpus for a while.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]
#
# SECONDS_PER_TARGET defaults to 30; TARGET is one of safetensors, pytorch,
# artifact, tokenizer, attn-ir, runtime-safetensors (default: all). Each target prints one line,
# "PASS: fuzz/<target> ..." or "FAIL: fuzz/<target> ...", then the last line
# is "N passed, M failed"; the exit status is non-zero when a target failed.
# The inputs that made a target fail (crash-*, timeout-*, oom-*, leak-*) are
# copied to test/fuzz/regressions/<target>/, which the lit suite replays in
# the normal build (test/fuzz/replay-<target>.test): fix the bug, keep the
# input. Inputs that found new coverage accumulate in build-fuzz/corpus/.
#
# ATTN_JOBS limits the build's parallelism (ninja -j).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

all_targets=(safetensors pytorch artifact tokenizer attn-ir runtime-safetensors)
seconds=${1:-30}
if [ $# -gt 0 ]; then shift; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
case $seconds in
'' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]" >&2
  exit 2
  ;;
esac
for target in "${targets[@]}"; do
  case " ${all_targets[*]} " in
  *" $target "*) ;;
  *)
    echo "scripts/fuzz.sh: unknown target '$target' (${all_targets[*]})" >&2
    exit 2
    ;;
  esac
done

# libFuzzer and the sanitizer runtimes of clang-22.
ATTN_APT_PACKAGES+=(libclang-rt-22-dev)
attn_install_deps
# The main build's attnc and attn-test-artifact make the seed artifacts.
attn_build ${ATTN_JOBS:+-j "$ATTN_JOBS"}
attn_fetch_gpt2_bpe

fuzz_build=${ATTN_FUZZ_BUILD:-$ATTN_ROOT/build-fuzz}
if [ ! -f "$fuzz_build/build.ninja" ]; then
  attn_log "configuring $fuzz_build (ATTN_ENABLE_FUZZ=ON)"
  cmake -G Ninja -S "$ATTN_ROOT" -B "$fuzz_build" \
    -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only -DNDEBUG" \
    "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only -DNDEBUG" \
    -DATTN_ENABLE_FUZZ=ON -DATTN_ENABLE_TESTS=OFF \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 >/dev/null
fi
attn_log "building the fuzz targets: ${targets[*]}"
ninja -C "$fuzz_build" ${ATTN_JOBS:+-j "$ATTN_JOBS"} \
  "${targets[@]/#/attn-fuzz-}" >"$fuzz_build/build.log" 2>&1 || {
  tail -n 40 "$fuzz_build/build.log" >&2
  exit 1
}

attn_log "making the seed corpora"
seeds="$fuzz_build/seeds"
rm -rf "$seeds"
only=()
for target in "${targets[@]}"; do only+=(--only "$target"); done
/usr/bin/python3 "$ATTN_ROOT/test/fuzz/make_seeds.py" "$seeds" \
  --tools "$ATTN_BUILD/bin" "${only[@]}"

passed=0
failed=0
for target in "${targets[@]}"; do
  corpus="$fuzz_build/corpus/$target"
  found="$fuzz_build/found/$target"
  regressions="$ATTN_ROOT/test/fuzz/regressions/$target"
  log="$fuzz_build/logs/$target.log"
  mkdir -p "$corpus" "$found" "$regressions" "$(dirname "$log")"
  rm -f "$found"/*
  attn_log "fuzzing $target for ${seconds}s"
  # The corpus folder first: libFuzzer adds what it finds there. The
  # regressions run first of all, so a bug that is back fails at once.
  # -timeout: an input that takes this long is a failure (a hang).
  # allow_user_poisoning=0: LLVM's headers, inlined into our instrumented
  # code, poison allocator slabs that the uninstrumented libLLVM/libMLIR
  # then use without unpoisoning; ASan's memmove interceptor reported that
  # as use-after-poison inside MLIR's parser (a false positive that did not
  # reproduce on the input alone). Heap, stack and UB checks are unaffected.
  set +e
  ATTN_GPT2_BPE="$ATTN_GPT2_BPE_DIR" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:allocator_may_return_null=1:allow_user_poisoning=0" \
    "$fuzz_build/bin/attn-fuzz-$target" -max_total_time="$seconds" \
    -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$found/" \
    "$corpus" "$seeds/$target" "$regressions" >"$log" 2>&1
  status=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  inputs=$(ls "$corpus" | wc -l)
  if [ "$status" -eq 0 ]; then
    echo "PASS: fuzz/$target (${seconds}s, ${runs:-?} runs, corpus of $inputs inputs)"
    passed=$((passed + 1))
  else
    cp "$found"/* "$regressions"/ 2>/dev/null || true
    echo "FAIL: fuzz/$target (exit $status; log $log)"
    grep -E 'ERROR|SUMMARY|broken promise|runtime error|Test unit written' "$log" | head -n 20 || true
    for input in "$found"/*; do
      [ -e "$input" ] && echo "  new regression input: test/fuzz/regressions/$target/$(basename "$input")"
    done
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
