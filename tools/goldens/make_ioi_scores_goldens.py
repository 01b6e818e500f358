#!/usr/bin/env python3
"""Generate the head-score goldens (copying scores, repeated-token attention scores, writing
direction, name attention) that ioi.experiments.HeadScoresTest compares against.

Developer-side tool; CI never runs it. Rerun from the repository root with

    python tools/goldens/make_ioi_scores_goldens.py

It reads the committed ioi-gpt2 checkpoint (it does NOT rewrite it), loads it in TransformerLens
with the paper notebooks' processing ("refactored": fold_ln, center_writing_weights,
center_unembed, fold_value_biases, refactor_factored_attn_matrices), takes the 16-prompt IOI batch
of make_ioi_goldens.build_data, and writes kernel-lib/src/test/resources/ioi-goldens/scores.safetensors:

  copying/{space,nospace}/...  ARENA's get_copying_scores for every layer 0..11 (A3 skips layer 0):
                               resid = embed(names) + blocks[0].mlp(blocks[0].ln2(embed(names))),
                               @ W_V[l, h] @ W_O[l, h] (and its negative), ln_final, unembed, is the
                               name's token among torch.topk(logits, 5)? "space" embeds the first
                               token of " " + name (the token the IOI prompts contain), "nospace" the
                               token of the bare name (ARENA's model.to_tokens(names, prepend_bos=False)).
  copying/dataset/...          the paper's check_copy_circuit: blocks.0.hook_resid_post at the
                               IO, S1, S2 positions of each prompt, blocks[1].ln1, @ W_V + b_V,
                               @ W_O (times -1 for negative), ln_final, unembed, top-5 contains the
                               token at that position.
  validation/...               ARENA's get_attn_scores on repeated random tokens (no BOS):
                               prev, induction, duplicate [n_layers, n_heads].
  writing/L.H/...              ARENA's calculate_and_show_scatter_embedding_vs_attn for heads 9.9,
                               11.10, 10.7: attention END->IO, S1, S2 and z @ W_O dotted with W_U[:, IO]
                               and W_U[:, S]; Pearson correlations (S = S1 + S2 as the paper, S = S1 as ARENA).
  name_attention/{IO,S1,S2}    mean attention END -> IO, S1, S2 over the batch [n_layers, n_heads].
Everything runs on CPU in fp32; the file is byte-deterministic.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import torch

torch.set_grad_enabled(False)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402
import make_ioi_goldens as mig  # noqa: E402


GOLDEN_PATH = mig.RES / "ioi-goldens" / "scores.safetensors"
K = 5  # the paper's and ARENA's top-5
KS = (K, 1000)  # and a k a random model's heads reach (1000 / 50257 ~ 2%), so scores are not all 0
NEAR = 1e-4
REP_SEQ_LEN, REP_BATCH, REP_SEED = 20, 8, 1234  # ARENA uses seq_len 50, batch 50; small here
WRITING_HEADS = [(9, 9), (11, 10), (10, 7)]  # ARENA plots 9.9 and 11.10


def arena_names() -> list[str]:
    """ARENA's NAMES (109), from arena_names.json beside this script (copied from the reference
    ioi_dataset.py, not from the Java sources)."""
    names = json.loads((Path(__file__).resolve().parent / "arena_names.json").read_text())["names"]
    assert len(names) == 109, len(names)
    return names


def topk_check(logits: torch.Tensor, targets: torch.Tensor) -> dict:
    """logits [..., d_vocab], targets [...]: the target's rank (how many logits are strictly larger),
    how many other logits lie within NEAR of it (float near-ties), and for each k in KS whether
    torch.topk(logits, k) contains the target, with its margin: target - (k+1)-th largest logit
    when inside, k-th largest - target when outside (a small margin = a near-tie at the boundary)."""
    target = logits.gather(-1, targets.unsqueeze(-1))  # [..., 1]
    out = {"rank": (logits > target).sum(-1), "near": ((logits - target).abs() < NEAR).sum(-1) - 1}
    for k in KS:
        top = torch.topk(logits, k + 1, dim=-1)
        inside = (top.indices[..., :k] == targets.unsqueeze(-1)).any(-1)
        t = target.squeeze(-1)
        out[f"in_top{k}"] = inside
        out[f"margin{k}"] = torch.where(inside, t - top.values[..., k], top.values[..., k - 1] - t)
    return out


CHECK_KEYS = ("rank", "near") + tuple(f"{w}{k}" for k in KS for w in ("in_top", "margin"))


def finish(out: dict) -> None:
    """Scores per k, and per head how many targets are float near-ties at the top-k boundary (margin
    < NEAR): only those may be decided differently by another float32 implementation."""
    for k in KS:
        out[f"scores_k{k}"] = out.pop(f"in_top{k}").float().mean(-1)  # [2, n_layers, n_heads]
        margin = out.pop(f"margin{k}")
        out[f"ambiguous_k{k}"] = (margin < NEAR).sum(-1).float()  # [2, n_layers, n_heads]
        out[f"min_margin_k{k}"] = margin.min().reshape(1)


def copying_scores_arena(model, name_tokens: torch.Tensor) -> dict:
    """get_copying_scores with TL's modules, every layer (A3 loops over layers 1..11 only)."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    toks = name_tokens.unsqueeze(1)  # [names, 1]
    emb = model.embed(toks)  # [names, 1, d_model]
    resid = emb + model.blocks[0].mlp(model.blocks[0].ln2(emb))  # [names, 1, d_model]
    parts = {k: [] for k in CHECK_KEYS}
    for sign in (1, -1):
        rows = {k: [] for k in parts}
        for layer in range(n_layers):
            for head in range(n_heads):
                w_ov = model.W_V[layer, head] @ model.W_O[layer, head]  # [d_model, d_model]
                out = resid @ (sign * w_ov)  # [names, 1, d_model]
                logits = model.unembed(model.ln_final(out)).squeeze(1)  # [names, d_vocab]
                c = topk_check(logits, name_tokens)
                for k in rows:
                    rows[k].append(c[k])
        for k in parts:
            parts[k].append(torch.stack(rows[k]).reshape(n_layers, n_heads, -1))
    out = {k: torch.stack(v) for k, v in parts.items()}  # [2, n_layers, n_heads, names]
    finish(out)
    out["resid"] = resid.squeeze(1)  # [names, d_model]
    return out


