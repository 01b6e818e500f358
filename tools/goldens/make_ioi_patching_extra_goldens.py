#!/usr/bin/env python3
"""Goldens for the activation-patching grids that make_ioi_goldens.py does not cover: q/k/v by
position, the attention pattern by destination position and by destination and source position.

Developer-side tool; CI never runs it. Rerun from the repository root with

    python tools/goldens/make_ioi_patching_extra_goldens.py

Same model (the committed ioi-gpt2, TL defaults + refactoring), batch (16 IOI prompts, ABC
corrupted) and metric (normalised logit difference) as make_ioi_goldens.py. These grids have
thousands of cells (dest x src: 12 x 12 x 22 x 22), one TL forward each, so the script evaluates a
seeded random sample of cells of each grid with transformer_lens.patching's own functions and their
index_df argument; the Java test computes the same cells. The *_every grids and block_every are
stacks of grids whose full goldens are already in experiments.safetensors.

Writes kernel-lib/src/test/resources/ioi-goldens/patching_extra.safetensors (byte-deterministic).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import pandas as pd
import torch

torch.set_grad_enabled(False)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402
import make_ioi_goldens as mig  # noqa: E402

from transformer_lens import patching  # noqa: E402

OUT = mg.RES / "ioi-goldens" / "patching_extra.safetensors"
CELLS = 160  # sampled cells per grid
SEED = 7


def main() -> int:
    t0 = time.time()
    model, flags = mig.load_committed_model()
    tok = mig.load_tokenizer()
    d = mig.build_data(tok)
    tokens, abc = d["tokens"], d["abc_tokens"]
    n, seq = tokens.shape
    L, H = model.cfg.n_layers, model.cfg.n_heads
    clean_logits, cache = model.run_with_cache(tokens)
    clean_ld = mig.logit_diff(clean_logits, d).mean()
    abc_ld = mig.logit_diff(model(abc), d).mean()

    def metric(logits):
        return (mig.logit_diff(logits, d).mean() - abc_ld) / (clean_ld - abc_ld)

    g = torch.Generator().manual_seed(SEED)

    def sample(sizes: dict) -> pd.DataFrame:
        cols = {k: torch.randint(0, v, (CELLS,), generator=g).tolist() for k, v in sizes.items()}
        return pd.DataFrame(cols).drop_duplicates().reset_index(drop=True)

    # name -> (TL's grid function, as partial(generic_activation_patch, ...), and its index axes)
    grids = {
        "head_q_by_pos": (patching.get_act_patch_attn_head_q_by_pos, {"layer": L, "pos": seq, "head_index": H}),
        "head_k_by_pos": (patching.get_act_patch_attn_head_k_by_pos, {"layer": L, "pos": seq, "head_index": H}),
        "head_v_by_pos": (patching.get_act_patch_attn_head_v_by_pos, {"layer": L, "pos": seq, "head_index": H}),
        "head_pattern_by_pos": (patching.get_act_patch_attn_head_pattern_by_pos,
                                {"layer": L, "head_index": H, "dest_pos": seq}),
        "head_pattern_dest_src": (patching.get_act_patch_attn_head_pattern_dest_src_pos,
                                  {"layer": L, "head_index": H, "dest_pos": seq, "src_pos": seq}),
    }
    t = {"tokens": tokens, "abc_tokens": abc}
    meta = {**mg.versions(), "generator": "tools/goldens/make_ioi_patching_extra_goldens.py", "model": "ioi-gpt2",
            "flags": json.dumps(flags), "fixture": mig.FIXTURE, "n_prompts": n, "flip": mig.FLIP,
            "metric": "(mean logit diff - ABC mean) / (clean mean - ABC mean)", "cells_seed": SEED}
    for name, (fn, sizes) in grids.items():
        df = sample(sizes)
        ts = time.time()
        # the grid function's own setter and hook, on the sampled cells (index_df excludes index_axis_names)
        values = patching.generic_activation_patch(model, abc, cache, metric, patch_setter=fn.keywords["patch_setter"],
                                                   activation_name=fn.keywords["activation_name"], index_df=df)
        t[f"{name}/index"] = torch.tensor(df.values, dtype=torch.int64)  # [cells, axes]
        t[f"{name}/values"] = values.flatten().float()
        meta[f"{name}/axes"] = json.dumps(list(sizes))
        print(f"{name}: {len(df)} cells in {time.time() - ts:.1f}s, range [{values.min():.3f}, {values.max():.3f}]")
    mig.write_goldens(OUT, t, meta)
    print(f"wrote {OUT.relative_to(mg.REPO)} ({OUT.stat().st_size} bytes) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
