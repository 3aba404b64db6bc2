#!/usr/bin/env python3
"""Compares `attn-run --json --logits` output with a reference's.

    compare.py OURS.json REFERENCE.json [--atol 1e-4]
    compare.py OURS.json REFERENCE.json --top K

Fails (exit 1, one line saying what differs) unless the prompt tokens, the
generated tokens and the stop reason are identical and every step's logits
agree within --atol. Prints the largest difference on success.

With --top K (reduced precision: REFERENCE made with `gpt2.py run --follow
OURS.json`, the reference's logits on our sequence), it fails unless every
token we generated is among the reference's K most likely at its step.
"""
import argparse
import json
import sys


def check_top(ours, ref, k):
    if ours["prompt_tokens"] != ref["prompt_tokens"] or ours["tokens"] != ref["tokens"]:
        sys.exit("the reference did not follow our tokens (gpt2.py run --follow)")
    worst = 0
    for step, token in enumerate(ours["tokens"]):
        logits = ref["logits"][step]
        rank = sum(1 for v in logits if v > logits[token])
        if rank >= k:
            sys.exit(f"step {step}: token {token} is the reference's "
                     f"#{rank + 1} choice, not in its top {k}")
        worst = max(worst, rank)
    print(f"top-{k}: {len(ours['tokens'])} tokens, each among the reference's "
          f"{worst + 1} most likely")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ours")
    parser.add_argument("reference")
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    with open(args.ours) as f:
        ours = json.load(f)
    with open(args.reference) as f:
        ref = json.load(f)
    if args.top:
        return check_top(ours, ref, args.top)
    for key in ("prompt_tokens", "tokens", "stop_reason"):
        if ours.get(key) != ref.get(key):
            sys.exit(f"{key} differ: ours {ours.get(key)} vs reference {ref.get(key)}")
    if len(ours["logits"]) != len(ref["logits"]):
        sys.exit(f"{len(ours['logits'])} logit steps vs {len(ref['logits'])}")
    worst = 0.0
    for step, (a, b) in enumerate(zip(ours["logits"], ref["logits"])):
        if len(a) != len(b):
            sys.exit(f"step {step}: {len(a)} logits vs {len(b)}")
        diff = max(abs(x - y) for x, y in zip(a, b))
        if not diff <= args.atol:
            sys.exit(f"step {step}: max abs logit difference {diff:.3g} > {args.atol}")
        worst = max(worst, diff)
    print(f"match: {len(ours['tokens'])} tokens, {len(ours['logits'])} steps, "
          f"max abs logit difference {worst:.3g}")


if __name__ == "__main__":
    main()