def copying_scores_dataset(model, d: dict) -> dict:
    """The paper's check_copy_circuit for every head, at the IO, S1 and S2 positions."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    _, cache = model.run_with_cache(d["tokens"], names_filter="blocks.0.hook_resid_post")
    z0 = cache["blocks.0.hook_resid_post"]  # [batch, pos, d_model]
    ar = torch.arange(z0.shape[0])
    pos = torch.stack([d["IO"], d["S1"], d["S2"]], dim=1)  # [batch, 3]
    x = z0[ar.unsqueeze(1), pos]  # [batch, 3, d_model]
    targets = d["tokens"][ar.unsqueeze(1), pos]  # [batch, 3]
    x = model.blocks[1].ln1(x)
    parts = {k: [] for k in CHECK_KEYS}
    for sign in (1, -1):
        rows = {k: [] for k in parts}
        for layer in range(n_layers):
            for head in range(n_heads):
                v = torch.einsum("bpd,de->bpe", x, model.W_V[layer, head]) + model.b_V[layer, head]
                o = sign * torch.einsum("bpe,ed->bpd", v, model.W_O[layer, head])  # [batch, 3, d_model]
                logits = model.unembed(model.ln_final(o))  # [batch, 3, d_vocab]
                c = topk_check(logits, targets)
                for k in rows:
                    rows[k].append(c[k].reshape(-1))  # [batch*3], prompt-major (IO, S1, S2 per prompt)
        for k in parts:
            parts[k].append(torch.stack(rows[k]).reshape(n_layers, n_heads, -1))
    out = {k: torch.stack(v) for k, v in parts.items()}  # [2, n_layers, n_heads, batch*3]
    finish(out)
    return out


def validation_scores(model) -> dict:
    """get_attn_scores: repeated random tokens without BOS, mean attention on (dest, src) pairs."""
    torch.manual_seed(REP_SEED)
    half = torch.randint(0, model.cfg.d_vocab, (REP_BATCH, REP_SEQ_LEN), dtype=torch.int64)
    rep = torch.cat([half, half], dim=-1)  # [batch, 2 * seq_len]
    _, cache = model.run_with_cache(rep, return_type=None, names_filter=lambda n: n.endswith("pattern"))
    s = REP_SEQ_LEN
    pairs = {
        "duplicate": (range(s, 2 * s), range(s)),
        "prev": (range(1, s + 1), range(s)),
        "induction": (range(s, 2 * s), range(1, s + 1)),
    }
    out = {"tokens": rep}
    for name, (dest, src) in pairs.items():
        res = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
        for layer in range(model.cfg.n_layers):
            for head in range(model.cfg.n_heads):
                res[layer, head] = cache["pattern", layer][:, head, list(dest), list(src)].mean()
        out[name] = res
    return out


def writing_direction(model, cache, d: dict, layer: int, head: int) -> dict:
    """calculate_and_show_scatter_embedding_vs_attn, plus the paper's S = S1 + S2."""
    n = d["tokens"].shape[0]
    ar = torch.arange(n)
    z = cache["z", layer][:, :, head]  # [batch, pos, d_head]
    output = z @ model.W_O[layer, head]  # [batch, pos, d_model]
    at_end = output[ar, d["end"]]  # [batch, d_model]
    proj_io = (at_end * model.W_U.T[d["tokens"][ar, d["IO"]]]).sum(-1)
    proj_s = (at_end * model.W_U.T[d["tokens"][ar, d["S1"]]]).sum(-1)
    patt = cache["pattern", layer][:, head]  # [batch, query_pos, key_pos]
    a_io, a_s1, a_s2 = (patt[ar, d["end"], d[w]] for w in ("IO", "S1", "S2"))
    y = torch.cat([proj_io, proj_s])

    def corr(x):
        return torch.corrcoef(torch.stack([x, y]))[0, 1].reshape(1)

    return {"attn_io": a_io, "attn_s1": a_s1, "attn_s2": a_s2, "proj_io": proj_io, "proj_s": proj_s,
            "corr_paper": corr(torch.cat([a_io, a_s1 + a_s2])), "corr_arena": corr(torch.cat([a_io, a_s1]))}


