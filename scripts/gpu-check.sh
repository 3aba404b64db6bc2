#!/usr/bin/env bash
# The CUDA backend on a real GPU, checked in under 5 minutes.
#
#   scripts/gpu-check.sh --prepare DIR     here, with the built tree and MLIR
#   DIR/gpu-check.sh DIR                   on the GPU machine
#
# --prepare compiles, with build/bin/attnc --target=all, the shipped CogModel,
# a tiny GPT-2 and a GPT-2 124M-shaped model (--weights=external, its random
# weights deleted afterwards: the GPU machine makes its own), each with its
# matrix products on tensor cores and on the f32 pipelines, and copies them
# with attn-run, attn-bench, test/reference/compare.py and this script into
# DIR (under 64 MiB).
#
# On the GPU machine (an NVIDIA driver, compute-sanitizer, and python3 with
# PyTorch, transformers and safetensors; no MLIR, no network needed) it:
#   1. runs the CogModel and tiny GPT-2 artifacts on the CPU and on the GPU:
#      identical tokens, logits within 1e-3 (both matmul variants; if the
#      tensor-core one fails, the later steps use the f32 one and the
#      check fails at the end);
#   2. writes a seeded random GPT-2 124M (GPT2LMHeadModel(GPT2Config()))
#      as safetensors with Hugging Face's names, runs our artifact on it
#      (attn-run --weights) and HF's greedy generation on the same weights:
#      identical tokens;
#   3. runs short generations under compute-sanitizer's memcheck,
#      racecheck and synccheck;
#   4. prints prefill (128 and 512 tokens) and per-token decode times
#      (after 128 tokens, and after 960: long KV caches) of ours and HF
#      eager, and their ratios, naming the GPU, and decode's floor (the
#      weights' bytes at the device's measured copy bandwidth);
#   5. prints attn-run --profile's time per kernel of a 128-token prefill
#      and 15 decode steps (what to tune next).
# A failed comparison (steps 1 to 3) is reported when it happens and the
# later steps still run, so that one run on a lent GPU yields every figure;
# the script then exits non-zero listing what failed. A missing file or
# tool, or an error that leaves nothing to measure, stops it at once.
#
# With the device tool of our workplace: prepare into a folder of the
# checkout (say gpu-check/), then run `gpu-check/gpu-check.sh gpu-check`
# with carry=["gpu-check"]: *.attn files are git-ignored, so only carry
# brings them (about 5 MiB of the 64 MiB allowed).
set -Eeuo pipefail

fail() {
  echo "gpu-check: FAILED: $*" >&2
  exit 1
}
# A check that failed; the later steps still run (see the end of check).
FAILURES=()
failed() {
  echo "gpu-check: FAILED: $*" >&2
  FAILURES+=("$*")
}
# The failing command's first line (a heredoc's script stays out).
on_error() { fail "line $1: ${2%%$'\n'*}"; }
trap 'on_error $LINENO "$BASH_COMMAND"' ERR
log() { printf '== %s\n' "$*" >&2; }

# The tiny GPT-2's prompts: short, and long enough to cross attention tiles.
TINY_SHORT=5,6,7,100,200
TINY_LONG=$(seq -s, 11 3 218) # 70 tokens
# The GPT-2 124M greedy check: prompt and length; the seed of its weights.
GPT2_PROMPT=464,2068,7586,21831,18045,625,262,16931,3290,13
GPT2_NEW_TOKENS=32
GPT2_SEED=1234

# The artifact name suffix of a --cuda-matmul variant.
suffix() { [ "$1" = tf32x3 ] || echo "-$1"; }

