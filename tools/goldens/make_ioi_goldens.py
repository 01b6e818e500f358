#!/usr/bin/env python3
"""Generate the IOI-experiment goldens (metrics, direct logit attribution, logit lens, activation
patching) that the Java tests of package ioi.experiments compare against.

Developer-side tool. CI never runs it: its outputs are committed under
kernel-lib/src/test/resources/. Rerun from the repository root, with a Python that has
tools/goldens/requirements.txt installed (see tools/goldens/README.md):

    python tools/goldens/make_ioi_goldens.py

It writes
  1. kernel-lib/src/test/resources/ioi-gpt2/{config.json, model.safetensors}
     A 12-layer, 12-head random GPT-2 (d_model 24, so d_head 2; d_mlp 96; n_ctx 64; GPT-2's
     50257-token vocabulary), F16-exact values, built by make_goldens.py's own functions with this
     shape, so the paper's head indices (9.9, 10.0, 9.6, ...) exist.
  2. kernel-lib/src/test/resources/ioi-goldens/experiments.safetensors
     The IOI batch (clean and ABC tokens, word_idx, answer ids) built from a committed fixture of
     kernel-lib/src/test/resources/ioi-fixtures/, and TransformerLens reference values on the model loaded the way the
     paper's notebooks load GPT-2 (fold_ln, center_writing_weights, center_unembed,
     fold_value_biases, refactor_factored_attn_matrices):
       metrics       logit difference, IO probability, the normalised IOI metric and ioi_metric_2
       dla           direct logit attribution of the logit-difference direction at END, per layer
                     component and per head, through the cached ln_final scale (TL's logit_attrs)
       logit_lens    accumulated_resid(apply_ln=True) (TL 2.18 re-normalises each component) and
                     the cached-scale variant ARENA plots
       act_patch     transformer_lens.patching grids, corrupted = ABC tokens, clean cache, metric =
                     the normalised IOI metric of the patched logits
Everything runs on CPU in fp32 with fixed seeds; the file is byte-deterministic.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # TL's patching loops print a bar per grid otherwise

import torch

torch.set_grad_enabled(False)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402  (its functions, configured below by module parameters)

from transformers import GPT2TokenizerFast  # noqa: E402
from transformer_lens import patching  # noqa: E402

REPO = mg.REPO
RES = mg.RES
TOKENIZER_DIR = REPO / "kernel-lib" / "src" / "main" / "resources" / "ioi" / "lens" / "gpt2-tokenizer"  # the library's
FIXTURES = RES / "ioi-fixtures"  # the reference ioi_dataset.py's datasets (README.md there)
MODEL_DIR = RES / "ioi-gpt2"
GOLDEN_PATH = RES / "ioi-goldens" / "experiments.safetensors"

# ---- model shape: GPT-2 small's 12 x 12 heads, a tiny residual stream -------------------------
N_LAYER, N_HEAD, N_EMBD = 12, 12, 24
WEIGHT_SEED = 20240620  # chosen among 20240612.. so that clean and ABC logit diffs differ by > 1

# ---- data ------------------------------------------------------------------------------------
FIXTURE = "mixed_N50_seed0.json"
N_PROMPTS = 16  # the first 16 prompts of the fixture
FLIP = "ABB->XYZ, BAB->XYZ"  # p_ABC: three unrelated names (ARENA's abc_dataset)
BOS = PAD = 50256


def configure_make_goldens() -> None:
    """make_goldens.py's functions read their shape and paths from module parameters."""
    mg.N_LAYER, mg.N_HEAD, mg.N_EMBD = N_LAYER, N_HEAD, N_EMBD
    mg.WEIGHT_SEED = WEIGHT_SEED
    mg.MODEL_DIR = MODEL_DIR


def check_cfg(cfg) -> None:
    want = dict(n_layers=N_LAYER, n_heads=N_HEAD, d_model=N_EMBD, d_head=N_EMBD // N_HEAD,
                d_mlp=4 * N_EMBD, d_vocab=mg.VOCAB, n_ctx=mg.N_POS, act_fn="gelu_new",
                normalization_type="LNPre", positional_embedding_type="standard")
    for k, v in want.items():
        assert getattr(cfg, k) == v, f"TL cfg.{k} = {getattr(cfg, k)!r}, expected {v!r}"



