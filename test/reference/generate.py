"""The generation loop both PyTorch references share: greedy, recomputing
the whole sequence for every token (no KV cache), with the stop rules and the
JSON of `attn-run --json --logits`."""
import json
import sys

import torch


def greedy(last_logits, prompt, stop, context, max_new_tokens, follow=None):
    """Runs `last_logits(ids)` -> logits of the last position, for ids of
    shape [1, n]; returns the attn-run JSON object. With `follow` (a list of
    tokens), step i takes follow[i] instead of the argmax, so the logits are
    the reference's on that sequence (for checking another implementation's
    choices against these logits)."""
    seq = torch.tensor([prompt])
    generated, steps, reason = [], [], "length"
    with torch.no_grad():
        while True:
            logits = last_logits(seq)
            steps.append([float(v) for v in logits])
            if max_new_tokens == 0 or (follow is not None and
                                       len(generated) == len(follow)):
                break
            token = follow[len(generated)] if follow is not None else int(torch.argmax(logits))
            generated.append(token)
            if token == stop:
                reason = "eos"
                break
            if len(generated) == max_new_tokens:
                break
            if seq.size(1) + 1 > context:
                reason = "context"
                break
            seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
    return {"prompt_tokens": prompt, "tokens": generated, "stop_reason": reason,
            "logits": steps}


def print_json(result):
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