prepare() {
  local dir=$1
  # shellcheck source=lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
  local bin=$ATTN_BUILD/bin python=/usr/bin/python3
  for tool in attnc attn-run attn-bench; do
    [ -x "$bin/$tool" ] || fail "$bin/$tool is not built (scripts/test.sh builds it)"
  done
  attn_fetch_gpt2_bpe
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT

  # Each model twice: matrix products on tensor cores (3xTF32, the
  # default) and on the f32 pipelines (-f32), so that a failure of one
  # still leaves the other's figures.
  local variant
  log "CogModel"
  for variant in tf32x3 f32; do
    "$bin/attnc" "$ATTN_ROOT/models/cogmodel" --target=all --cuda-matmul=$variant \
      -o "$dir/cogmodel$(suffix $variant).attn"
  done
  log "tiny GPT-2"
  "$python" "$ATTN_ROOT/test/reference/gpt2.py" make "$WORK/tiny" --seed 3 \
    --n-embd 64 --n-head 4 --n-layer 2 --n-positions 128
  for variant in tf32x3 f32; do
    "$bin/attnc" "$WORK/tiny" --target=all --cuda-matmul=$variant \
      -o "$dir/tiny$(suffix $variant).attn"
  done
  log "GPT-2 124M shapes (external weights, not shipped)"
  # HF's names for GPT2LMHeadModel ("transformer." + ...), which the GPU
  # machine's checkpoint has too; the artifact binds them by name.
  "$python" "$ATTN_ROOT/test/reference/gpt2.py" make "$WORK/gpt2" --seed 1 \
    --init hf --prefix --vocab 50257 --n-embd 768 --n-head 12 --n-layer 12 \
    --n-positions 1024 --tokenizer "$ATTN_GPT2_BPE_DIR"
  for variant in tf32x3 f32; do
    "$bin/attnc" "$WORK/gpt2" --target=all --weights=external --cuda-matmul=$variant \
      -o "$dir/gpt2-124m$(suffix $variant).attn"
  done

  cp "$bin/attn-run" "$bin/attn-bench" "$dir/bin/"
  cp "$ATTN_ROOT/test/reference/compare.py" "$dir/"
  cp "${BASH_SOURCE[0]}" "$dir/gpu-check.sh"
  local bytes
  bytes=$(du -sb "$dir" | cut -f1)
  [ "$bytes" -lt $((64 << 20)) ] || fail "$dir holds $bytes bytes, over 64 MiB"
  log "$dir: $((bytes >> 20)) MiB; on the GPU machine run: $dir/gpu-check.sh $dir"
}

