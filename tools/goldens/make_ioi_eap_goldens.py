#!/usr/bin/env python3
"""Goldens for edge attribution patching (EAP, Syed et al. 2023) and EAP-IG (Hanna et al. 2024):
TransformerLens with backward hooks, independently of the library's probes.

Developer-side tool; CI never runs it. Rerun from the repository root with

    python tools/goldens/make_ioi_eap_goldens.py

Same model (the committed ioi-gpt2, TL defaults + refactoring) and batch (16 IOI prompts, ABC
corrupted) as make_ioi_goldens.py. The graph is EAP-IG's (hannamw/EAP-IG, graph.py), written here
from its definition:

    upstream (forward) nodes, in this order: input (hook_embed), then per layer its heads
        (attn.hook_result[:, :, h]) and its MLP (hook_mlp_out): 1 + n_layers * (n_heads + 1)
    downstream (backward) nodes: per layer the heads' q inputs, k inputs, v inputs
        (hook_{q,k,v}_input[:, :, h]) and the MLP's input (hook_mlp_in); then the logits
        (blocks.{L-1}.hook_resid_post): n_layers * (3 * n_heads + 1) + 1
    an edge u -> v exists when u's output is in v's input: heads of layer l read everything before
        layer l; the MLP of layer l also reads layer l's heads; the logits read everything.

Scores, with M = the mean logit difference (IO - S at END) over the prompts:

    eap/scores      [n_forward, n_backward]  sum over prompts, positions and d_model of
                    (a_u(ABC) - a_u(clean)) * dM/d in_v at the clean run (0 where no edge): the
                    first-order change of M when edge u -> v alone carries the ABC value
    eap_ig/scores   the same with dM/d in_v averaged over m = 5 runs of the clean prompts whose
                    token embeddings (hook_embed) are ABC + k/m (clean - ABC), k = 0..m-1 (EAP-IG's
                    interpolation and its left Riemann sum)
    eap/metric      M at the clean run

Writes kernel-lib/src/test/resources/ioi-goldens/eap.safetensors (byte-deterministic).
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

OUT = mg.RES / "ioi-goldens" / "eap.safetensors"
IG_STEPS = 5


def upstream_names(L):
    return ["hook_embed"] + [n for l in range(L) for n in (f"blocks.{l}.attn.hook_result", f"blocks.{l}.hook_mlp_out")]


def downstream_names(L):
    return [n for l in range(L) for n in
            (f"blocks.{l}.hook_q_input", f"blocks.{l}.hook_k_input", f"blocks.{l}.hook_v_input", f"blocks.{l}.hook_mlp_in")
            ] + [f"blocks.{L - 1}.hook_resid_post"]


def upstream_stack(cache, L, H):
    """[batch, pos, n_forward, d_model] in the graph's forward order."""
    parts = [cache["hook_embed"].unsqueeze(2)]
    for l in range(L):
        parts.append(cache[f"blocks.{l}.attn.hook_result"])  # [batch, pos, head, d_model]
        parts.append(cache[f"blocks.{l}.hook_mlp_out"].unsqueeze(2))
    out = torch.cat(parts, dim=2)
    assert out.shape[2] == 1 + L * (H + 1)
    return out


def downstream_stack(grads, L, H):
    """[batch, pos, n_backward, d_model] in the graph's backward order."""
    parts = []
    for l in range(L):
        for x in "qkv":
            parts.append(grads[f"blocks.{l}.hook_{x}_input"])  # [batch, pos, head, d_model]
        parts.append(grads[f"blocks.{l}.hook_mlp_in"].unsqueeze(2))
    parts.append(grads[f"blocks.{L - 1}.hook_resid_post"].unsqueeze(2))
    out = torch.cat(parts, dim=2)
    assert out.shape[2] == L * (3 * H + 1) + 1
    return out


