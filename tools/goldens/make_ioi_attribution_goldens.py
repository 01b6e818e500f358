#!/usr/bin/env python3
"""Goldens for attribution patching: TransformerLens with backward hooks, independently of the
library's probes.

Developer-side tool; CI never runs it. Rerun from the repository root with

    python tools/goldens/make_ioi_attribution_goldens.py

Same model (the committed ioi-gpt2, TL defaults + refactoring), batch (16 IOI prompts, ABC
corrupted) and metrics as make_ioi_goldens.py. Gradients come from TL backward hooks
(`model.add_hook(name, fn, dir="bwd")`: the gradient of the metric with respect to each hook
point's output), activations from `run_with_cache`; each grid is then
`metric(base) + sum over prompts and the patched slice of (source - base) * grad(base)`:

    denoising/*   base = ABC run, source = clean run, metric = ARENA's normalised IOI metric
                  (the estimate of each transformer_lens.patching grid: resid_pre [layer, pos],
                  z all positions [layer, head], z by position [layer, pos, head], q/k/v all
                  positions [layer, head])
    noising/head_out_delta
                  base = clean run, source = ABC run, metric = the mean logit difference; the
                  estimated change (no baseline added), [layer, head]: `./ioi replicate`'s
                  attribution_patching.head_out

Writes kernel-lib/src/test/resources/ioi-goldens/attribution.safetensors (byte-deterministic).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402
import make_ioi_goldens as mig  # noqa: E402

OUT = mg.RES / "ioi-goldens" / "attribution.safetensors"
ACTS = ("hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z")


def names(L):
    return [f"blocks.{l}.{a}" for l in range(L) for a in ACTS]


def grads_at(model, tokens, metric, hook_names):
    """(metric value, {name: d metric / d activation}) from TL backward hooks."""
    grads = {}

    def keep(grad, hook):
        grads[hook.name] = grad.detach().clone()

    model.reset_hooks()
    for n in hook_names:
        model.add_hook(n, keep, dir="bwd")
    with torch.enable_grad():
        value = metric(model(tokens))
        value.backward()
    model.reset_hooks()
    model.zero_grad(set_to_none=True)
    return value.item(), grads


def main() -> int:
    t0 = time.time()
    model, flags = mig.load_committed_model()
    tok = mig.load_tokenizer()
    d = mig.build_data(tok)
    tokens, abc = d["tokens"], d["abc_tokens"]
    L = model.cfg.n_layers
    hook_names = names(L)
    with torch.no_grad():
        clean_ld = mig.logit_diff(model(tokens), d).mean()
        abc_ld = mig.logit_diff(model(abc), d).mean()
        _, clean = model.run_with_cache(tokens, names_filter=lambda n: n in hook_names)
        _, corrupt = model.run_with_cache(abc, names_filter=lambda n: n in hook_names)

    def normalised(logits):
        return (mig.logit_diff(logits, d).mean() - abc_ld) / (clean_ld - abc_ld)

    def mean_ld(logits):
        return mig.logit_diff(logits, d).mean()

    t = {"tokens": tokens, "abc_tokens": abc}
    base, g = grads_at(model, abc, normalised, hook_names)
    t["denoising/baseline"] = torch.tensor([base])

    def grid(act, dims):
        rows = [((clean[f"blocks.{l}.{act}"] - corrupt[f"blocks.{l}.{act}"]) * g[f"blocks.{l}.{act}"]).sum(dims)
                for l in range(L)]
        return torch.stack(rows) + base

    t["denoising/resid_pre"] = grid("hook_resid_pre", (0, 2))
    t["denoising/head_out_all_pos"] = grid("attn.hook_z", (0, 1, 3))
    t["denoising/head_out_by_pos"] = grid("attn.hook_z", (0, 3))
    t["denoising/head_q_all_pos"] = grid("attn.hook_q", (0, 1, 3))
    t["denoising/head_k_all_pos"] = grid("attn.hook_k", (0, 1, 3))
    t["denoising/head_v_all_pos"] = grid("attn.hook_v", (0, 1, 3))

    ld, g2 = grads_at(model, tokens, mean_ld, [f"blocks.{l}.attn.hook_z" for l in range(L)])
    t["noising/baseline"] = torch.tensor([ld])
    t["noising/head_out_delta"] = torch.stack(
        [((corrupt[f"blocks.{l}.attn.hook_z"] - clean[f"blocks.{l}.attn.hook_z"]) * g2[f"blocks.{l}.attn.hook_z"])
         .sum((0, 1, 3)) for l in range(L)])

    meta = {**mg.versions(), "generator": "tools/goldens/make_ioi_attribution_goldens.py", "model": "ioi-gpt2",
            "flags": json.dumps(flags), "fixture": mig.FIXTURE, "n_prompts": tokens.shape[0], "flip": mig.FLIP,
            "denoising_metric": "(mean logit diff - ABC mean) / (clean mean - ABC mean)",
            "noising_metric": "mean logit diff (IO - S at end)"}
    mig.write_goldens(OUT, t, meta)
    for k, v in t.items():
        if "/" in k:
            print(f"{k}: {tuple(v.shape)} range [{v.min().item():.4f}, {v.max().item():.4f}]")
    print(f"wrote {OUT.relative_to(mg.REPO)} ({OUT.stat().st_size} bytes) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
