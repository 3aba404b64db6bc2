#!/usr/bin/env python3
"""Train CogModel (the seed's attention-only toy transformer) on the
"WORD echo WORD" / "WORD upper WORD-IN-CAPITALS" tasks and write a checkpoint
directory (config.json, model.safetensors, vocab.json).

Run with Debian's python (it has torch):
    OMP_NUM_THREADS=1 /usr/bin/python3 frontends/cogmodel/train.py --out models/cogmodel
"""
import argparse
import json
import math
import os
import random
import struct
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import CogModel  # noqa: E402

TASKS = ("echo", "upper")
STOP_ID = 0


# --------------------------------------------------------------------------
# Tokenizer: id 0 = padding/stop, then space, a-z, A-Z, and the task words as
# single tokens.  A whitespace-separated word equal to "echo"/"upper" becomes
# the task token; every other character is its own token.
# --------------------------------------------------------------------------
def build_vocab():
    toks = ["<pad>", " "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] \
        + [chr(c) for c in range(ord("A"), ord("Z") + 1)] + list(TASKS)
    return {t: i for i, t in enumerate(toks)}


class Tokenizer:
    def __init__(self, vocab):
        self.vocab = dict(vocab)
        self.inv = {i: t for t, i in self.vocab.items()}

    def encode(self, text):
        ids = []
        for wi, word in enumerate(text.split(" ")):
            if wi > 0:
                ids.append(self.vocab[" "])
            if word in TASKS:
                ids.append(self.vocab[word])
            else:
                ids.extend(self.vocab[c] for c in word)
        return ids

    def decode(self, ids):
        return "".join("" if i == STOP_ID else self.inv[i] for i in ids)


def answer_of(word, task):
    return word if task == "echo" else word.upper()


def load_words(path, min_len, max_len):
    words = set()
    with open(path, encoding="utf-8", errors="ignore") as f:
        for line in f:
            w = line.strip()
            if w and w.isascii() and w.isalpha() and w.islower() and min_len <= len(w) <= max_len:
                if w not in TASKS:  # keep the task words unambiguous
                    words.add(w)
    return sorted(words)


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------
def make_example(tok, word, task):
    prompt = tok.encode(f"{word} {task} ")
    ans = tok.encode(answer_of(word, task)) + [STOP_ID]
    return prompt, ans


def make_batch(tok, words, rng, batch, loss_on):
    seqs, n_prompt = [], []
    for _ in range(batch):
        w = words[rng.randrange(len(words))]
        t = TASKS[rng.randrange(len(TASKS))]
        p, a = make_example(tok, w, t)
        seqs.append(p + a)
        n_prompt.append(len(p))
    T = max(len(s) for s in seqs) - 1
    inp = torch.zeros(batch, T, dtype=torch.long)
    tgt = torch.zeros(batch, T, dtype=torch.long)
    msk = torch.zeros(batch, T)
    for b, s in enumerate(seqs):
        n = len(s) - 1
        inp[b, :n] = torch.tensor(s[:-1])
        tgt[b, :n] = torch.tensor(s[1:])
        # "answer": predict the space after the task token, the answer and the
        # stop token (so "WORD echo" without the trailing space also works).
        start = n_prompt[b] - 2 if loss_on == "answer" else 0
        msk[b, start:n] = 1.0
    return inp, tgt, msk


# --------------------------------------------------------------------------
# Evaluation: greedy generation as in the seed (argmax, stop at token 0).
# --------------------------------------------------------------------------
@torch.no_grad()
def greedy_complete(model, ids, max_new):
    """Seed-style generation for one prompt (batch 1)."""
    x = torch.tensor([ids])
    out = []
    for _ in range(max_new):
        nxt = int(model(x).argmax(dim=2)[0, -1])
        if nxt == STOP_ID:
            break
        out.append(nxt)
        x = torch.cat([x, torch.tensor([[nxt]])], dim=1)
    return out


@torch.no_grad()
def evaluate(model, tok, words, positional, chunk=512):
    """Exact match per task: the greedy continuation of "WORD task " must be
    the answer followed by the stop token."""
    model.eval()
    res = {}
    for task in TASKS:
        correct = 0
        if positional == "seed":
            # Batched inference would change the seed's positional rows, so
            # run one prompt at a time exactly like generation does.
            for w in words:
                p, a = make_example(tok, w, task)
                correct += int(greedy_complete(model, p, len(a) + 1) == a[:-1])
        else:
            by_len = {}
            for w in words:
                by_len.setdefault(len(w), []).append(w)
            for L, ws in by_len.items():
                for i in range(0, len(ws), chunk):
                    group = ws[i:i + chunk]
                    ex = [make_example(tok, w, task) for w in group]
                    x = torch.tensor([p for p, _ in ex])
                    want = torch.tensor([a for _, a in ex])  # L chars + stop
                    for _ in range(L + 1):
                        nxt = model(x)[:, -1].argmax(-1, keepdim=True)
                        x = torch.cat([x, nxt], dim=1)
                    got = x[:, -(L + 1):]
                    correct += int((got == want).all(dim=1).sum())
        res[task] = correct / max(1, len(words))
    model.train()
    return res


