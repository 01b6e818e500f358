#!/usr/bin/env python3
"""Goldens of the S-inhibition signal patching (paper App A, Fig 9; ARENA's "token and position
signal" section) and the adversarial examples (paper §4.4, Fig 8, App L; Easy-Transformer's
advex.py) that ioi.experiments.SignalAndAdversarialTest compares against.

Developer-side tool. CI never runs it: its output is committed. Rerun from the repository root with

    python tools/goldens/make_ioi_signals_goldens.py

It reads the committed 12x12 random GPT-2 (kernel-lib/src/test/resources/ioi-gpt2, written by
make_ioi_goldens.py; not rewritten here), loads it with the paper notebooks' flags ("refactored"),
takes the first 16 prompts of kernel-lib/src/test/resources/ioi-fixtures/mixed_N50_seed0.json with BOS (make_ioi_goldens
build_data) and writes kernel-lib/src/test/resources/ioi-goldens/signals.safetensors:

  signals    For each of the six signal datasets (the clean prompts and ARENA's five flips, whose
             texts the fixture holds as the reference implementation produced them), a cache of the
             flipped prompts; then the clean prompts run with hook_z of the S-inhibition heads
             (7,3), (7,9), (8,6), (8,10) replaced by the flipped cache's, at every position (ARENA)
             or at each prompt's END only (the paper's patch_end); the logit difference w.r.t. the
             clean answers. All four heads together ([3, 2] token x position signal) and each head
             alone ([4, 3, 2]), plus the least-squares fit ld = a*S_pos + b*S_tok (numpy lstsq).
  adversarial  For each prompt, the tokens of " [A] had a good day." (etc., ET advex.py) with [A]
             = IO (adversarial) or S (control) inserted right after the punctuation token
             (word_idx "punct", ioi_dataset.py get_idx_dict), single sentence index i % 5, double sentence pair
             index (3 i + 1) % 25 = (first, second) = divmod(k, 5); end and S2 shifted by the
             inserted token count; logit difference, IO probability, S-over-IO per prompt.
Everything runs on CPU in fp32; the file is byte-deterministic.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch

torch.set_grad_enabled(False)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402
import make_ioi_goldens as mig  # noqa: E402


GOLDEN_PATH = mig.RES / "ioi-goldens" / "signals.safetensors"
PAD = mig.PAD

SINH_HEADS = [(7, 3), (7, 9), (8, 6), (8, 10)]
# (token signal row, position signal column) -> ARENA flip string; None = the clean prompts
SIGNAL_FLIPS = {
    ("original", "original"): None,
    ("random", "original"): "ABB->CDD, BAB->DCD",
    ("inverted", "original"): "ABB->BAA, BAB->ABA",
    ("original", "inverted"): "ABB->BAB, BAB->ABB",
    ("random", "inverted"): "ABB->DCD, BAB->CDD",
    ("inverted", "inverted"): "ABB->ABA, BAB->BAA",
}
TOKEN_ROWS = ["original", "random", "inverted"]
POS_COLS = ["original", "inverted"]
S_TOK = {"original": 1.0, "random": 0.0, "inverted": -1.0}
S_POS = {"original": 1.0, "inverted": -1.0}

# App L: ET's ADX_TEMPLATE (advex.py), each with a leading space
ADX = [" [A] had a good day.", " [A] was enjoying the situation.", " [A] was tired.",
       " [A] enjoyed being with a friend.", " [A] was an enthusiast person."]
DOUBLE_ADX = [a + b for a in ADX for b in ADX]  # 25 ordered pairs, index 5 * first + second


def single_choice(i: int) -> int:
    return i % 5


def double_choice(i: int) -> int:
    return (3 * i + 1) % 25


# ---------------------------------------------------------------------------------------------
# signals
# ---------------------------------------------------------------------------------------------

def signal_tokens(fixture: dict, d: dict, tok) -> dict:
    out = {}
    for key, flip in SIGNAL_FLIPS.items():
        if flip is None:
            out[key] = (d["tokens"], [p["text"] for p in d["clean_prompts"]])
            continue
        prompts = fixture["flips"][flip]["prompts"][:mig.N_PROMPTS]
        toks = mig.tokenize([p["text"] for p in prompts], tok)
        assert toks.shape == d["tokens"].shape and torch.equal(toks == PAD, d["tokens"] == PAD), flip
        out[key] = (toks, [p["text"] for p in prompts])
    return out


def patched_logit_diff(model, d, flipped_cache, heads, end_only: bool) -> torch.Tensor:
    """[batch]: the clean run with hook_z of `heads` from `flipped_cache` (all positions, or END)."""
    ar = torch.arange(d["tokens"].shape[0])

    def hook(z, hook):
        layer = int(hook.name.split(".")[1])
        src = flipped_cache[hook.name]
        for l, h in heads:
            if l != layer:
                continue
            if end_only:
                z[ar, d["end"], h] = src[ar, d["end"], h]
            else:
                z[:, :, h] = src[:, :, h]
        return z

    layers = sorted({l for l, _ in heads})
    logits = model.run_with_hooks(d["tokens"], fwd_hooks=[(f"blocks.{l}.attn.hook_z", hook) for l in layers])
    return mig.logit_diff(logits, d)


def fit(table: np.ndarray) -> tuple[float, float, float]:
    """ld[tok, pos] ~ a * S_pos + b * S_tok, least squares; mean |residual| / baseline (cell [0, 0])."""
    xs, ys = [], []
    for r, tr in enumerate(TOKEN_ROWS):
        for c, pc in enumerate(POS_COLS):
            xs.append([S_POS[pc], S_TOK[tr]])
            ys.append(table[r, c])
    x, y = np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)
    (a, b), *_ = np.linalg.lstsq(x, y, rcond=None)
    err = np.abs(x @ np.array([a, b]) - y).mean() / abs(table[0, 0])
    return float(a), float(b), float(err)


# ---------------------------------------------------------------------------------------------
# adversarial examples
# ---------------------------------------------------------------------------------------------

def punct_idx(text: str, tok) -> int:
    """get_word_idxs(prompts, [",", "."]): index (no BOS) of the last "," token, replaced by the last
    "." token if the text has a "." (ioi_dataset.py get_idx_dict)."""
    ids = tok.encode(text)
    idx = None
    for word in [",", "."]:
        if word in text:
            t = tok.encode(word)[0]
            idx = len(ids) - 1 - ids[::-1].index(t)
    assert idx is not None, text
    return idx


def adversarial(model, d, tok, sentences: list[str], choice, name_key: str) -> dict:
    """Insert sentences[choice(i)] with [A] = the prompt's IO or S after the punctuation token."""
    rows, ends, s2s, inserted = [], [], [], []
    for i, p in enumerate(d["clean_prompts"]):
        row = d["tokens"][i].tolist()
        end = int(d["end"][i])
        row = row[:end + 2]  # BOS + prompt incl. the IO answer, no pads
        adv = sentences[choice(i)].replace("[A]", p[name_key])
        adv_ids = tok.encode(adv)
        at = punct_idx(p["text"], tok) + 1  # +1: BOS
        assert tok.decode([row[at]]) in (",", "."), (p["text"], at)
        rows.append(row[:at + 1] + adv_ids + row[at + 1:])
        ends.append(end + len(adv_ids))
        s2s.append(int(d["S2"][i]) + len(adv_ids))
        inserted.append(len(adv_ids))
    width = max(len(r) for r in rows)
    toks = torch.tensor([r + [PAD] * (width - len(r)) for r in rows], dtype=torch.int64)
    dd = dict(d, end=torch.tensor(ends), S2=torch.tensor(s2s))
    for i in range(len(rows)):
        assert toks[i, ends[i] + 1].item() == d["io"][i].item()
        assert toks[i, s2s[i]].item() == d["s"][i].item()
    logits = model(toks)
    ld = mig.logit_diff(logits, dd)
    return {"tokens": toks, "end": dd["end"], "S2": dd["S2"], "inserted": torch.tensor(inserted),
            "logit_diff": ld, "io_prob": mig.io_prob(logits, dd), "s_over_io": (ld < 0).to(torch.float32)}


