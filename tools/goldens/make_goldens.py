#!/usr/bin/env python3
"""Generate the TransformerLens parity test vectors ("goldens") for kernel-lib.

Developer-side tool. CI never runs it: its outputs are committed under
kernel-lib/src/test/resources/. Rerun from the repository root with

    python tools/goldens/make_goldens.py

(using a Python that has the packages of tools/goldens/requirements.txt).

It writes
  1. kernel-lib/src/test/resources/tiny-gpt2/{config.json, model.safetensors}
     A small random GPT-2 (3 layers, d_model 32, 4 heads, n_ctx 64, full 50257 vocab)
     in Hugging Face format: HF GPT2LMHeadModel key names, Conv1D [in, out] weights,
     no lm_head.weight (tied), no attn.bias / attn.masked_bias buffers, every tensor F16.
     Values were drawn in fp32 and rounded to fp16; the fp16 values (exactly
     representable in fp32) are the model everywhere below.
  2. kernel-lib/src/test/resources/goldens/{unprocessed,processed,refactored,left_padded}.safetensors
     Activations, logits summaries, losses and processed TL weights, keyed by TL's own names.

The TL model is built exactly the way HookedTransformer.from_pretrained builds it
(from_pretrained itself refuses names that are not in its official list, so the same
steps are called one by one on the local directory):
    cfg = loading.get_pretrained_model_config(dir, hf_cfg=..., fold_ln=..., device="cpu", dtype=float32)
    hf_model = GPT2LMHeadModel.from_pretrained(dir, torch_dtype=float32)   # what TL does for a path
    state_dict = loading.get_pretrained_state_dict(dir, cfg, hf_model)    # -> convert_gpt2_weights
    model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    model.load_and_process_state_dict(state_dict, fold_ln=..., center_writing_weights=..., ...)
Everything runs on CPU in fp32 with fixed seeds.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import math
import platform
import struct
import sys
from pathlib import Path

import torch

torch.set_grad_enabled(False)

import safetensors  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

import transformer_lens.loading_from_pretrained as loading  # noqa: E402
from transformer_lens import HookedTransformer  # noqa: E402
from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RES = REPO / "kernel-lib" / "src" / "test" / "resources"
MODEL_DIR = RES / "tiny-gpt2"
GOLDEN_DIR = RES / "goldens"

# ---- model shape -----------------------------------------------------------------------------
N_LAYER, N_HEAD, N_EMBD, N_POS, VOCAB = 3, 4, 32, 64, 50257
BOS = PAD = 50256

# ---- seeds -----------------------------------------------------------------------------------
WEIGHT_SEED = 20240611
TOKEN_SEED = 1234
PAD_TOKEN_SEED = 4321

VOCAB_SLICE = 512  # logits / W_E / W_U are stored for the first (and last) 512 vocab entries only

PROCESSING_FLAGS = {
    "unprocessed": dict(fold_ln=False, center_writing_weights=False, center_unembed=False,
                        fold_value_biases=False, refactor_factored_attn_matrices=False),
    "processed": dict(fold_ln=True, center_writing_weights=True, center_unembed=True,
                      fold_value_biases=True, refactor_factored_attn_matrices=False),
    "refactored": dict(fold_ln=True, center_writing_weights=True, center_unembed=True,
                       fold_value_biases=True, refactor_factored_attn_matrices=True),
}


def versions() -> dict:
    return {
        "transformer_lens_version": md.version("transformer-lens"),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "safetensors_version": safetensors.__version__,
        "python_version": platform.python_version(),
    }


# =============================================================================================
# 1. the tiny random GPT-2 in HF format
# =============================================================================================

def hf_config() -> GPT2Config:
    return GPT2Config(
        vocab_size=VOCAB, n_positions=N_POS, n_ctx=N_POS, n_embd=N_EMBD, n_layer=N_LAYER,
        n_head=N_HEAD, n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5,
        bos_token_id=BOS, eos_token_id=BOS, tie_word_embeddings=True,
        architectures=["GPT2LMHeadModel"],
    )


def make_hf_weights() -> dict[str, torch.Tensor]:
    """Random, non-degenerate GPT-2 weights (HF names, Conv1D [in, out]), fp16-rounded fp32."""
    g = torch.Generator().manual_seed(WEIGHT_SEED)

    def randn(*shape, std, mean=0.0):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std + mean

    d, d3, dm = N_EMBD, 3 * N_EMBD, 4 * N_EMBD
    sd: dict[str, torch.Tensor] = {
        "transformer.wte.weight": randn(VOCAB, d, std=0.5),
        "transformer.wpe.weight": randn(N_POS, d, std=0.5),
    }
    for i in range(N_LAYER):
        p = f"transformer.h.{i}."
        sd[p + "ln_1.weight"] = randn(d, std=0.2, mean=1.0)
        sd[p + "ln_1.bias"] = randn(d, std=0.2)
        sd[p + "attn.c_attn.weight"] = randn(d, d3, std=0.3)   # peaky attention
        sd[p + "attn.c_attn.bias"] = randn(d3, std=0.3)
        sd[p + "attn.c_proj.weight"] = randn(d, d, std=0.1)
        sd[p + "attn.c_proj.bias"] = randn(d, std=0.1)
        sd[p + "ln_2.weight"] = randn(d, std=0.2, mean=1.0)
        sd[p + "ln_2.bias"] = randn(d, std=0.2)
        sd[p + "mlp.c_fc.weight"] = randn(d, dm, std=0.1)
        sd[p + "mlp.c_fc.bias"] = randn(dm, std=0.1)
        sd[p + "mlp.c_proj.weight"] = randn(dm, d, std=0.1)
        sd[p + "mlp.c_proj.bias"] = randn(d, std=0.1)
    sd["transformer.ln_f.weight"] = randn(d, std=0.2, mean=1.0)
    sd["transformer.ln_f.bias"] = randn(d, std=0.2)
    # round to fp16 once; these exactly representable values are "the model" from here on
    return {k: v.to(torch.float16).to(torch.float32).contiguous() for k, v in sd.items()}


def write_tiny_model(weights: dict[str, torch.Tensor]) -> None:
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    cfg = hf_config()
    # save_pretrained writes the diff against defaults; tie_word_embeddings (a default) is added
    # explicitly so the Java loader does not have to know the HF default.
    cfg_dict = cfg.to_diff_dict()
    cfg_dict["tie_word_embeddings"] = True
    cfg_dict["n_inner"] = None
    cfg_dict.pop("torch_dtype", None)
    cfg_dict["dtype"] = "float16"
    with open(MODEL_DIR / "config.json", "w") as f:
        json.dump(dict(sorted(cfg_dict.items())), f, indent=2)
        f.write("\n")
    f16 = {k: v.to(torch.float16).contiguous() for k, v in weights.items()}
    write_safetensors(MODEL_DIR / "model.safetensors", f16, {"format": "pt"})
    # stale files from an earlier save_pretrained, if any
    for stale in ("generation_config.json", "pytorch_model.bin"):
        (MODEL_DIR / stale).unlink(missing_ok=True)


def load_hf_model() -> GPT2LMHeadModel:
    """Load the written checkpoint the way TL does for a local path (AutoModel... fp32), eager attn."""
    hf = GPT2LMHeadModel.from_pretrained(str(MODEL_DIR), dtype=torch.float32,
                                         attn_implementation="eager")
    hf.eval()
    return hf


# =============================================================================================
# 2. the TL model, built the from_pretrained way
# =============================================================================================

def build_tl(hf: GPT2LMHeadModel, flags: dict) -> HookedTransformer:
    cfg = loading.get_pretrained_model_config(
        str(MODEL_DIR), hf_cfg=hf.config.to_dict(), fold_ln=flags["fold_ln"], device="cpu",
        dtype=torch.float32,
    )
    # tokenizer_name would be the local dir (which has no tokenizer): tokens are given as ids.
    cfg.tokenizer_name = None
    state_dict = loading.get_pretrained_state_dict(str(MODEL_DIR), cfg, hf, dtype=torch.float32)
    model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    model.load_and_process_state_dict(state_dict, **flags)
    model.move_model_modules_to_device()
    model.eval()
    return model


def check_tl_config(cfg) -> None:
    want = dict(n_layers=N_LAYER, d_model=N_EMBD, d_head=N_EMBD // N_HEAD, n_heads=N_HEAD,
                d_mlp=4 * N_EMBD, d_vocab=VOCAB, d_vocab_out=VOCAB, n_ctx=N_POS, act_fn="gelu_new",
                eps=1e-5, original_architecture="GPT2LMHeadModel", default_prepend_bos=True,
                positional_embedding_type="standard", use_attn_scale=True, attn_scale=math.sqrt(8),
                scale_attn_by_inverse_layer_idx=False, use_local_attn=False, attention_dir="causal",
                final_rms=False, gated_mlp=False, parallel_attn_mlp=False, attn_only=False)
    for k, v in want.items():
        got = getattr(cfg, k)
        assert got == v, f"TL cfg.{k} = {got!r}, expected {v!r}"


# =============================================================================================
# 3. goldens
# =============================================================================================

def logits_summary(logits: torch.Tensor, tokens: torch.Tensor, prefix: str = "") -> dict:
    return {
        prefix + "logits_head": logits[..., :VOCAB_SLICE],
        prefix + "logits_tail": logits[..., -VOCAB_SLICE:],
        prefix + "logits_lse": torch.logsumexp(logits, dim=-1),
        prefix + "logits_argmax": logits.argmax(dim=-1).to(torch.int64),
        prefix + "logits_at_tokens": logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0],
    }


def tl_weights(model: HookedTransformer) -> dict:
    sd = dict(model.named_parameters())
    out = {}
    W_E, W_U, b_U = sd["embed.W_E"], sd["unembed.W_U"], sd["unembed.b_U"]
    out["weights/embed.W_E_head"] = W_E[:VOCAB_SLICE]
    out["weights/embed.W_E_tail"] = W_E[-VOCAB_SLICE:]
    out["weights/embed.W_E_colmean"] = W_E.mean(0)
    out["weights/pos_embed.W_pos"] = sd["pos_embed.W_pos"]
    for L in range(model.cfg.n_layers):
        for n in ("ln1.w", "ln1.b", "attn.W_Q", "attn.W_K", "attn.W_V", "attn.W_O", "attn.b_Q",
                  "attn.b_K", "attn.b_V", "attn.b_O", "ln2.w", "ln2.b", "mlp.W_in", "mlp.b_in",
                  "mlp.W_out", "mlp.b_out"):
            key = f"blocks.{L}.{n}"
            if key in sd:
                out["weights/" + key] = sd[key]
    for n in ("ln_final.w", "ln_final.b"):
        if n in sd:
            out["weights/" + n] = sd[n]
    out["weights/unembed.W_U_head"] = W_U[:, :VOCAB_SLICE]
    out["weights/unembed.W_U_tail"] = W_U[:, -VOCAB_SLICE:]
    out["weights/unembed.W_U_colmean"] = W_U.mean(1)
    out["weights/unembed.b_U_head"] = b_U[:VOCAB_SLICE]
    out["weights/unembed.b_U_tail"] = b_U[-VOCAB_SLICE:]
    out["weights/unembed.b_U_mean"] = b_U.mean().reshape(1)
    return out


def run_default(model, tokens, attention_mask=None) -> tuple[torch.Tensor, dict, list]:
    kw = {} if attention_mask is None else {"attention_mask": attention_mask}
    logits, cache = model.run_with_cache(tokens, **kw)
    names = list(cache.keys())
    expected = 4 + model.cfg.n_layers * 17
    assert len(names) == expected, f"{len(names)} cache entries, expected {expected}"
    return logits, {n: cache[n] for n in names}, names


def run_split(model, tokens) -> tuple[dict, torch.Tensor]:
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    model.set_use_hook_mlp_in(True)
    try:
        logits, cache = model.run_with_cache(tokens)
    finally:
        model.set_use_attn_result(False)
        model.set_use_split_qkv_input(False)
        model.set_use_hook_mlp_in(False)
    b, p = tokens.shape
    out = {}
    for L in range(model.cfg.n_layers):
        for n in ("attn.hook_result", "hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in"):
            out[f"blocks.{L}.{n}"] = cache[f"blocks.{L}.{n}"]
        sc = cache[f"blocks.{L}.ln1.hook_scale"]
        assert tuple(sc.shape) == (b, p, model.cfg.n_heads, 1), sc.shape
        out[f"split_qkv/blocks.{L}.ln1.hook_scale"] = sc
        out[f"split_qkv/blocks.{L}.ln1.hook_normalized"] = cache[f"blocks.{L}.ln1.hook_normalized"]
    out["split_qkv/logits_head"] = logits[..., :VOCAB_SLICE]
    return out, logits


_ST_DTYPE = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16"}


def write_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    """Byte-deterministic safetensors writer.

    safetensors.torch.save_file keeps __metadata__ in a Rust HashMap, so its header order (and so
    the file bytes) changes from run to run. Here the header is written in a fixed order: metadata
    sorted by key, tensors sorted by (8-byte dtypes first, name), which keeps every I64 tensor
    8-byte aligned. The result is a standard safetensors file (checked by reading it back).
    """
    assert sys.byteorder == "little"
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header: dict = {"__metadata__": dict(sorted((k, str(v)) for k, v in metadata.items()))}
    blobs, off = [], 0
    for n in names:
        t = tensors[n]
        b = t.contiguous().numpy().tobytes()
        header[n] = {"dtype": _ST_DTYPE[t.dtype], "shape": list(t.shape),
                     "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    with safe_open(str(path), "pt") as f:  # read back with the reference reader
        assert set(f.keys()) == set(tensors)
        for n in names:
            assert torch.equal(f.get_tensor(n), tensors[n]), n


def save_golden(name: str, tensors: dict, meta: dict) -> Path:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    clean = {}
    for k, v in tensors.items():
        v = v.detach().cpu()
        v = v.to(torch.int64) if not v.is_floating_point() else v.to(torch.float32)
        clean[k] = v.contiguous().clone()
    path = GOLDEN_DIR / f"{name}.safetensors"
    write_safetensors(path, clean, meta)
    return path


def max_abs(a, b) -> float:
    return (a - b).abs().max().item()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    torch.manual_seed(0)
    ver = versions()
    print("versions:", json.dumps(ver))

    # ---- 1. tiny model ------------------------------------------------------------------------
    weights = make_hf_weights()
    write_tiny_model(weights)
    with safe_open(str(MODEL_DIR / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        for k in keys:
            t = f.get_tensor(k)
            assert t.dtype == torch.float16, (k, t.dtype)
            assert torch.equal(t.to(torch.float32), weights[k]), k
    assert keys == set(weights), keys ^ set(weights)
    size = (MODEL_DIR / "model.safetensors").stat().st_size
    assert size < 4 * 1024 * 1024, f"model.safetensors is {size} bytes"

    hf = load_hf_model()
    for k, v in weights.items():
        assert torch.equal(hf.state_dict()[k], v), f"HF reload mismatch for {k}"
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr(), "lm_head not tied"

    # ---- inputs -------------------------------------------------------------------------------
    g = torch.Generator().manual_seed(TOKEN_SEED)
    tokens = torch.cat([torch.full((2, 1), BOS, dtype=torch.int64),
                        torch.randint(0, VOCAB, (2, 8), generator=g, dtype=torch.int64)], dim=1)

    gp = torch.Generator().manual_seed(PAD_TOKEN_SEED)
    n_pads, n_ids = [3, 0, 5], [6, 9, 4]
    rows, masks, real_rows = [], [], []
    for npad, nid in zip(n_pads, n_ids):
        real = torch.cat([torch.tensor([BOS]), torch.randint(0, VOCAB - 1, (nid,), generator=gp)])
        rows.append(torch.cat([torch.full((npad,), PAD), real]))
        masks.append(torch.cat([torch.zeros(npad), torch.ones(1 + nid)]))
        real_rows.append(real)
    pad_tokens = torch.stack(rows).to(torch.int64)           # [3, 10]
    pad_mask = torch.stack(masks).to(torch.int64)            # [3, 10]
    assert pad_tokens.shape == (3, 10)

    hf_logits = hf(tokens).logits

    # ---- TL models ----------------------------------------------------------------------------
    models = {name: build_tl(hf, flags) for name, flags in PROCESSING_FLAGS.items()}
    for name, m in models.items():
        check_tl_config(m.cfg)
        want_norm = "LNPre" if PROCESSING_FLAGS[name]["fold_ln"] else "LN"
        assert m.cfg.normalization_type == want_norm, (name, m.cfg.normalization_type)

    # TL's convert_gpt2_weights output must equal what get_pretrained_state_dict gave
    conv = convert_gpt2_weights(hf, models["unprocessed"].cfg)
    un_sd = dict(models["unprocessed"].named_parameters())
    for k, v in conv.items():
        assert torch.equal(un_sd[k], v), f"convert_gpt2_weights mismatch at {k}"
    assert torch.count_nonzero(un_sd["unembed.b_U"]) == 0

    summary = []
    ref_logits, ref_cache, _ = run_default(models["unprocessed"], tokens)
    d_hf = max_abs(ref_logits, hf_logits)
    print(f"[check] TL unprocessed vs HF logits: max|diff| = {d_hf:.3e}")
    assert d_hf < 1e-4, d_hf
    ref_loss = models["unprocessed"](tokens, return_type="loss")

    # ---- cases: unprocessed / processed / refactored -------------------------------------------
    for name, model in models.items():
        flags = PROCESSING_FLAGS[name]
        logits, cache, order = run_default(model, tokens)
        loss = model(tokens, return_type="loss")
        loss_pt = model(tokens, return_type="loss", loss_per_token=True)
        assert max_abs(model(tokens), logits) < 1e-6

        t = {"tokens": tokens}
        t.update(cache)
        t.update(logits_summary(logits, tokens))
        t["loss"] = loss.reshape(1)
        t["loss_per_token"] = loss_pt
        extra_checks = ""
        if name != "refactored":
            split, split_logits = run_split(model, tokens)
            t.update(split)
            d_split = max_abs(split_logits, logits)
            extra_checks = f" split_qkv_vs_default_logits={d_split:.2e}"
            assert d_split < 1e-4
            for L in range(model.cfg.n_layers):
                res = split[f"blocks.{L}.attn.hook_result"]
                d_res = max_abs(res.sum(2) + model.blocks[L].attn.b_O, cache[f"blocks.{L}.hook_attn_out"])
                assert d_res < 1e-4, (name, L, d_res)
        t.update(tl_weights(model))

        d_sm = max_abs(logits.softmax(-1), ref_logits.softmax(-1))
        d_sm_hf = max_abs(logits.softmax(-1), hf_logits.softmax(-1))
        d_loss = abs(loss.item() - ref_loss.item())
        assert d_sm < 1e-5 and d_loss < 1e-5, (name, d_sm, d_loss)
        print(f"[{name}] softmax vs unprocessed {d_sm:.2e}, vs HF {d_sm_hf:.2e}; "
              f"loss {loss.item():.6f} (|diff| {d_loss:.2e}){extra_checks}")
        meta = {**ver, "case": name, "flags": json.dumps(flags), "model": "tiny-gpt2",
                "weight_seed": WEIGHT_SEED, "token_seed": TOKEN_SEED,
                "hook_order": ",".join(order), "vocab_slice": VOCAB_SLICE,
                "generator": "tools/goldens/make_goldens.py"}
        path = save_golden(name, t, meta)
        summary.append((name, path, len(t), d_sm, d_loss))

    # ---- left padded (processed model) ---------------------------------------------------------
    model = models["processed"]
    logits, cache, order = run_default(model, pad_tokens, attention_mask=pad_mask)
    loss = model(pad_tokens, attention_mask=pad_mask, return_type="loss")
    loss_pt = model(pad_tokens, attention_mask=pad_mask, return_type="loss", loss_per_token=True)
    t = {"tokens": pad_tokens, "attention_mask": pad_mask}
    t.update(cache)
    t.update(logits_summary(logits, pad_tokens))
    t["loss"] = loss.reshape(1)
    t["loss_per_token"] = loss_pt
    worst_pad = 0.0
    unpadded_losses = []
    for i, (real, npad) in enumerate(zip(real_rows, n_pads)):
        row = real[None].to(torch.int64)
        row_logits = model(row)
        t[f"unpadded_row{i}/tokens"] = row
        t[f"unpadded_row{i}/logits_head"] = row_logits[..., :VOCAB_SLICE]
        t[f"unpadded_row{i}/logits_lse"] = torch.logsumexp(row_logits, -1)
        worst_pad = max(worst_pad, max_abs(logits[i, npad:], row_logits[0]))
        unpadded_losses.append(model(row, return_type="loss", loss_per_token=True)[0])
    print(f"[left_padded] padded vs unpadded logits at real positions: worst |diff| = {worst_pad:.3e}")
    assert worst_pad < 1e-4, worst_pad
    # masked loss == mean over the real next-token pairs of the unpadded rows
    ul = torch.cat(unpadded_losses)
    d_mloss = abs(ul.mean().item() - loss.item())
    print(f"[left_padded] masked loss {loss.item():.6f} vs mean of unpadded per-token losses "
          f"{ul.mean().item():.6f} (|diff| {d_mloss:.2e})")
    assert d_mloss < 1e-5
    # processed vs unprocessed on the padded batch (real positions; pad rows differ by design)
    un_logits = models["unprocessed"](pad_tokens, attention_mask=pad_mask)
    un_loss = models["unprocessed"](pad_tokens, attention_mask=pad_mask, return_type="loss")
    real = pad_mask.bool()
    d_sm = max_abs(logits.softmax(-1)[real], un_logits.softmax(-1)[real])
    d_sm_pad = max_abs(logits.softmax(-1)[~real], un_logits.softmax(-1)[~real])
    d_loss = abs(loss.item() - un_loss.item())
    print(f"[left_padded] softmax vs unprocessed (real positions) {d_sm:.2e}, "
          f"(pad positions) {d_sm_pad:.2e}; loss {loss.item():.6f} (|diff| {d_loss:.2e})")
    meta = {**ver, "case": "left_padded", "flags": json.dumps(PROCESSING_FLAGS["processed"]),
            "model": "tiny-gpt2", "weight_seed": WEIGHT_SEED, "token_seed": PAD_TOKEN_SEED,
            "pad_token_id": PAD, "n_pads": json.dumps(n_pads), "hook_order": ",".join(order),
            "vocab_slice": VOCAB_SLICE, "generator": "tools/goldens/make_goldens.py"}
    path = save_golden("left_padded", t, meta)
    summary.append(("left_padded", path, len(t), d_sm, d_loss))

    # ---- summary --------------------------------------------------------------------------------
    print()
    print(f"{'file':<58} {'bytes':>9} {'keys':>5} {'softmax Δ':>10} {'loss Δ':>9}")
    print(f"{str((MODEL_DIR / 'config.json').relative_to(REPO)):<58} "
          f"{(MODEL_DIR / 'config.json').stat().st_size:>9}")
    print(f"{str((MODEL_DIR / 'model.safetensors').relative_to(REPO)):<58} {size:>9} {len(keys):>5}")
    for name, path, n, dsm, dl in summary:
        print(f"{str(path.relative_to(REPO)):<58} {path.stat().st_size:>9} {n:>5} {dsm:>10.2e} {dl:>9.2e}")
    print(f"TL-vs-HF logits {d_hf:.2e}; left-pad vs unpadded {worst_pad:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