def load_committed_model():
    """The committed ioi-gpt2 (read, not rewritten) loaded as the paper's notebooks load GPT-2: TL's
    defaults plus refactoring. What the other experiment golden scripts start from: (model, flags)."""
    configure_make_goldens()
    hf = mg.load_hf_model()
    flags = mg.PROCESSING_FLAGS["refactored"]
    model = mg.build_tl(hf, flags)
    check_cfg(model.cfg)
    return model, flags


def load_tokenizer():
    """GPT-2's tokenizer bundled in the library, padding with EOS on the right as ioi_dataset.py does."""
    tok = GPT2TokenizerFast.from_pretrained(str(TOKENIZER_DIR))
    tok.pad_token = tok.eos_token
    return tok


def write_goldens(path: Path, tensors: dict, meta: dict) -> dict:
    """Integer tensors as int64, floating ones as float32, contiguous copies, written with
    make_goldens.write_safetensors (byte-deterministic). Returns what was written."""
    out = {}
    for k, v in tensors.items():
        v = torch.as_tensor(v).detach().cpu()
        out[k] = (v.to(torch.int64) if not v.is_floating_point() else v.to(torch.float32)).contiguous().clone()
    path.parent.mkdir(parents=True, exist_ok=True)
    mg.write_safetensors(path, out, meta)
    return out

# =============================================================================================
# IOI data (A3 ioi_dataset.py: word_idx, answer ids, toks, flips; docs/sources.md)
# =============================================================================================

def name_idxs(text: str, io: str, s: str, tok) -> tuple[int, int, int]:
    """get_name_idxs: tokenize the text without its last word (the answer), no BOS; IO/S1 = first
    occurrence of the first token of " "+name, S2 = last occurrence of S's; +1 for BOS."""
    toks = tok.tokenize(" ".join(text.split(" ")[:-1]))
    io_t, s_t = tok.tokenize(" " + io)[0], tok.tokenize(" " + s)[0]
    io_i = toks.index(io_t)
    s1 = toks.index(s_t)
    s2 = len(toks) - 1 - toks[::-1].index(s_t)
    assert s1 != s2, (text, s)
    return io_i + 1, s1 + 1, s2 + 1


def end_idxs(toks: torch.Tensor) -> list[int]:
    """get_end_idxs with prepend_bos: raw = position of the pad after the text (the second pad
    occurrence; the first is BOS), or seq_len if none; end = raw - 1 - name_tok_len (1)."""
    out = []
    for row in toks:
        if PAD not in row[1:].tolist():
            raw = toks.shape[1]
        else:
            raw = (row == PAD).nonzero()[1][0].item()
        out.append(raw - 2)
    return out


def tokenize(texts: list[str], tok) -> torch.Tensor:
    ids = tok([tok.bos_token + t for t in texts], padding=True).input_ids
    return torch.tensor(ids, dtype=torch.int64)


def build_data(tok) -> dict:
    fixture = json.loads((FIXTURES / FIXTURE).read_text())
    clean = fixture["prompts"][:N_PROMPTS]
    abc = fixture["flips"][FLIP]["prompts"][:N_PROMPTS]
    tokens = tokenize([p["text"] for p in clean], tok)
    abc_tokens = tokenize([p["text"] for p in abc], tok)
    # The ABC flip of the same template with single-token names keeps every row's length, so the
    # clean word_idx serve both (ARENA: manual_word_idx=self.word_idx).
    assert tokens.shape == abc_tokens.shape, (tokens.shape, abc_tokens.shape)
    assert torch.equal(tokens == PAD, abc_tokens == PAD), "clean and ABC rows differ in length"
    idx = [name_idxs(p["text"], p["IO"], p["S"], tok) for p in clean]
    end = end_idxs(tokens)
    io_ids = [tok.encode(" " + p["IO"])[0] for p in clean]
    s_ids = [tok.encode(" " + p["S"])[0] for p in clean]
    for i, p in enumerate(clean):
        assert tokens[i, end[i] + 1].item() == io_ids[i], (p["text"], end[i])
        assert tokens[i, idx[i][0]].item() == io_ids[i] and tokens[i, idx[i][1]].item() == s_ids[i]
        assert tokens[i, idx[i][2]].item() == s_ids[i]
        assert idx[i][2] < end[i]
    L = lambda xs: torch.tensor(xs, dtype=torch.int64)  # noqa: E731
    return {
        "clean_prompts": clean, "abc_prompts": abc,
        "tokens": tokens, "abc_tokens": abc_tokens,
        "IO": L([i[0] for i in idx]), "S1": L([i[1] for i in idx]), "S2": L([i[2] for i in idx]),
        "end": L(end), "io": L(io_ids), "s": L(s_ids),
    }