def edge_mask(L, H):
    """[n_forward, n_backward]: True where the edge exists."""
    nf, nb = 1 + L * (H + 1), L * (3 * H + 1) + 1
    mask = torch.zeros(nf, nb, dtype=torch.bool)
    for l in range(L):
        before_layer = 1 + l * (H + 1)  # input and every node of layers < l
        b0 = l * (3 * H + 1)
        mask[:before_layer, b0:b0 + 3 * H] = True  # the heads' q, k, v inputs
        mask[:before_layer + H, b0 + 3 * H] = True  # the MLP also reads this layer's heads
    mask[:, nb - 1] = True  # the logits read everything
    return mask


def clean_grads(model, tokens, metric, names, embed=None):
    """(M, {name: dM/d activation}) of a run of tokens, with hook_embed replaced by `embed` if given."""
    grads = {}

    def keep(grad, hook):
        grads[hook.name] = grad.detach().clone()

    model.reset_hooks()
    for n in names:
        model.add_hook(n, keep, dir="bwd")
    if embed is not None:
        model.add_hook("hook_embed", lambda act, hook: embed.clone())
    with torch.enable_grad():
        value = metric(model(tokens))
        value.backward()
    model.reset_hooks()
    model.zero_grad(set_to_none=True)
    return value.item(), grads


def main() -> int:
    t0 = time.time()
    model, flags = mig.load_committed_model()
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    model.set_use_hook_mlp_in(True)
    tok = mig.load_tokenizer()
    d = mig.build_data(tok)
    tokens, abc = d["tokens"], d["abc_tokens"]
    L, H = model.cfg.n_layers, model.cfg.n_heads
    up = upstream_names(L)
    with torch.no_grad():
        _, clean = model.run_with_cache(tokens, names_filter=lambda n: n in up)
        _, corrupt = model.run_with_cache(abc, names_filter=lambda n: n in up)
    delta = upstream_stack(corrupt, L, H) - upstream_stack(clean, L, H)  # [batch, pos, n_forward, d_model]
    mask = edge_mask(L, H)

    def mean_ld(logits):
        return mig.logit_diff(logits, d).mean()

    def scores(grad_stack):
        s = torch.einsum("bpfd,bpgd->fg", delta.double(), grad_stack.double())
        return torch.where(mask, s, torch.zeros_like(s)).float()

    metric, g = clean_grads(model, tokens, mean_ld, downstream_names(L))
    t = {"tokens": tokens, "abc_tokens": abc, "eap/metric": torch.tensor([metric]),
         "eap/scores": scores(downstream_stack(g, L, H)), "edge_mask": mask.to(torch.float32)}  # 1 where an edge exists (F32: a quarter of I64)

    e_clean, e_abc = clean["hook_embed"], corrupt["hook_embed"]
    total = None
    for k in range(IG_STEPS):
        _, gk = clean_grads(model, tokens, mean_ld, downstream_names(L), embed=e_abc + (k / IG_STEPS) * (e_clean - e_abc))
        stack = downstream_stack(gk, L, H).double()
        total = stack if total is None else total + stack
    t["eap_ig/scores"] = scores(total / IG_STEPS)

    meta = {**mg.versions(), "generator": "tools/goldens/make_ioi_eap_goldens.py", "model": "ioi-gpt2",
            "flags": json.dumps(flags), "fixture": mig.FIXTURE, "n_prompts": tokens.shape[0], "flip": mig.FLIP,
            "metric": "mean logit diff (IO - S at end)", "ig_steps": str(IG_STEPS), "n_edges": str(int(mask.sum()))}
    mig.write_goldens(OUT, t, meta)
    for k, v in t.items():
        if "/" in k:
            print(f"{k}: {tuple(v.shape)} range [{v.min().item():.5f}, {v.max().item():.5f}]")
    print(f"edges: {int(mask.sum())}")
    print(f"wrote {OUT.relative_to(mg.REPO)} ({OUT.stat().st_size} bytes) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
