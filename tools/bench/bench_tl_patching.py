#!/usr/bin/env python3
"""Activation-patching speed: TransformerLens's transformer_lens.patching (one forward per cell) vs
ioi.experiments.ActivationPatching (batched), on the same GPT-2-small-shaped checkpoint, prompts
and threads.

Prompts: ARENA 1.4.1's eight hand-written IOI prompts with BOS (15 tokens each); the corrupted
prompts are the same with the names swapped (tokens[[1, 0, 3, 2, ...]], ARENA's §3 set-up); the
metric is the normalised logit difference (0 = corrupted, 1 = clean) at the last position.
Processing: TL's from_pretrained defaults on both sides (fold_ln, centring, value-bias folding).

    python tools/bench/bench_tl_patching.py --model /tmp/gpt2-random --threads 2 \
        [--grids head_out_all_pos,resid_pre,head_out_by_pos] [--java] [--out-dir DIR]

TL is timed here (grid function only; the clean cache is made beforehand, as TL's API takes it).
With --java the Java benchmark (ioi.cli.PatchingBenchmark, classpath from Maven) runs next
in its own JVM with the same threads, and a table of seconds, TL/Java ratio and the largest
|difference| between the two grids is printed (the Java time includes its cached corrupted run).
Java times each grid twice: with its defaults, and as "plain" batching (no skipping of cells whose
patch changes nothing, no reuse of the unchanged prefix). Both exact optimisations gain most with
these prompts: clean and corrupted agree up to the second name (position 10 of 15).
Run it on a quiet machine: check /proc/loadavg first.
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

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "kernel-lib" / "src" / "main" / "resources" / "ioi" / "lens" / "gpt2-tokenizer" / "tokenizer.json"
sys.path.insert(0, str(ROOT / "tools" / "goldens"))

TEMPLATES = [
    "When John and Mary went to the shops,{} gave the bag to",
    "When Tom and James went to the park,{} gave the ball to",
    "When Dan and Sid went to the shops,{} gave an apple to",
    "After Martin and Amy went to the park,{} gave a drink to",
]
NAMES = [(" Mary", " John"), (" Tom", " James"), (" Dan", " Sid"), (" Martin", " Amy")]
GRID_FUNCS = {
    "head_out_all_pos": "get_act_patch_attn_head_out_all_pos",
    "head_out_by_pos": "get_act_patch_attn_head_out_by_pos",
    "resid_pre": "get_act_patch_resid_pre",
    "attn_out": "get_act_patch_attn_out",
    "mlp_out": "get_act_patch_mlp_out",
    "head_v_all_pos": "get_act_patch_attn_head_v_all_pos",
    "head_pattern_all_pos": "get_act_patch_attn_head_pattern_all_pos",
}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def arena_data(tok):
    """ARENA's prompts: prompt 2t has the second name as subject and the first as answer."""
    import torch

    prompts, answers = [], []
    for fmt, names in zip(TEMPLATES, NAMES):
        for j in range(2):
            prompts.append(fmt.format(names[1 - j]))
            answers.append((names[j], names[1 - j]))
    tokens = torch.tensor([tok.encode(tok.bos_token + p) for p in prompts], dtype=torch.int64)
    io = torch.tensor([tok.encode(a)[0] for a, _ in answers])
    s = torch.tensor([tok.encode(b)[0] for _, b in answers])
    corrupted = tokens[[i ^ 1 for i in range(len(prompts))]]
    return tokens, corrupted, io, s