def main() -> int:
    torch.manual_seed(0)
    ver = mg.versions()
    model, flags = mig.load_committed_model()
    tok = mig.load_tokenizer()
    d = mig.build_data(tok)
    fixture = json.loads((mig.FIXTURES / mig.FIXTURE).read_text())
    n = d["tokens"].shape[0]
    t = {"tokens": d["tokens"], "word_idx/end": d["end"], "word_idx/S2": d["S2"],
         "io_token_ids": d["io"], "s_token_ids": d["s"]}
    clean_logits = model(d["tokens"])
    t["clean/logit_diff"] = mig.logit_diff(clean_logits, d)
    t["clean/io_prob"] = mig.io_prob(clean_logits, d)

    # ---- signals ----------------------------------------------------------------------------
    sig = signal_tokens(fixture, d, tok)
    names = lambda name: name.endswith("attn.hook_z") and int(name.split(".")[1]) in (7, 8)  # noqa: E731
    caches = {k: model.run_with_cache(toks, names_filter=names)[1] for k, (toks, _) in sig.items()}
    meta_sig = {}
    for variant, end_only in (("all_pos", False), ("end", True)):
        table = torch.zeros(3, 2)
        per_head = torch.zeros(len(SINH_HEADS), 3, 2)
        for r, tr in enumerate(TOKEN_ROWS):
            for c, pc in enumerate(POS_COLS):
                cache = caches[(tr, pc)]
                ld = patched_logit_diff(model, d, cache, SINH_HEADS, end_only)
                table[r, c] = ld.mean()
                for k, head in enumerate(SINH_HEADS):
                    per_head[k, r, c] = patched_logit_diff(model, d, cache, [head], end_only).mean()
        a, b, err = fit(table.double().numpy())
        t[f"signals/{variant}/logit_diff"] = table
        if variant == "all_pos":  # the original/original cell patches the clean run with itself
            assert abs(table[0, 0] - t["clean/logit_diff"].mean()) < 1e-5
        t[f"signals/{variant}/per_head"] = per_head
        t[f"signals/{variant}/fit"] = torch.tensor([a, b, err], dtype=torch.float32)
        print(f"signals/{variant}: {table.tolist()}; fit a={a:.4f} b={b:.4f} err={err:.4f}")
    for (tr, pc), (_, texts) in sig.items():
        meta_sig[f"signals/texts/{tr}_{pc}"] = json.dumps(texts)

    # ---- adversarial examples ------------------------------------------------------------------
    for mode, sentences, choice in (("single", ADX, single_choice), ("double", DOUBLE_ADX, double_choice)):
        for cond, key in (("S", "S"), ("IO", "IO")):
            r = adversarial(model, d, tok, sentences, choice, key)
            for k, v in r.items():
                t[f"adv/{mode}/{cond}/{k}"] = v
            print(f"adv/{mode}/+{cond}: tokens {tuple(r['tokens'].shape)}, logit diff {r['logit_diff'].mean():.4f}, "
                  f"io prob {r['io_prob'].mean():.3e}, S over IO {r['s_over_io'].mean():.3f}")
    meta = {
        **ver,
        "generator": "tools/goldens/make_ioi_signals_goldens.py",
        "model": "ioi-gpt2", "flags": json.dumps(flags), "fixture": mig.FIXTURE, "n_prompts": n,
        "prepend_bos": "true", "pad_token_id": PAD,
        "clean_prompts": json.dumps([p["text"] for p in d["clean_prompts"]]),
        "io_names": json.dumps([p["IO"] for p in d["clean_prompts"]]),
        "s_names": json.dumps([p["S"] for p in d["clean_prompts"]]),
        "template_idx": json.dumps([p["TEMPLATE_IDX"] for p in d["clean_prompts"]]),
        "signals/heads": json.dumps(SINH_HEADS),
        "signals/flips": json.dumps({f"{tr}_{pc}": f for (tr, pc), f in SIGNAL_FLIPS.items()}),
        "signals/axes": "logit_diff [token signal (original, random, inverted), position signal (original, "
                        "inverted)]; per_head [head (heads order), token, position]; fit [a (S_pos), b (S_tok), mean |residual| / |logit_diff[0,0]|] (lstsq in float64, stored as float32)",
        "signals/variants": "all_pos: hook_z[:, :, h] from the flipped cache (ARENA); end: hook_z[b, end[b], h] "
                            "only (the paper's patch_end)",
        "adv/sentences": json.dumps(ADX),
        "adv/choice": "single: sentence i % 5; double: pair k = (3 i + 1) % 25, sentences (k // 5, k % 5)",
        "adv/insertion": "after the punctuation token (word_idx punct + 1 for BOS); end and S2 shifted by the "
                         "inserted token count; rows right-padded with 50256",
        **meta_sig,
    }
    clean_t = mig.write_goldens(GOLDEN_PATH, t, meta)
    size = GOLDEN_PATH.stat().st_size
    assert size < 1024 * 1024, size
    print(f"wrote {GOLDEN_PATH.relative_to(mg.REPO)} ({size} bytes, {len(clean_t)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
