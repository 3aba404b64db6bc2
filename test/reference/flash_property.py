#!/usr/bin/env python3
"""Property test of the flash-attention lowering against the unfused one.

    flash_property.py --attn-opt PATH --runner PATH --runner-utils LIB
                      [--cases N] [--seed S]

Draws random attention problems (heads, head and value dims, 1..257 queries,
query offsets, key tiles, scales, -1e9, -inf or mild (-2: masked keys keep
some weight, so no key may be skipped) fills, decode-shaped single
queries, non-causal ones), writes one MLIR module that computes each problem
twice, once as the seed's unfused chain (qk_scores, scale, causal_mask,
softmax, weighted_sum) and once as attn.fused_attention, lowers it with
attn-opt and runs it with mlir-runner. Every case prints the largest
absolute difference of the two outputs; the test fails on a difference above
1e-5 or a NaN. Inputs are generated inside the module from the element
indices, so the module stays small.
"""
import argparse
import random
import subprocess
import sys
import tempfile


def tensor(shape):
    return "tensor<" + "x".join(str(d) for d in shape) + "xf32>"


def fill_fn(name, shape, salt):
    """A function returning a tensor of pseudo-random values in [-1, 1)."""
    rank = len(shape)
    dims = ", ".join(f"d{i}" for i in range(rank))
    idx = "\n".join(f"      %i{i} = linalg.index {i} : index\n"
                    f"      %x{i} = arith.index_cast %i{i} : index to i64"
                    for i in range(rank))
    mix = ["%c_salt"]
    lines = []
    primes = [7919, 104729, 1299709]
    for i in range(rank):
        lines.append(f"      %p{i} = arith.muli %x{i}, %c_p{i} : i64")
        lines.append(f"      %s{i} = arith.addi {mix[-1]}, %p{i} : i64")
        mix.append(f"%s{i}")
    consts = "\n".join(f"    %c_p{i} = arith.constant {primes[i]} : i64" for i in range(rank))
    t = tensor(shape)
    return f"""
  func.func private @{name}() -> {t} {{
    %e = tensor.empty() : {t}
    %c_salt = arith.constant {salt} : i64
{consts}
    %c_mod = arith.constant 2048 : i64
    %c_half = arith.constant 1024.0 : f32
    %r = linalg.generic {{indexing_maps = [affine_map<({dims}) -> ({dims})>], iterator_types = [{", ".join(['"parallel"'] * rank)}]}} outs(%e : {t}) {{
    ^bb0(%out: f32):
{idx}
{chr(10).join(lines)}
      %sq = arith.muli {mix[-1]}, {mix[-1]} : i64
      %h = arith.addi %sq, {mix[-1]} : i64
      %m = arith.remui %h, %c_mod : i64
      %f = arith.uitofp %m : i64 to f32
      %v = arith.divf %f, %c_half : f32
      %one = arith.constant 1.0 : f32
      %y = arith.subf %v, %one : f32
      linalg.yield %y : f32
    }} -> {t}
    return %r : {t}
  }}"""