def run_tl(args) -> tuple[dict, dict]:
    import torch
    from transformers import GPT2TokenizerFast
    from transformer_lens import patching

    import bench_tl  # tools/goldens/bench_tl.py: the TL model built the from_pretrained way

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    model = bench_tl.build_tl(args.model, 0, True)
    tok = GPT2TokenizerFast.from_pretrained(str(Path(args.tokenizer).parent))
    tokens, corrupted, io, s = arena_data(tok)
    ar = torch.arange(tokens.shape[0])

    def logit_diff(logits):
        last = logits[:, -1]
        return (last[ar, io] - last[ar, s]).mean()

    clean_logits, clean_cache = model.run_with_cache(tokens)
    clean_ld, corrupted_ld = logit_diff(clean_logits), logit_diff(model(corrupted))

    def metric(logits):
        return (logit_diff(logits) - corrupted_ld) / (clean_ld - corrupted_ld)

    # One cell's cost, TL's way (run_with_hooks with a patching hook, then the metric), best of
    # --forward-runs: a noise-free lower bound for a grid is cells x this (the machine is shared).
    z0 = clean_cache["blocks.0.attn.hook_z"]

    def one_cell():
        def hook(z, hook):
            z[:, :, 0] = z0[:, :, 0]
            return z
        return metric(model.run_with_hooks(corrupted, fwd_hooks=[("blocks.0.attn.hook_z", hook)])).item()

    one_cell()  # warm-up
    cell_times = []
    for _ in range(args.forward_runs):
        t0 = time.perf_counter()
        one_cell()
        cell_times.append(time.perf_counter() - t0)
    out, grids = {"loadavg_start": loadavg(), "threads": torch.get_num_threads(),
                  "batch": tokens.shape[0], "pos": tokens.shape[1],
                  "clean_logit_diff": clean_ld.item(), "corrupted_logit_diff": corrupted_ld.item(),
                  "cell_seconds_min": min(cell_times), "cell_seconds_median": sorted(cell_times)[len(cell_times) // 2],
                  "results": {}}, {}
    for name in args.grids:
        fn = getattr(patching, GRID_FUNCS[name])
        t0 = time.perf_counter()
        g = fn(model, corrupted, clean_cache, metric)
        sec = time.perf_counter() - t0
        grids[name] = g.flatten().tolist()
        out["results"][name] = {"seconds": sec, "cells": g.numel(), "cells_per_s": g.numel() / sec,
                                "shape": list(g.shape), "lower_bound_s": g.numel() * min(cell_times)}
        print(f"TL {name} {tuple(g.shape)}: {sec:.1f} s ({g.numel()} cells; cells x best single cell "
              f"{g.numel() * min(cell_times):.1f} s)", file=sys.stderr, flush=True)
    out["loadavg_end"] = loadavg()
    return out, grids


def java_classpath() -> str:
    cp_file = ROOT / "kernel-lib" / "target" / "bench-classpath.txt"
    subprocess.run(["mvn", "-q", "-B", "-f", str(ROOT / "pom.xml"), "-pl", "kernel-lib", "compile",
                    "dependency:build-classpath", f"-Dmdep.outputFile={cp_file}"], check=True)
    return str(ROOT / "kernel-lib" / "target" / "classes") + os.pathsep + cp_file.read_text().strip()


def run_java(args, out_dir: Path) -> tuple[dict, dict]:
    env = dict(os.environ, OPT_OUT_TRACKING="true", DJL_OFFLINE="true", RUST_FLAVOR="cpu")
    cmd = ["java", "-Xmx8g", "-cp", java_classpath(), "ioi.cli.PatchingBenchmark",
           "--model", args.model, "--threads", str(args.threads), "--grids", ",".join(args.grids),
           "--max-tokens", str(args.max_tokens), "--out", str(out_dir / "java.json"),
           "--grids-out", str(out_dir / "java-grids.json"), "--repeat", str(args.repeat)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out_dir / "java.json").read_text()), json.loads((out_dir / "java-grids.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/tmp/gpt2-random", help="HF GPT-2 dir with config.json, model.safetensors")
    ap.add_argument("--tokenizer", default=str(TOKENIZER), help="tokenizer.json (default: the one bundled in the library)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grids", default="head_out_all_pos,resid_pre",
                    help="comma-separated, of: " + ", ".join(GRID_FUNCS))
    ap.add_argument("--max-tokens", type=int, default=4096, help="Java: copies*batch*pos per forward")
    ap.add_argument("--java", action="store_true", help="also run the Java benchmark and print the ratio")
    ap.add_argument("--forward-runs", type=int, default=10, help="single TL cells timed for the lower bound")
    ap.add_argument("--repeat", type=int, default=1, help="Java: time each grid this many times, keep the best")
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args()
    args.grids = args.grids.split(",")
    unknown = [g for g in args.grids if g not in GRID_FUNCS]
    if unknown:
        ap.error(f"unknown grids {unknown}")
    out_dir = Path(args.out_dir or f"/tmp/ioi-patching-bench-{int(time.time())}")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"loadavg before: {loadavg()}", file=sys.stderr)

    tl, tl_grids = run_tl(args)
    (out_dir / "tl.json").write_text(json.dumps(tl) + "\n")
    print(json.dumps(tl))
    if not args.java:
        return 0
    jv, jv_grids = run_java(args, out_dir)
    print(f"\n{args.threads} threads, batch {tl['batch']} x pos {tl['pos']}; loadavg TL "
          f"{tl['loadavg_start'][0]:.2f}-{tl['loadavg_end'][0]:.2f}, Java {jv['loadavg_start'][0]:.2f}-"
          f"{jv['loadavg_end'][0]:.2f}; Java peak RSS {jv['peak_rss_mib']:.0f} MiB\n")
    print(f"TL, one cell (run_with_hooks + metric): best {tl['cell_seconds_min']:.3f} s, median "
          f"{tl['cell_seconds_median']:.3f} s of {args.forward_runs}\n")
    print("| grid | cells | TL s (measured) | TL s (cells x best cell) | Java s | Java s, plain "
          "| TL / Java (measured) | TL / Java (lower bound) | same, plain | max abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.grids:
        t, j, n = tl["results"][name], jv["results"][name], jv["results"][name + "/plain"]
        diff = max(max(abs(a - b) for a, b in zip(tl_grids[name], jv_grids[k])) for k in (name, name + "/plain"))
        lb = t["lower_bound_s"]
        print(f"| {name} | {t['cells']} ({j['cells_skipped']} skipped) | {t['seconds']:.1f} | {lb:.1f} | "
              f"{j['seconds']:.1f} | {n['seconds']:.1f} | {t['seconds'] / j['seconds']:.1f}x | {lb / j['seconds']:.1f}x | "
              f"{lb / n['seconds']:.1f}x | {diff:.1e} |")
    print(f"\nJSON: {out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