def report(key: str, c: dict) -> None:
    for k in KS:
        sc = c[f"scores_k{k}"]
        print(f"{key} top-{k}: positive mean {sc[0].mean():.4f} (max {sc[0].max():.3f}), negative mean "
              f"{sc[1].mean():.4f}; smallest margin {c[f'min_margin_k{k}'].item():.2e}, "
              f"{int(c[f'ambiguous_k{k}'].sum())} near-ties")
    print(f"{key}: ranks {c['rank'].min().item()}..{c['rank'].max().item()}, {int((c['near'] > 0).sum())} targets "
          f"with other logits within {NEAR}")


def main() -> int:
    t0 = time.time()
    ver = mg.versions()
    model, flags = mig.load_committed_model()
    assert model.cfg.normalization_type == "LNPre"
    tok = mig.load_tokenizer()
    d = mig.build_data(tok)
    n = d["tokens"].shape[0]
    t: dict = {}

    # ---- copying scores (ARENA), both tokenizations ------------------------------------------------
    names = arena_names()
    for key, prefix in (("space", " "), ("nospace", "")):
        ids = [tok.encode(prefix + nm) for nm in names]
        assert all(len(i) == 1 for i in ids), f"{key}: a name is not a single token"
        name_tokens = torch.tensor([i[0] for i in ids], dtype=torch.int64)
        c = copying_scores_arena(model, name_tokens)
        t[f"copying/{key}/name_tokens"] = name_tokens
        for k, v in c.items():
            t[f"copying/{key}/{k}"] = v
        report(f"copying/{key}", c)
    # ---- copying scores on the dataset (paper) ---------------------------------------------------
    c = copying_scores_dataset(model, d)
    for k, v in c.items():
        t[f"copying/dataset/{k}"] = v
    report("copying/dataset", c)

    # ---- repeated random tokens --------------------------------------------------------------------
    v = validation_scores(model)
    for k, x in v.items():
        t[f"validation/{k}"] = x
    for k in ("prev", "induction", "duplicate"):
        top = v[k].flatten().argsort(descending=True)[:3].tolist()
        print(f"validation/{k}: top heads {[divmod(i, model.cfg.n_heads) for i in top]}, "
              f"max {v[k].max():.4f}")

    # ---- writing direction and name attention ------------------------------------------------------
    _, cache = model.run_with_cache(d["tokens"], names_filter=lambda nm: nm.endswith("hook_z") or nm.endswith("hook_pattern"))
    for layer, head in WRITING_HEADS:
        w = writing_direction(model, cache, d, layer, head)
        for k, x in w.items():
            t[f"writing/{layer}.{head}/{k}"] = x
        print(f"writing/{layer}.{head}: corr paper {w['corr_paper'].item():.4f}, ARENA {w['corr_arena'].item():.4f}")
    ar = torch.arange(n)
    for word in ("IO", "S1", "S2"):
        att = torch.stack([cache["pattern", layer][ar, :, d["end"], d[word]].mean(0)
                           for layer in range(model.cfg.n_layers)])  # [n_layers, n_heads]
        t[f"name_attention/{word}"] = att

    t["tokens"] = d["tokens"]
    for w in ("IO", "S1", "S2", "end"):
        t[f"word_idx/{w}"] = d[w]
    meta = {
        **ver,
        "generator": "tools/goldens/make_ioi_scores_goldens.py",
        "model": "ioi-gpt2", "flags": json.dumps(flags), "fixture": mig.FIXTURE, "n_prompts": n, "ks": json.dumps(KS),
        "names": json.dumps(names),
        "validation": json.dumps({"seq_len": REP_SEQ_LEN, "batch": REP_BATCH, "torch_manual_seed": REP_SEED}),
        "writing_heads": json.dumps([f"{a}.{b}" for a, b in WRITING_HEADS]),
        "copying/dataset/order": "last axis = prompt-major (IO, S1, S2) per prompt",
        "copying/axes": "[sign (positive, negative), layer, head, name]",
        "copying/rank": "number of logits strictly larger than the target's (F32, exact integers)",
        "copying/near": f"number of other logits within {NEAR} of the target's (F16, exact integers)",
        "copying/scores_k": "fraction of targets in torch.topk(logits, k); min_margin_k = smallest distance of a "
                            "target logit to the top-k boundary; ambiguous_k [2, layer, head] = targets with margin < near-tie "
                            "tolerance, the only ones another float32 implementation may decide differently",
    }
    out = {}
    for k, x in t.items():
        x = x.detach().cpu()
        if k.endswith("/rank"):  # per-name arrays in the smallest exact type: ranks < 2^24, counts < 2048
            out[k] = x.to(torch.float32).contiguous().clone()
        elif k.endswith("/near"):
            assert x.max() < 2048
            out[k] = x.to(torch.float16).contiguous().clone()
        else:
            out[k] = (x.to(torch.int64) if not x.is_floating_point() else x.to(torch.float32)).contiguous().clone()
    mg.write_safetensors(GOLDEN_PATH, out, meta)
    print(f"wrote {GOLDEN_PATH.relative_to(mig.REPO)} ({GOLDEN_PATH.stat().st_size} bytes, {len(out)} tensors) "
          f"in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