# =============================================================================================
# reference computations, written against TL's own API
# =============================================================================================

def logit_diff(logits, d) -> torch.Tensor:
    """[batch]: logit[IO] - logit[S] at each prompt's END (paper §2, ARENA logits_to_ave_logit_diff_2)."""
    ar = torch.arange(logits.shape[0])
    at_end = logits[ar, d["end"]]  # [batch, d_vocab]
    return at_end[ar, d["io"]] - at_end[ar, d["s"]]


def io_prob(logits, d) -> torch.Tensor:
    ar = torch.arange(logits.shape[0])
    return logits[ar, d["end"]].softmax(-1)[ar, d["io"]]


def per_prompt_logit_attrs(cache, stack_end: torch.Tensor, d) -> torch.Tensor:
    """[components, batch]: TL's cache.logit_attrs, one prompt at a time, with that prompt's END as
    pos_slice (the stack is already gathered at each prompt's END: [components, batch, d_model])."""
    cols = []
    for i in range(stack_end.shape[1]):
        cols.append(cache.logit_attrs(stack_end, tokens=d["io"][i:i + 1], incorrect_tokens=d["s"][i:i + 1],
                                      pos_slice=int(d["end"][i]), batch_slice=[i]))  # [components, 1]
    return torch.cat(cols, dim=1)