# --------------------------------------------------------------------------
# Checkpoint writing (safetensors by hand)
# --------------------------------------------------------------------------
def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save_checkpoint(out, model, tok, args, acc, train_info):
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), model.state_dict(),
                      {"format": "pt"})
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump(tok.vocab, f, indent=1, ensure_ascii=False)
        f.write("\n")
    cfg = {
        "model_type": "cogmodel",
        "vocab_size": len(tok.vocab),
        "d_model": args.d_model,
        "n_layers": args.layers,
        "max_len": args.max_len,
        "positional": args.positional,
        "pe_base": 100.0,
        "pe_shape": [args.max_len, 1, args.d_model],
        "attn_scale": 1.0,
        "layer_norm_eps": 1e-6,
        "final_norm_eps": 1e-5,
        "norm_eps": {"layers.N.norm1": 1e-6, "norm": 1e-5},
        "mask_fill": -1e9,
        "stop_token_id": STOP_ID,
        "pad_token_id": STOP_ID,
        "tokenizer": {
            "type": "char",
            "word_tokens": list(TASKS),
            "note": "space-separated words equal to 'echo'/'upper' are one token; "
                    "every other character is its own token; id 0 = pad/stop",
        },
        "tasks": {"echo": "WORD echo WORD", "upper": "WORD upper WORD-IN-CAPITALS"},
        "word_len": [args.min_word_len, args.max_word_len],
        "heldout_exact_match": acc,
        "training": train_info,
        "training_command": "OMP_NUM_THREADS=1 /usr/bin/python3 frontends/cogmodel/train.py "
                            + " ".join(sys.argv[1:]),
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")


# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="checkpoint directory to write")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--positional", choices=("seed", "per_position"), default="per_position")
    ap.add_argument("--max-len", type=int, default=64, help="rows of the pe buffer")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--emb-std", type=float, default=1.0, help="init std of embed.weight (nn.Embedding default 1.0)")
    ap.add_argument("--loss-on", choices=("answer", "all"), default="answer")
    ap.add_argument("--min-word-len", type=int, default=1)
    ap.add_argument("--max-word-len", type=int, default=16)
    ap.add_argument("--holdout-frac", type=float, default=0.1)
    ap.add_argument("--words", default="/usr/share/dict/words")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--eval-n", type=int, default=500, help="held-out words used for periodic eval")
    ap.add_argument("--final-eval-n", type=int, default=0, help="0 = all held-out words")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    tok = Tokenizer(build_vocab())
    words = load_words(args.words, args.min_word_len, args.max_word_len)
    shuf = list(words)
    random.Random(1234 + args.seed).shuffle(shuf)
    n_hold = int(len(shuf) * args.holdout_frac)
    heldout, train_words = sorted(shuf[:n_hold]), shuf[n_hold:]
    eval_words = random.Random(99).sample(heldout, min(args.eval_n, len(heldout)))
    need = 2 * args.max_word_len + 4
    assert args.max_len >= need or args.positional == "seed", f"--max-len must be >= {need}"
    print(f"words: {len(words)} (len {args.min_word_len}..{args.max_word_len}), "
          f"train {len(train_words)}, held-out {len(heldout)}", flush=True)

    model = CogModel(len(tok.vocab), args.d_model, args.layers,
                     max_len=args.max_len, positional=args.positional)
    if args.emb_std != 1.0:
        with torch.no_grad():
            model.embed.weight.normal_(0.0, args.emb_std)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: d={args.d_model} layers={args.layers} positional={args.positional} "
          f"params={n_params}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98))

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    t0 = time.time()
    ema = None
    history = []
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        inp, tgt, msk = make_batch(tok, train_words, rng, args.batch, args.loss_on)
        logits = model(inp)
        loss = (F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1),
                                reduction="none") * msk.reshape(-1)).sum() / msk.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1} loss {ema:.4f} lr {lr_at(step):.2e} "
                  f"{time.time() - t0:.0f}s", flush=True)
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            acc = evaluate(model, tok, eval_words, args.positional)
            history.append({"step": step + 1, **acc})
            print(f"eval step {step + 1} held-out({len(eval_words)}) "
                  + " ".join(f"{k}={v:.3f}" for k, v in acc.items()), flush=True)

    train_min = (time.time() - t0) / 60
    final_words = heldout if args.final_eval_n <= 0 else \
        random.Random(99).sample(heldout, min(args.final_eval_n, len(heldout)))
    acc = evaluate(model, tok, final_words, args.positional)
    print(f"FINAL held-out exact match ({len(final_words)} words per task): "
          + " ".join(f"{k}={v:.4f}" for k, v in acc.items())
          + f"  train time {train_min:.1f} min", flush=True)
    for w in ["minecraft", "transformer", "hello"]:
        for t in TASKS:
            p, _ = make_example(tok, w, t)
            print("  ", repr(tok.decode(p + greedy_complete(model, p, 40))), flush=True)

    if args.out:
        info = {"steps": args.steps, "seed": args.seed, "batch": args.batch, "lr": args.lr,
                "warmup": args.warmup, "schedule": "linear warmup + cosine",
                "optimizer": "AdamW(betas=(0.9,0.98))", "weight_decay": args.wd,
                "loss_on": args.loss_on, "emb_std": args.emb_std,
                "holdout_frac": args.holdout_frac, "n_train_words": len(train_words),
                "n_heldout_words": len(heldout), "n_eval_words": len(final_words),
                "train_minutes": round(train_min, 1), "params": n_params,
                "eval_history": history}
        save_checkpoint(args.out, model, tok, args, {k: round(v, 4) for k, v in acc.items()}, info)
        print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