def case_fn(n, c):
    h, sq, sk, d, e = c["heads"], c["queries"], c["keys"], c["dim"], c["vdim"]
    q, k, v = tensor([h, sq, d]), tensor([h, sk, d]), tensor([h, sk, e])
    s, o = tensor([h, sq, sk]), tensor([h, sq, e])
    causal = c["fill"] is not None
    fill = {"-1e9": "-1.0e+09", "-inf": "0xFFF0000000000000",
            "-2": "-2.0"}.get(c["fill"])
    unfused_mask = (f"%m = attn.causal_mask %a, %off fill({fill}) : {s}"
                    if causal else f"%m = attn.scale %a by 1.0 : {s}")
    fused_causal = f" causal(%off, {fill})" if causal else ""
    fused_types = f"({q}, {k}, {v}, index)" if causal else f"({q}, {k}, {v})"
    return f"""{fill_fn(f"q{n}", [h, sq, d], 11 + 3 * n)}
{fill_fn(f"k{n}", [h, sk, d], 12 + 3 * n)}
{fill_fn(f"v{n}", [h, sk, e], 13 + 3 * n)}
  func.func private @case{n}() -> f32 {{
    %q = call @q{n}() : () -> {q}
    %k = call @k{n}() : () -> {k}
    %v = call @v{n}() : () -> {v}
    %off = arith.constant {c["offset"]} : index
    %s = attn.qk_scores %q, %k : {q}, {k} -> {s}
    %a = attn.scale %s by {c["scale"]!r} : {s}
    {unfused_mask}
    %p = attn.softmax %m axis(2) : {s}
    %unfused = attn.weighted_sum %p, %v : {s}, {v} -> {o}
    %fused = attn.fused_attention %q, %k, %v scale({c["scale"]!r}){fused_causal} : {fused_types} -> {o}
    %z = arith.constant dense<0.0> : tensor<f32>
    %diff = linalg.generic {{indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> ()>], iterator_types = ["reduction", "reduction", "reduction"]}} ins(%unfused, %fused : {o}, {o}) outs(%z : tensor<f32>) {{
    ^bb0(%x: f32, %y: f32, %acc: f32):
      %dxy = arith.subf %x, %y : f32
      %ad = math.absf %dxy : f32
      %mx = arith.maximumf %acc, %ad : f32
      linalg.yield %mx : f32
    }} -> tensor<f32>
    %r = tensor.extract %diff[] : tensor<f32>
    return %r : f32
  }}"""


def draw(rng, n):
    cases = []
    for i in range(n):
        decode = i % 4 == 3
        queries = 1 if decode else rng.choice([1, 2, 7, 31, 64, 65, 100, 129, 200, 257])
        offset = rng.choice([0, 0, 1, 5, 63, 64, 100])
        fill = rng.choice(["-1e9", "-inf", "-inf", "-2", None]) if i else "-inf"
        cases.append({
            "heads": rng.randint(1, 4), "queries": queries, "offset": offset,
            "keys": offset + queries, "dim": rng.choice([1, 3, 8, 16, 64]),
            "vdim": rng.choice([1, 5, 8, 32]), "fill": fill,
            "scale": rng.choice([1.0, 0.125, 0.5, 2.0]),
        })
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attn-opt", required=True)
    parser.add_argument("--runner", required=True)
    parser.add_argument("--runner-utils", required=True)
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--key-tile", type=int, default=0,
                        help="0: a random tile per run from 1, 7, 16, 64")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = draw(rng, args.cases)
    tile = args.key_tile or rng.choice([1, 7, 16, 64])
    body = "\n".join(case_fn(n, c) for n, c in enumerate(cases))
    prints = "\n".join(f"    %d{n} = call @case{n}() : () -> f32\n    vector.print %d{n} : f32"
                       for n in range(len(cases)))
    module = f"module {{\n{body}\n  func.func @main() {{\n{prints}\n    return\n  }}\n}}\n"
    pipeline = ("builtin.module(attn-lower-to-linalg{key-tile=%d},canonicalize,"
                "one-shot-bufferize{bufferize-function-boundaries allow-return-allocs-from-loops},"
                "attn-memref-copy-to-linalg,func.func(convert-linalg-to-loops),"
                "expand-strided-metadata,lower-affine,convert-scf-to-cf,convert-vector-to-llvm,"
                "convert-to-llvm,reconcile-unrealized-casts)" % tile)
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
        f.write(module)
        path = f.name
    lowered = subprocess.run([args.attn_opt, path, f"--pass-pipeline={pipeline}"],
                             check=True, capture_output=True, text=True).stdout
    out = subprocess.run([args.runner, "-e", "main", "-entry-point-result=void",
                          f"-shared-libs={args.runner_utils}"], input=lowered,
                         check=True, capture_output=True, text=True).stdout
    diffs = [float(x) for x in out.split()]
    if len(diffs) != len(cases):
        sys.exit(f"expected {len(cases)} results, got: {out!r}")
    worst = 0.0
    for c, d in zip(cases, diffs):
        if not d <= 1e-5:
            sys.exit(f"key tile {tile}, case {c}: fused and unfused differ by {d}")
        worst = max(worst, d)
    print(f"{len(cases)} random attention problems, key tile {tile}: "
          f"fused == unfused within {worst:.3g}")


if __name__ == "__main__":
    main()
