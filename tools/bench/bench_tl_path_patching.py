#!/usr/bin/env python3
"""IOI experiment speed: TransformerLens's way (one forward pass per patched head) vs the Java
library (ioi.experiments.PathPatching / ActivationPatching, batched), on the same GPT-2-small-shaped
checkpoint, IOI batch and threads.

Batch: the first 25 prompts of kernel-lib/src/test/resources/ioi-fixtures/mixed_N50_seed0.json with BOS (ARENA's N),
their ABC versions ("ABB->XYZ, BAB->XYZ") as the corrupted/new prompts. Processing: TL's
from_pretrained defaults on both sides. Tasks:
  path_final    path patching of all 144 sender heads to the final residual stream (Fig 3b), written
                as ARENA's solution does it: every hook_z frozen to the clean cache, the sender's from
                the ABC cache, run_with_cache of the last resid_post, ln_final + unembed; metric
                ioi_metric_2
  path_s_inh_v  every head in layers 0-7 -> the S-inhibition heads' values (Fig 5b), ARENA's
                get_path_patch_head_to_heads: a frozen run caching hook_v, then a clean run with the
                receivers' v patched, per sender
  act_head_out  transformer_lens.patching.get_act_patch_attn_head_out_all_pos (ABC corrupted,
                clean cache, normalised metric)
  act_resid_pre transformer_lens.patching.get_act_patch_resid_pre (the same set-up), by layer and
                position
  attr_head_out act_head_out's grid estimated by attribution patching: (clean z - ABC z) . dM/dz at
                the ABC run, from TL backward hooks (Nanda's / ARENA's way), summed per head
  eap, eap_ig   every edge's EAP / EAP-IG (5 steps) score over EAP-IG's graph, TL's split inputs and
                backward hooks, as tools/goldens/make_ioi_eap_goldens.py computes them

    python tools/bench/bench_tl_path_patching.py --model /tmp/gpt2-random --threads 2 --java

TL is timed per task including its caches (clean and ABC runs). With --java the Java benchmark
(ioi.cli.PathPatchingBenchmark) runs next in its own JVM on the same batch (written to a
JSON file) and a table of seconds, the TL/Java ratio and the largest |difference| of the two grids
is printed. Run it on a quiet machine: check /proc/loadavg first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT / "tools" / "goldens"))
sys.path.insert(0, str(ROOT / "tools" / "bench"))

from bench_tl_patching import java_classpath, loadavg  # noqa: E402  (shared with the activation-patching benchmark)

S_INHIBITION = [(8, 6), (8, 10), (7, 9), (7, 3)]
N_PROMPTS = 25


def build_batch(tok) -> dict:
    import make_ioi_goldens as mig

    mig.N_PROMPTS = N_PROMPTS
    d = mig.build_data(tok)
    return d


def run_tl(args, d) -> tuple[dict, dict]:
    import torch
    from transformer_lens import patching

    import bench_tl  # tools/goldens/bench_tl.py: the TL model built the from_pretrained way

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    model = bench_tl.build_tl(args.model, 0, True)
    tokens, abc = d["tokens"], d["abc_tokens"]
    ar = torch.arange(tokens.shape[0])
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads

    def logit_diff(logits):
        at = logits[ar, d["end"]]
        return (at[ar, d["io"]] - at[ar, d["s"]]).mean()

    z_filter = lambda n: n.endswith("attn.hook_z")  # noqa: E731

    def caches():
        clean_logits, clean = model.run_with_cache(tokens, names_filter=z_filter)
        abc_logits, new = model.run_with_cache(abc, names_filter=z_filter)
        clean_ld, abc_ld = logit_diff(clean_logits), logit_diff(abc_logits)
        return clean, new, clean_ld, abc_ld

    def freeze(clean, new, sender):
        def hook(z, hook):
            z[...] = clean[hook.name]
            if hook.layer() == sender[0]:
                z[:, :, sender[1]] = new[hook.name][:, :, sender[1]]
            return z
        return hook

    def path_final():
        clean, new, clean_ld, abc_ld = caches()
        last = f"blocks.{n_layers - 1}.hook_resid_post"
        out = torch.zeros(n_layers, n_heads)
        for l in range(n_layers):
            for h in range(n_heads):
                model.add_hook(z_filter, freeze(clean, new, (l, h)))
                _, c = model.run_with_cache(tokens, names_filter=lambda n: n == last)
                model.reset_hooks()
                logits = model.unembed(model.ln_final(c[last]))
                out[l, h] = (logit_diff(logits) - clean_ld) / (clean_ld - abc_ld)
        return out

    def path_s_inh_v():
        clean, new, clean_ld, abc_ld = caches()
        layers = sorted({l for l, _ in S_INHIBITION})
        names = {f"blocks.{l}.attn.hook_v" for l in layers}
        out = torch.zeros(max(layers), n_heads)
        for l in range(max(layers)):
            for h in range(n_heads):
                model.add_hook(z_filter, freeze(clean, new, (l, h)))
                _, frozen = model.run_with_cache(tokens, names_filter=lambda n: n in names)
                model.reset_hooks()

                def patch(v, hook):
                    for (rl, rh) in S_INHIBITION:
                        if rl == hook.layer():
                            v[:, :, rh] = frozen[hook.name][:, :, rh]
                    return v

                logits = model.run_with_hooks(tokens, fwd_hooks=[(n, patch) for n in names])
                out[l, h] = (logit_diff(logits) - clean_ld) / (clean_ld - abc_ld)
        return out

    def activation_grid(fn):
        clean_logits, clean_cache = model.run_with_cache(tokens)
        clean_ld, abc_ld = logit_diff(clean_logits), logit_diff(model(abc))

        def metric(logits):
            return (logit_diff(logits) - abc_ld) / (clean_ld - abc_ld)
        return fn(model, abc, clean_cache, metric)

    def backward_hooks(tokens_, metric, names, embed=None):
        """{name: d metric / d activation} from TL backward hooks (the goldens' way, make_ioi_*_goldens.py)."""
        grads = {}

        def keep(grad, hook):
            grads[hook.name] = grad.detach()

        model.reset_hooks()
        for n in names:
            model.add_hook(n, keep, dir="bwd")
        if embed is not None:
            model.add_hook("hook_embed", lambda act, hook: embed.clone())
        with torch.enable_grad():
            metric(model(tokens_)).backward()
        model.reset_hooks()
        model.zero_grad(set_to_none=True)
        return grads

    def attr_head_out():
        # Nanda's / ARENA's attribution patching: (clean z - ABC z) . dM/dz at the ABC run, M normalised
        clean_logits, clean = model.run_with_cache(tokens, names_filter=z_filter)
        abc_logits, corrupt = model.run_with_cache(abc, names_filter=z_filter)
        clean_ld, abc_ld = logit_diff(clean_logits), logit_diff(abc_logits)
        names = [f"blocks.{l}.attn.hook_z" for l in range(n_layers)]
        g = backward_hooks(abc, lambda logits: (logit_diff(logits) - abc_ld) / (clean_ld - abc_ld), names)
        return torch.stack([((clean[n] - corrupt[n]) * g[n]).sum((0, 1, 3)) for n in names])

    def eap(ig_steps):
        # EAP over EAP-IG's graph with TL's split inputs, as tools/goldens/make_ioi_eap_goldens.py computes it
        import make_ioi_eap_goldens as eg

        model.set_use_attn_result(True)
        model.set_use_split_qkv_input(True)
        model.set_use_hook_mlp_in(True)
        try:
            up, down = eg.upstream_names(n_layers), eg.downstream_names(n_layers)
            _, clean = model.run_with_cache(tokens, names_filter=lambda n: n in up)
            _, corrupt = model.run_with_cache(abc, names_filter=lambda n: n in up)
            delta = eg.upstream_stack(corrupt, n_layers, n_heads) - eg.upstream_stack(clean, n_layers, n_heads)
            total = None
            for k in range(max(1, ig_steps)):
                embed = None
                if ig_steps:
                    embed = corrupt["hook_embed"] + (k / ig_steps) * (clean["hook_embed"] - corrupt["hook_embed"])
                stack = eg.downstream_stack(backward_hooks(tokens, logit_diff, down, embed), n_layers, n_heads)
                total = stack if total is None else total + stack
            s = torch.einsum("bpfd,bpgd->fg", delta, total / max(1, ig_steps))
            return torch.where(eg.edge_mask(n_layers, n_heads), s, torch.zeros_like(s))
        finally:
            model.set_use_attn_result(False)
            model.set_use_split_qkv_input(False)
            model.set_use_hook_mlp_in(False)

    tasks = {"path_final": path_final, "path_s_inh_v": path_s_inh_v,
             "act_head_out": lambda: activation_grid(patching.get_act_patch_attn_head_out_all_pos),
             "act_resid_pre": lambda: activation_grid(patching.get_act_patch_resid_pre),
             "attr_head_out": attr_head_out, "eap": lambda: eap(0), "eap_ig": lambda: eap(5)}
    model(tokens[:2])  # warm-up
    out, grids = {"loadavg_start": loadavg(), "threads": torch.get_num_threads(), "batch": tokens.shape[0],
                  "pos": tokens.shape[1], "results": {}}, {}
    for name in args.tasks:
        t0 = time.perf_counter()
        g = tasks[name]()
        sec = time.perf_counter() - t0
        grids[name] = g.flatten().tolist()
        out["results"][name] = {"seconds": sec, "cells": g.numel(), "shape": list(g.shape)}
        print(f"TL {name} {tuple(g.shape)}: {sec:.1f} s", file=sys.stderr, flush=True)
    out["loadavg_end"] = loadavg()
    return out, grids


def run_java(args, batch_file: Path, out_dir: Path) -> tuple[dict, dict]:
    env = dict(os.environ, OPT_OUT_TRACKING="true", DJL_OFFLINE="true", RUST_FLAVOR="cpu")
    cmd = ["java", "-Xmx8g", "-cp", java_classpath(), "ioi.cli.PathPatchingBenchmark",
           "--model", args.model, "--batch", str(batch_file), "--threads", str(args.threads),
           "--tasks", ",".join(args.tasks), "--out", str(out_dir / "java.json"),
           "--grids-out", str(out_dir / "java-grids.json"), "--repeat", str(args.repeat)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out_dir / "java.json").read_text()), json.loads((out_dir / "java-grids.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/tmp/gpt2-random", help="HF GPT-2 dir with config.json, model.safetensors")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tasks", default="path_final,path_s_inh_v,act_head_out")
    ap.add_argument("--java", action="store_true", help="also run the Java benchmark and print the ratio")
    ap.add_argument("--repeat", type=int, default=1, help="Java: time each task this many times, keep the best")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args()
    args.tasks = args.tasks.split(",")
    out_dir = Path(args.out_dir or f"/tmp/ioi-path-patching-bench-{int(time.time())}")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"loadavg before: {loadavg()}", file=sys.stderr)

    from transformers import GPT2TokenizerFast

    tok = GPT2TokenizerFast.from_pretrained(str(ROOT / "kernel-lib" / "src" / "main" / "resources" / "ioi" / "lens"
                                                 / "gpt2-tokenizer"))  # the library's bundled copy
    tok.pad_token = tok.eos_token
    d = build_batch(tok)
    batch_file = out_dir / "batch.json"
    batch_file.write_text(json.dumps({k: d[k].tolist() for k in
                                      ("tokens", "abc_tokens", "IO", "S1", "S2", "end", "io", "s")}) + "\n")
    tl, tl_grids = run_tl(args, d)
    (out_dir / "tl.json").write_text(json.dumps(tl) + "\n")
    print(json.dumps(tl))
    if not args.java:
        return 0
    jv, jv_grids = run_java(args, batch_file, out_dir)
    print(f"\n{args.threads} threads, batch {tl['batch']} x pos {tl['pos']}; loadavg TL "
          f"{tl['loadavg_start'][0]:.2f}-{tl['loadavg_end'][0]:.2f}, Java {jv['loadavg_start'][0]:.2f}-"
          f"{jv['loadavg_end'][0]:.2f}\n")
    print("| task | cells | TL s | Java s | TL / Java | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.tasks:
        t, j = tl["results"][name], jv["results"][name]
        diff = max(abs(a - b) for a, b in zip(tl_grids[name], jv_grids[name]))
        print(f"| {name} | {t['cells']} | {t['seconds']:.1f} | {j['seconds']:.2f} | "
              f"{t['seconds'] / j['seconds']:.1f}x | {diff:.1e} |")
    print(f"\nJSON: {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
