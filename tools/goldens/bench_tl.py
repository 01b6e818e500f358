#!/usr/bin/env python3
"""TransformerLens CPU reference benchmark for a GPT-2-small-shaped model.

Measures, on a batch of random tokens (default 8 x 64):
  * forward throughput        (model(tokens), logits)            tokens/s, median of --runs after --warmup
  * run_with_cache throughput (model.run_with_cache(tokens), all default hooks)
each with torch.set_grad_enabled(False) ("nograd") and with TL's default, grad enabled ("grad":
TL itself never disables autograd), and the peak resident memory of each. Every mode runs in its own
fresh subprocess so memory peaks do not mix. Prints ONE JSON line to stdout (and to --out FILE).

Weights:
  --model DIR         load a HF-format GPT-2 checkpoint (config.json + model.safetensors), the same
                      files the Java benchmark loads, through TL's own from_pretrained steps.
  --write-model DIR   write a random GPT-2-small checkpoint there first (HF key names, F32, HF's own
                      init with --seed, plus tokenizer.json copied from --tokenizer), then benchmark
                      it (add --no-bench to only write it).
  neither             the same random model (same --seed) is built in memory in every worker.

Processing: TL's from_pretrained defaults (fold_ln, center_writing_weights, center_unembed,
fold_value_biases) unless --no-processing.

Memory figures (MiB, from /proc/self/status and getrusage): rss_baseline (after importing torch,
transformers and TL, before the model), peak_rss_load (VmHWM after loading: HF model + TL copy +
processing), rss_after_load (the HF model and the state dict freed), peak_rss_run (VmHWM reset via
/proc/self/clear_refs after loading, so it covers warm-up + timed runs only; null if the reset is not
permitted), ru_maxrss (getrusage; on Linux the clear_refs reset also resets it, so when the reset
worked it equals peak_rss_run), param_mib (bytes of TL parameters).

Example:
    python tools/goldens/bench_tl.py --write-model /tmp/gpt2-random --threads 2 --out /tmp/tl.json
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata as md
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("forward_nograd", "forward_grad", "cache_nograd", "cache_grad")
GPT2_SMALL = dict(vocab_size=50257, n_positions=1024, n_ctx=1024, n_embd=768, n_layer=12, n_head=12,
                  n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                  bos_token_id=50256, eos_token_id=50256, tie_word_embeddings=True,
                  architectures=["GPT2LMHeadModel"])
# GPT-2's tokenizer.json as bundled in the library, found from this script's own location
DEFAULT_TOKENIZER = str(Path(__file__).resolve().parents[2] / "kernel-lib" / "src" / "main" / "resources" / "ioi"
                        / "lens" / "gpt2-tokenizer" / "tokenizer.json")


def mib_from_status(field: str):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def random_hf_model(seed: int):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**GPT2_SMALL))
    model.eval()
    return model


def write_model(out_dir: Path, seed: int, tokenizer: str) -> None:
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    hf = random_hf_model(seed).to(torch.float32)
    hf.save_pretrained(str(out_dir), safe_serialization=True)
    tok = Path(tokenizer)
    if tok.exists():
        shutil.copyfile(tok, out_dir / "tokenizer.json")
    else:
        print(f"warning: {tok} not found, no tokenizer.json written", file=sys.stderr)


def build_tl(model_dir: str | None, seed: int, processing: bool):
    import torch
    import transformer_lens.loading_from_pretrained as loading
    from transformer_lens import HookedTransformer
    from transformers import GPT2LMHeadModel

    tmp = None
    if model_dir:
        hf = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32)
        cfg_dir = model_dir
    else:
        hf = random_hf_model(seed)
        tmp = tempfile.mkdtemp(prefix="bench_tl_cfg_")
        hf.config.save_pretrained(tmp)  # TL derives its config from a directory's config.json
        cfg_dir = tmp
    # the steps of HookedTransformer.from_pretrained (which only accepts official model names)
    cfg = loading.get_pretrained_model_config(cfg_dir, hf_cfg=hf.config.to_dict(), fold_ln=processing,
                                              device="cpu", dtype=torch.float32)
    cfg.tokenizer_name = None  # tokens are given as ids
    state_dict = loading.get_pretrained_state_dict(cfg_dir, cfg, hf, dtype=torch.float32)
    model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    model.load_and_process_state_dict(state_dict, fold_ln=processing, center_writing_weights=processing,
                                      center_unembed=processing, fold_value_biases=processing,
                                      refactor_factored_attn_matrices=False)
    model.eval()
    del hf, state_dict
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    gc.collect()
    return model


def worker(args) -> dict:
    import torch
    import transformer_lens  # noqa: F401  (import cost belongs to the baseline, not the model)
    import transformers  # noqa: F401

    torch.set_num_threads(args.threads)
    rss_baseline = mib_from_status("VmRSS")
    t0 = time.perf_counter()
    model = build_tl(args.model, args.seed, not args.no_processing)
    load_s = time.perf_counter() - t0
    gc.collect()
    param_mib = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    peak_load = mib_from_status("VmHWM")

    mode = args.worker
    torch.set_grad_enabled(mode.endswith("_grad"))
    g = torch.Generator().manual_seed(args.seed + 1)
    tokens = torch.randint(0, model.cfg.d_vocab, (args.batch, args.seq), generator=g)

    if mode.startswith("forward"):
        def step():
            return model(tokens)
    else:
        def step():
            return model.run_with_cache(tokens)

    rss_after_load = mib_from_status("VmRSS")
    peak_reset = reset_peak_rss()
    for _ in range(args.warmup):
        out = step()
        del out
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - t)
        del out
    med = statistics.median(times)
    return {
        "mode": mode,
        "grad_enabled": torch.is_grad_enabled(),
        "median_s": med,
        "min_s": min(times),
        "max_s": max(times),
        "tokens_per_s": args.batch * args.seq / med,
        "times_s": times,
        "load_s": load_s,
        "param_mib": param_mib,
        "rss_baseline_mib": rss_baseline,
        "peak_rss_load_mib": peak_load,
        "rss_after_load_mib": rss_after_load,
        "peak_rss_run_mib": mib_from_status("VmHWM") if peak_reset else None,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "torch_threads": torch.get_num_threads(),
        "tl_cfg": {k: getattr(model.cfg, k) for k in ("n_layers", "d_model", "n_heads", "d_mlp",
                                                      "d_vocab", "n_ctx", "normalization_type")},
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> int:
    ap = argparse.ArgumentParser(description="TransformerLens CPU benchmark (GPT-2 small shape)")
    ap.add_argument("--model", help="HF-format GPT-2 dir (config.json + model.safetensors)")
    ap.add_argument("--write-model", help="write a random GPT-2-small HF checkpoint (F32) here")
    ap.add_argument("--no-bench", action="store_true", help="with --write-model: only write")
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="tokenizer.json to copy")
    try:
        default_threads = len(os.sched_getaffinity(0))
    except AttributeError:
        default_threads = os.cpu_count() or 1
    ap.add_argument("--threads", type=int, default=default_threads)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-processing", action="store_true",
                    help="load like from_pretrained_no_processing (default: from_pretrained defaults)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma list of " + ",".join(MODES))
    ap.add_argument("--out", help="also write the JSON line to this file")
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    if args.write_model:
        write_model(Path(args.write_model), args.seed, args.tokenizer)
        print(f"wrote {args.write_model}", file=sys.stderr)
        if args.no_bench:
            return 0
        if not args.model:
            args.model = args.write_model

    modes = [m for m in args.modes.split(",") if m]
    loadavg_start = os.getloadavg()  # other load on the machine makes single runs slow outliers
    results = {}
    for mode in modes:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode,
               "--threads", str(args.threads), "--batch", str(args.batch), "--seq", str(args.seq),
               "--runs", str(args.runs), "--warmup", str(args.warmup), "--seed", str(args.seed)]
        if args.model:
            cmd += ["--model", args.model]
        if args.no_processing:
            cmd.append("--no-processing")
        print(f"running {mode} ...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            results[mode] = {"error": f"exit code {proc.returncode}"}
            continue
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])

    import torch

    line = {
        "tool": "tools/goldens/bench_tl.py",
        "impl": "transformer_lens.HookedTransformer",
        "transformer_lens_version": md.version("transformer-lens"),
        "torch_version": torch.__version__,
        "transformers_version": md.version("transformers"),
        "python_version": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "model": args.model or f"random GPT-2 small (HF init, seed {args.seed}, in memory)",
        "processing": "none" if args.no_processing else "from_pretrained defaults",
        "shape": next((r["tl_cfg"] for r in results.values() if "tl_cfg" in r), None),
        "batch": args.batch,
        "seq": args.seq,
        "runs": args.runs,
        "warmup": args.warmup,
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
        "results": results,
    }
    text = json.dumps(line)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