def at_end(stack: torch.Tensor, d) -> torch.Tensor:
    """[components, batch, pos, d_model] -> [components, batch, d_model] at each prompt's END."""
    return stack[:, torch.arange(stack.shape[1]), d["end"], :]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    torch.manual_seed(0)
    t0 = time.time()
    configure_make_goldens()
    ver = mg.versions()
    print("versions:", json.dumps(ver))

    # ---- 1. model ------------------------------------------------------------------------------
    weights = mg.make_hf_weights()
    mg.write_tiny_model(weights)
    size = (MODEL_DIR / "model.safetensors").stat().st_size
    assert size < 4 * 1024 * 1024, f"model.safetensors is {size} bytes"
    hf = mg.load_hf_model()
    for k, v in weights.items():
        assert torch.equal(hf.state_dict()[k], v), f"HF reload mismatch for {k}"
    flags = mg.PROCESSING_FLAGS["refactored"]
    model = mg.build_tl(hf, flags)
    check_cfg(model.cfg)
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads

    # ---- 2. data -------------------------------------------------------------------------------
    tok = GPT2TokenizerFast.from_pretrained(str(TOKENIZER_DIR))
    tok.pad_token = tok.eos_token  # as ioi_dataset.py does; right padding (GPT-2's default)
    assert tok.bos_token_id == tok.pad_token_id == BOS and tok.padding_side == "right"
    d = build_data(tok)
    tokens, abc_tokens = d["tokens"], d["abc_tokens"]
    n, seq = tokens.shape
    print(f"data: {FIXTURE} first {n} prompts, flip {FLIP!r}, tokens {tuple(tokens.shape)}, "
          f"end {d['end'].tolist()}")
    d_hf = mg.max_abs(mg.build_tl(hf, mg.PROCESSING_FLAGS["unprocessed"])(tokens).log_softmax(-1),
                      hf(tokens).logits.log_softmax(-1))
    assert d_hf < 1e-4, d_hf

    # ---- 3a. metrics ---------------------------------------------------------------------------
    clean_logits, cache = model.run_with_cache(tokens)
    abc_logits = model(abc_tokens)
    ld_clean, ld_abc = logit_diff(clean_logits, d), logit_diff(abc_logits, d)
    clean_ld, abc_ld = ld_clean.mean(), ld_abc.mean()

    def normalised(ld_mean):  # ARENA ioi_metric: 0 = ABC, 1 = clean
        return (ld_mean - abc_ld) / (clean_ld - abc_ld)

    def metric2(ld_mean):  # ARENA ioi_metric_2 (A3 solutions.py): 0 = clean, -1 = ABC
        return (ld_mean - clean_ld) / (clean_ld - abc_ld)

    def ioi_metric(logits):  # what the patching grids measure
        return normalised(logit_diff(logits, d).mean())

    # a non-trivial input for the metric formulas: the ABC run with head 9.9's z patched from clean
    def patch_9_9(z, hook):
        z[:, :, 9] = cache[hook.name][:, :, 9]
        return z

    ex_logits = model.run_with_hooks(abc_tokens, fwd_hooks=[("blocks.9.attn.hook_z", patch_9_9)])
    ld_ex = logit_diff(ex_logits, d)
    t = {
        "tokens": tokens, "abc_tokens": abc_tokens,
        "word_idx/IO": d["IO"], "word_idx/S1": d["S1"], "word_idx/S2": d["S2"], "word_idx/end": d["end"],
        "io_token_ids": d["io"], "s_token_ids": d["s"],
        "metrics/logit_diff_clean": ld_clean, "metrics/logit_diff_abc": ld_abc,
        "metrics/logit_diff_clean_mean": clean_ld.reshape(1), "metrics/logit_diff_abc_mean": abc_ld.reshape(1),
        "metrics/io_prob_clean": io_prob(clean_logits, d), "metrics/io_prob_abc": io_prob(abc_logits, d),
        "metrics/io_prob_clean_mean": io_prob(clean_logits, d).mean().reshape(1),
        "metrics/io_prob_abc_mean": io_prob(abc_logits, d).mean().reshape(1),
        "metrics/normalised_clean": normalised(clean_ld).reshape(1),
        "metrics/normalised_abc": normalised(abc_ld).reshape(1),
        "metrics/metric2_clean": metric2(clean_ld).reshape(1),
        "metrics/metric2_abc": metric2(abc_ld).reshape(1),
        "metrics/example/logit_diff": ld_ex,
        "metrics/example/io_prob": io_prob(ex_logits, d),
        "metrics/example/normalised": normalised(ld_ex.mean()).reshape(1),
        "metrics/example/metric2": metric2(ld_ex.mean()).reshape(1),
    }
    print(f"metrics: logit diff clean {clean_ld.item():.4f}, ABC {abc_ld.item():.4f} "
          f"(gap {(clean_ld - abc_ld).item():.4f}); IO prob clean {t['metrics/io_prob_clean_mean'].item():.3e}; "
          f"9.9 patched: normalised {t['metrics/example/normalised'].item():.4f}")
    assert (clean_ld - abc_ld).item() > 0.5, "clean and ABC logit diffs are too close to normalise by"

    # ---- 3b. direct logit attribution and logit lens ---------------------------------------------
    layer_stack, layer_labels = cache.decompose_resid(layer=-1, return_labels=True)  # [comp, batch, pos, d_model]
    dla_layer = per_prompt_logit_attrs(cache, at_end(layer_stack, d), d)  # [comp, batch]
    head_stack, head_labels = cache.stack_head_results(layer=-1, return_labels=True)  # [L*H, batch, pos, d_model]
    dla_head = per_prompt_logit_attrs(cache, at_end(head_stack, d), d)  # [L*H, batch]
    directions = model.W_U[:, d["io"]].T - model.W_U[:, d["s"]].T  # [batch, d_model]
    # cross-checks: a vectorised version, and the sum of the layer components = the logit diff - b_U
    scale_end = cache["ln_final.hook_scale"][torch.arange(n), d["end"]]  # [batch, 1]
    centred = at_end(layer_stack, d) - at_end(layer_stack, d).mean(-1, keepdim=True)
    assert mg.max_abs((centred / scale_end * directions).sum(-1), dla_layer) < 1e-5
    b_u_diff = model.b_U[d["io"]] - model.b_U[d["s"]]
    assert mg.max_abs(dla_layer.sum(0) + b_u_diff, ld_clean) < 1e-4, "DLA does not add up to the logit diff"
    acc, lens_labels = cache.accumulated_resid(layer=-1, incl_mid=True, apply_ln=True, return_labels=True)
    lens = (at_end(acc, d) * directions).sum(-1)  # [comp, batch]; TL 2.18 re-normalises each component
    acc_raw = cache.accumulated_resid(layer=-1, incl_mid=True, apply_ln=False)
    lens_cached = per_prompt_logit_attrs(cache, at_end(acc_raw, d), d)  # ARENA: residual_stack_to_logit_diff
    assert mg.max_abs(lens[-1] + b_u_diff, ld_clean) < 1e-4 and mg.max_abs(lens_cached[-1] + b_u_diff, ld_clean) < 1e-4
    t.update({
        "dla/layer": dla_layer.mean(1), "dla/layer_per_prompt": dla_layer,
        "dla/head": dla_head.mean(1).reshape(n_layers, n_heads), "dla/head_per_prompt": dla_head,
        "logit_lens": lens.mean(1), "logit_lens_per_prompt": lens,
        "logit_lens_cached_scale": lens_cached.mean(1), "logit_lens_cached_scale_per_prompt": lens_cached,
    })
    top = dla_head.mean(1).abs().argsort(descending=True)[:3].tolist()
    print("dla: top heads", [head_labels[i] for i in top], f"(dla/layer sums to {dla_layer.mean(1).sum().item():.4f})")

    # ---- 3c. activation patching with transformer_lens.patching ------------------------------------
    grids = {
        "resid_pre": patching.get_act_patch_resid_pre,
        "attn_out": patching.get_act_patch_attn_out,
        "mlp_out": patching.get_act_patch_mlp_out,
        "head_out_all_pos": patching.get_act_patch_attn_head_out_all_pos,
        "head_q_all_pos": patching.get_act_patch_attn_head_q_all_pos,
        "head_k_all_pos": patching.get_act_patch_attn_head_k_all_pos,
        "head_v_all_pos": patching.get_act_patch_attn_head_v_all_pos,
        "head_pattern_all_pos": patching.get_act_patch_attn_head_pattern_all_pos,
        "head_out_by_pos": patching.get_act_patch_attn_head_out_by_pos,
    }
    timings = {}
    for name, fn in grids.items():
        ts = time.time()
        t["act_patch/" + name] = fn(model, abc_tokens, cache, ioi_metric)
        timings[name] = round(time.time() - ts, 1)
        g = t["act_patch/" + name]
        print(f"act_patch/{name}: {tuple(g.shape)} in {timings[name]}s, range [{g.min():.3f}, {g.max():.3f}]")
    # sanity: patching the whole residual stream at layer 0 at every position gives the clean run back
    assert abs(ioi_metric(model.run_with_hooks(abc_tokens, fwd_hooks=[(
        "blocks.0.hook_resid_pre", lambda x, hook: cache[hook.name])])).item() - 1.0) < 1e-5

    meta = {
        **ver,
        "generator": "tools/goldens/make_ioi_goldens.py",
        "model": "ioi-gpt2", "weight_seed": WEIGHT_SEED, "flags": json.dumps(flags),
        "fixture": FIXTURE, "n_prompts": n, "flip": FLIP, "prepend_bos": "true", "pad_token_id": PAD,
        "clean_prompts": json.dumps([p["text"] for p in d["clean_prompts"]]),
        "abc_prompts": json.dumps([p["text"] for p in d["abc_prompts"]]),
        "io_names": json.dumps([p["IO"] for p in d["clean_prompts"]]),
        "s_names": json.dumps([p["S"] for p in d["clean_prompts"]]),
        "dla/layer_labels": json.dumps(layer_labels),
        "dla/head_labels": json.dumps(head_labels),
        "logit_lens_labels": json.dumps(lens_labels),
        "metrics/example": "ABC run with blocks.9.attn.hook_z head 9 patched from the clean cache at every position",
        "act_patch/metric": "(mean logit diff - ABC mean) / (clean mean - ABC mean) of the patched logits",
    }
    GOLDEN_PATH.parent.mkdir(parents=True, exist_ok=True)
    clean_t = {}
    for k, v in t.items():
        v = v.detach().cpu()
        clean_t[k] = (v.to(torch.int64) if not v.is_floating_point() else v.to(torch.float32)).contiguous().clone()
    mg.write_safetensors(GOLDEN_PATH, clean_t, meta)
    print("TL patching seconds:", json.dumps(timings))  # not in the file: it stays byte-deterministic
    print(f"wrote {GOLDEN_PATH.relative_to(REPO)} ({GOLDEN_PATH.stat().st_size} bytes, {len(clean_t)} tensors) "
          f"and {MODEL_DIR.relative_to(REPO)} ({size} bytes) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