# The Hugging Face side: make the checkpoint, greedy tokens, timings.
hf() {
  python3 - "$@" <<'EOF'
import json
import statistics
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

command, path = sys.argv[1], sys.argv[2]
# fp32 matmuls without TF32, as ours (the newer API; the legacy allow_tf32
# setter conflicts with it in recent PyTorch).
torch.set_float32_matmul_precision("highest")


def model_from(path):
    from safetensors.torch import load_file
    # Eager attention: PyTorch ops as the model code writes them.
    model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager"))
    if model.config._attn_implementation != "eager":
        sys.exit(f"HF attention is {model.config._attn_implementation}, not eager")
    missing, unexpected = model.load_state_dict(load_file(path), strict=False)
    # lm_head is tied to wte; the masks are buffers.
    missing = [m for m in missing if m != "lm_head.weight"
               and not m.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        sys.exit(f"{path}: missing {missing}, unexpected {unexpected}")
    return model.to("cuda").eval()


if command == "make":
    from safetensors.torch import save_file
    torch.manual_seed(int(sys.argv[3]))
    model = GPT2LMHeadModel(GPT2Config())
    state = {k: v.contiguous() for k, v in model.state_dict().items()
             if k != "lm_head.weight" and not k.endswith((".attn.bias", ".attn.masked_bias"))}
    save_file(state, path, metadata={"format": "pt"})
elif command == "greedy":
    prompt = [int(t) for t in sys.argv[3].split(",")]
    new_tokens = int(sys.argv[4])
    model = model_from(path)
    tokens, margins = [], []
    with torch.no_grad():
        out = model(torch.tensor([prompt], device="cuda"), use_cache=True)
        while True:
            logits = out.logits[0, -1].float()
            top = torch.topk(logits, 2).values
            margins.append(float(top[0] - top[1]))
            token = int(torch.argmax(logits))
            tokens.append(token)
            if token == 50256 or len(tokens) == new_tokens:
                break
            out = model(torch.tensor([[token]], device="cuda"),
                        past_key_values=out.past_key_values, use_cache=True)
    print(json.dumps({"tokens": tokens, "margins": margins}))
elif command == "bench":
    model = model_from(path)
    ids = lambda n: torch.tensor([[(i * 7919 + 13) % 50257 for i in range(n)]], device="cuda")

    def timed(fn):
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1000, result

    result = {"attn_implementation": getattr(model.config, "_attn_implementation", "default")}
    with torch.no_grad():
        for n in (128, 512):
            prompt = ids(n)
            times = [timed(lambda: model(prompt, use_cache=True))[0] for _ in range(6)][1:]
            result[f"prefill_{n}_ms"] = statistics.median(times)
        # 32 tokens after a 128-token prompt, and after a 960-token one
        # (long KV caches: where splitting them over blocks pays).
        for start, key in ((128, "decode_ms_per_token"), (960, "decode_960_ms_per_token")):
            prompt = ids(start + 32)
            per_token = []
            for _ in range(4):
                _, out = timed(lambda: model(prompt[:, :start], use_cache=True))
                steps = []
                for s in range(32):
                    ms, out = timed(lambda: model(prompt[:, start + s:start + s + 1],
                                                  past_key_values=out.past_key_values,
                                                  use_cache=True))
                    steps.append(ms)
                per_token.append(statistics.median(steps))
            result[key] = statistics.median(per_token[1:])
        # The device's memory bandwidth, for decode's floor: a 1 GiB copy
        # reads and writes 1 GiB each.
        a = torch.empty(1 << 28, device="cuda")
        b = torch.empty_like(a)
        copies = [timed(lambda: b.copy_(a))[0] for _ in range(6)][1:]
        result["bandwidth_gb_s"] = 2 * a.numel() * 4 / (statistics.median(copies) / 1000) / 1e9
    print(json.dumps(result))
EOF
}

check() {
  local dir=$1
  local bin=$dir/bin
  for file in bin/attn-run bin/attn-bench compare.py cogmodel.attn tiny.attn gpt2-124m.attn \
    cogmodel-f32.attn tiny-f32.attn gpt2-124m-f32.attn; do
    [ -e "$dir/$file" ] || fail "$dir/$file is missing (make DIR with --prepare)"
  done
  local gpu sanitizer
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) ||
    fail "nvidia-smi does not see a GPU"
  sanitizer=$(command -v compute-sanitizer) || sanitizer=/usr/local/cuda/bin/compute-sanitizer
  if [ ! -x "$sanitizer" ] && command -v nvcc > /dev/null; then
    sanitizer=$(dirname "$(command -v nvcc)")/compute-sanitizer
  fi
  [ -x "$sanitizer" ] ||
    fail "compute-sanitizer not found (PATH, /usr/local/cuda/bin, next to nvcc)"
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  log "GPU: $gpu"

  log "1. CPU and GPU agree (tokens identical, logits within 1e-3)"
  same() {
    local name=$1
    shift
    "$bin/attn-run" "$@" --device=cpu --json --logits > "$WORK/$name.cpu.json" &&
      timeout 120 "$bin/attn-run" "$@" --device=cuda --json --logits > "$WORK/$name.cuda.json" &&
      python3 "$dir/compare.py" --atol 1e-3 "$WORK/$name.cuda.json" "$WORK/$name.cpu.json"
  }
  # The variant the later steps use: tensor cores, unless they disagree
  # (then the check goes on with the f32 pipelines and fails at the end).
  local use="" tensor_cores=passed
  for variant in f32 tf32x3; do
    local s ok=1
    s=$(suffix $variant)
    log "   --cuda-matmul=$variant"
    same "cogmodel-echo$s" "$dir/cogmodel$s.attn" --prompt "minecraft echo" --max-new-tokens 16 &&
      same "cogmodel-upper$s" "$dir/cogmodel$s.attn" --prompt "zebra upper" --max-new-tokens 16 &&
      same "tiny-short$s" "$dir/tiny$s.attn" --tokens "$TINY_SHORT" --max-new-tokens 24 &&
      same "tiny-long$s" "$dir/tiny$s.attn" --tokens "$TINY_LONG" --max-new-tokens 50 || ok=0
    if [ $ok = 0 ] && [ $variant = f32 ]; then
      fail "--cuda-matmul=f32: the GPU disagrees with the CPU"
    elif [ $ok = 0 ]; then
      failed "--cuda-matmul=tf32x3: the GPU disagrees with the CPU; going on with f32"
      tensor_cores=failed
      use=-f32
    fi
  done

  log "2. GPT-2 124M: our greedy tokens and Hugging Face's on the same weights"
  local weights=$WORK/gpt2-124m.safetensors
  hf make "$weights" "$GPT2_SEED"
  if timeout 120 "$bin/attn-run" "$dir/gpt2-124m$use.attn" --weights "$weights" \
    --device=cuda --tokens "$GPT2_PROMPT" --max-new-tokens "$GPT2_NEW_TOKENS" --json \
    > "$WORK/ours.json"; then
    hf greedy "$weights" "$GPT2_PROMPT" "$GPT2_NEW_TOKENS" > "$WORK/hf.json"
    python3 - "$WORK/ours.json" "$WORK/hf.json" <<'EOF' || failed "GPT-2 124M: our tokens differ from Hugging Face's"
import json, sys
ours = json.load(open(sys.argv[1]))["tokens"]
hf = json.load(open(sys.argv[2]))
for step, (a, b) in enumerate(zip(ours, hf["tokens"])):
    if a != b:
        sys.exit(f"step {step}: ours {a}, HF {b} (HF's top-2 logit margin there: {hf['margins'][step]:.3g})")
if len(ours) != len(hf["tokens"]):
    sys.exit(f"ours has {len(ours)} tokens, HF {len(hf['tokens'])}")
print(f"match: {len(ours)} tokens, smallest top-2 margin {min(hf['margins']):.3g}")
EOF
  else
    failed "GPT-2 124M: attn-run failed on the GPU"
  fi

  log "3. compute-sanitizer (memcheck, racecheck, synccheck) on short generations"
  # memcheck: every access and allocation; racecheck: shared memory hazards
  # between a block's threads; synccheck: barriers and shuffles. The long
  # prompt crosses attention tiles and makes the decode split its keys.
  local tool tokens rc
  for tool in memcheck racecheck synccheck; do
    tokens=$TINY_SHORT
    [ "$tool" = racecheck ] && tokens=$TINY_LONG
    rc=0
    local extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    timeout 150 "$sanitizer" --tool "$tool" --error-exitcode 3 "${extra[@]}" \
      "$bin/attn-run" "$dir/tiny$use.attn" --device=cuda --tokens "$tokens" \
      --max-new-tokens 8 > "$WORK/sanitizer-$tool.txt" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
      tail -20 "$WORK/sanitizer-$tool.txt" >&2
      if [ "$rc" -eq 3 ]; then
        failed "compute-sanitizer reports $tool errors"
      else
        failed "attn-run failed under compute-sanitizer $tool (exit $rc)"
      fi
    elif [ "$tool" = memcheck ] &&
      ! grep -q "ERROR SUMMARY: 0 errors" "$WORK/sanitizer-$tool.txt"; then
      tail -20 "$WORK/sanitizer-$tool.txt" >&2
      failed "compute-sanitizer did not report 0 memcheck errors"
    else
      echo "$tool: no errors"
    fi
  done

  log "4. timings"
  # Both variants: which multiplies matrices faster is decided here.
  for variant in tf32x3 f32; do
    timeout 120 "$bin/attn-bench" "$dir/gpt2-124m$(suffix $variant).attn" --weights "$weights" \
      --device cuda --prefill 128 --prefill 512 --decode-after 128 --decode 32 --repeats 5 \
      > "$WORK/bench-$variant.json"
  done
  # Decode late in the context, with the variant step 1 passed.
  timeout 120 "$bin/attn-bench" "$dir/gpt2-124m$use.attn" --weights "$weights" \
    --device cuda --decode-after 960 --decode 32 --repeats 5 > "$WORK/bench-960.json"
  hf bench "$weights" > "$WORK/hf-bench.json"
  python3 - "$WORK/bench-tf32x3.json" "$WORK/hf-bench.json" "$gpu" "$(stat -c %s "$weights")" \
    "$WORK/bench-f32.json" "$tensor_cores" "$WORK/bench-960.json" <<'EOF'
import json, sys
ours, hf, gpu = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
weight_bytes = int(sys.argv[4])
f32 = json.load(open(sys.argv[5]))
late = json.load(open(sys.argv[7]))
if sys.argv[6] != "passed":
    print("(tensor cores failed the CPU comparison: the attn figures below are the f32 pipelines')")
    ours = f32
if ours["device"] != "cuda" or late["device"] != "cuda":
    sys.exit("attn-bench did not run on cuda")
rows = [("prefill, 128 tokens", ours["prefill_128_ms"], hf["prefill_128_ms"]),
        ("prefill, 512 tokens", ours["prefill_512_ms"], hf["prefill_512_ms"]),
        ("decode, per token (after 128)", ours["decode_32_after_128_ms_per_token"], hf["decode_ms_per_token"]),
        ("decode, per token (after 960)", late["decode_32_after_960_ms_per_token"], hf["decode_960_ms_per_token"])]
print(f"GPT-2 124M (f32) on {gpu}; HF eager: transformers, {hf['attn_implementation']} attention")
print(f"{'':32} {'attn ms':>10} {'HF ms':>10} {'HF/attn':>8}")
for name, a, b in rows:
    print(f"{name:32} {a:10.3f} {b:10.3f} {b / a:8.2f}")
print("--cuda-matmul=f32 (the f32 pipelines) instead of tensor cores:")
for name, key in (("prefill, 128 tokens", "prefill_128_ms"), ("prefill, 512 tokens", "prefill_512_ms"),
                  ("decode, per token (after 128)", "decode_32_after_128_ms_per_token")):
    print(f"{name:32} {f32[key]:10.3f}")
# Decode reads every weight once per token: its floor at the measured
# bandwidth.
floor_ms = weight_bytes / (hf["bandwidth_gb_s"] * 1e9) * 1e3
decode = ours["decode_32_after_128_ms_per_token"]
print(f"decode floor: {weight_bytes / 1e6:.0f} MB of weights at {hf['bandwidth_gb_s']:.0f} GB/s "
      f"(device copy) = {floor_ms:.3f} ms; attn decode is {decode / floor_ms:.2f}x the floor")
EOF

  log "5. where the time goes: attn-run --profile (decode kernel by kernel)"
  timeout 120 "$bin/attn-run" "$dir/gpt2-124m$use.attn" --weights "$weights" --device=cuda \
    --tokens "$(seq -s, 100 227)" --max-new-tokens 16 --json --profile \
    > /dev/null 2> "$WORK/profile.txt" || { cat "$WORK/profile.txt" >&2; fail "attn-run --profile failed"; }
  cat "$WORK/profile.txt"
  if [ ${#FAILURES[@]} -gt 0 ]; then
    printf 'gpu-check: FAILED: %s\n' "${FAILURES[@]}" >&2
    fail "${#FAILURES[@]} check(s) failed in ${SECONDS}s"
  fi
  log "gpu-check: all checks passed in ${SECONDS}s"
  [ "$SECONDS" -le 300 ] || fail "took ${SECONDS}s, over the 5-minute budget"
}

case "${1:-}" in
--prepare)
  [ $# -eq 2 ] || fail "usage: $0 --prepare DIR"
  prepare "$2"
  ;;
"" | -*)
  fail "usage: $0 --prepare DIR (here), or $0 DIR (on the GPU machine)"
  ;;
*)
  [ $# -eq 1 ] || fail "usage: $0 DIR"
  check "$1"
  ;;
esac
