#!/usr/bin/env python3
"""Generate the mean-ablation / circuit-evaluation goldens that ioi.experiments.CircuitEvaluationTest
compares against.

Developer-side tool (CI never runs it). From the repository root:

    python tools/goldens/make_ioi_ablation_goldens.py

Writes kernel-lib/src/test/resources/ioi-goldens/ablation.safetensors: an independent implementation
with TransformerLens 2.18, on the committed ioi-gpt2 model loaded the way the paper's notebooks load
GPT-2 (processing flags "refactored"), of

  * ARENA 3.0's mean ablation (ioi_circuit_extraction / solutions): compute_means_by_template (every
    layer's hook_z on the ABC prompts, averaged over each template group, broadcast back to the
    group's prompts), get_heads_and_posns_to_keep (A3 solutions: mask[range(batch), word_idx[pos],
    head], one kept position per prompt; and the provided file's mask[:, word_idx[pos], head], the
    union of all prompts' positions) and the hook torch.where(mask, z, means[layer]) on every hook_z;
  * the paper's circuit evaluation as its code (Easy-Transformer's completeness.py) computes it:
    F(M), F(C), F(C \\ K) (circuit minus K kept, the rest mean-ablated: circuit_eval), F(M \\ K) (only
    K's nodes mean-ablated, each head at its class's position, per prompt: cobble_eval with
    heads_to_remove = get_heads_from_nodes(K)), minimality scores |F(C \\ (K u {v})) - F(C \\ K)| with
    ARENA's and the paper's K sets, and a literal transcription of new_greedy_search (seeded: Python's
    random.seed(GREEDY_SEED + run) at the start of each run, which ET leaves unseeded);
  * ARENA's "ablate the top name mover at END by its ABC template mean" (A3 instructions page) for head 9.9.

Data: the whole fixture mixed_N50_seed0.json (50 prompts, so the template groups have several
prompts each), with BOS, via make_ioi_goldens.build_data; groups from the clean prompts'
TEMPLATE_IDX (the ABC prompts carry the same); ABC = flips["ABB->XYZ, BAB->XYZ"]. ARENA's means and
masks have max_len positions because its notebook runs without BOS; with BOS the token width is
max_len + 1, so here the pos axis is the token width. Byte-deterministic.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

torch.set_grad_enabled(False)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens as mg  # noqa: E402
import make_ioi_goldens as mig  # noqa: E402


GOLDEN_PATH = mig.RES / "ioi-goldens" / "ablation.safetensors"
N_PROMPTS = 50

# ARENA's CIRCUIT and SEQ_POS_TO_KEEP (A3 solutions.py), in ARENA's order.
CIRCUIT = {
    "name mover": [(9, 9), (10, 0), (9, 6)],
    "backup name mover": [(10, 10), (10, 6), (10, 2), (10, 1), (11, 2), (9, 7), (9, 0), (11, 9)],
    "negative name mover": [(10, 7), (11, 10)],
    "s2 inhibition": [(7, 3), (7, 9), (8, 6), (8, 10)],
    "induction": [(5, 5), (5, 8), (5, 9), (6, 9)],
    "duplicate token": [(0, 1), (0, 10), (3, 0)],
    "previous token": [(2, 2), (4, 11)],
}
SEQ_POS_TO_KEEP = {
    "name mover": "end", "backup name mover": "end", "negative name mover": "end", "s2 inhibition": "end",
    "induction": "S2", "duplicate token": "S2", "previous token": "S1+1",
}
# The paper's naive circuit (§4.3; ET's NAIVE, ioi_circuit_extraction.py).
NAIVE = {
    "name mover": [(9, 6), (9, 9), (10, 0)],
    "s2 inhibition": [(7, 3), (7, 9), (8, 6), (8, 10)],
    "induction": [(5, 5), (5, 9)],
    "duplicate token": [(3, 0), (0, 10)],
    "previous token": [(2, 2), (4, 11)],
}

NMS = [(9, 9), (10, 0), (9, 6)]
# ARENA's K_FOR_EACH_COMPONENT (A3 solutions.py).
ARENA_K = {
    (9, 9): [], (10, 0): [(9, 9)], (9, 6): [(9, 9), (10, 0)],
    (10, 7): [(11, 10)], (11, 10): [(10, 7)],
    (8, 10): [(7, 9), (8, 6), (7, 3)], (7, 9): [(8, 10), (8, 6), (7, 3)],
    (8, 6): [(7, 9), (8, 10), (7, 3)], (7, 3): [(7, 9), (8, 10), (8, 6)],
    (5, 5): [(5, 9), (6, 9), (5, 8)], (5, 8): [(11, 10), (10, 7)],
    (5, 9): [(11, 10), (10, 7)], (6, 9): [(5, 9), (5, 5), (5, 8)],
    (0, 1): [(0, 10), (3, 0)], (0, 10): [(0, 1), (3, 0)], (3, 0): [(0, 1), (0, 10)],
    (4, 11): [(2, 2)], (2, 2): [(4, 11)],
    (11, 2): NMS, (10, 6): NMS + [(11, 2)], (10, 10): NMS + [(11, 2), (10, 6)],
    (10, 2): NMS + [(11, 2), (10, 6), (10, 10)], (9, 7): NMS + [(11, 2), (10, 6), (10, 10), (10, 2)],
    (10, 1): NMS + [(11, 2), (10, 6), (10, 10), (10, 2), (9, 7)],
    (11, 9): NMS + [(9, 0)], (9, 0): NMS + [(11, 9)],
}
# The paper's Fig 20 K sets (App K): K u {v} as tabulated; the backup chain in the order the
# table's numbers chain (NMs -> 10.10 -> 10.6 -> 10.2 -> 10.1 -> 11.2 -> 9.7); for 11.9 and 9.0,
# "All name movers and negative heads" = every name mover, backup name mover and negative head.
_chain = [(10, 10), (10, 6), (10, 2), (10, 1), (11, 2), (9, 7)]
_all_movers = NMS + CIRCUIT["backup name mover"] + CIRCUIT["negative name mover"]
PAPER_K = {
    **{v: k for v, k in ARENA_K.items() if v not in CIRCUIT["backup name mover"]},
    (5, 5): [(5, 9), (6, 9), (5, 8)], (6, 9): [(5, 9), (5, 5), (5, 8)],
    **{v: NMS + _chain[:i] for i, v in enumerate(_chain)},
    (11, 9): [h for h in _all_movers if h != (11, 9)], (9, 0): [h for h in _all_movers if h != (9, 0)],
}

MEANS_ROWS = 10  # prompts whose means are stored (they come from groups of 1 to 6 prompts)
# ET's CIRCUIT (ioi_circuit_extraction.py), in its order: the order completeness.py samples nodes from.
ET_CIRCUIT = {
    "name mover": [(9, 9), (10, 0), (9, 6), (10, 10), (10, 6), (10, 2), (10, 1), (11, 2), (9, 7), (9, 0), (11, 9)],
    "negative": [(10, 7), (11, 10)],
    "s2 inhibition": [(7, 3), (7, 9), (8, 6), (8, 10)],
    "induction": [(5, 5), (5, 8), (5, 9), (6, 9)],
    "duplicate token": [(0, 1), (0, 10), (3, 0)],
    "previous token": [(2, 2), (4, 11)],
}
# new_greedy_search(no_runs, no_iters, no_samples), small enough for a test
GREEDY_RUNS, GREEDY_ITERS, GREEDY_SAMPLES, GREEDY_SEED = 3, 5, 4, 0


def label(h) -> str:
    return f"{h[0]}.{h[1]}"


def heads_of(circuit) -> list:
    return [h for hs in circuit.values() for h in hs]


def without(circuit: dict, k) -> dict:
    k = set(k)
    return {c: [h for h in hs if h not in k] for c, hs in circuit.items()}


def compute_means_by_template(model, abc_tokens, groups):
    """ARENA compute_means_by_template: [layer, batch, pos, head, d_head]."""
    _, cache = model.run_with_cache(abc_tokens, return_type=None, names_filter=lambda n: n.endswith("z"))
    n_layers, n_heads, d_head = model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_head
    batch, seq = abc_tokens.shape
    means = torch.zeros(n_layers, batch, seq, n_heads, d_head)
    for layer in range(n_layers):
        z = cache[f"blocks.{layer}.attn.hook_z"]
        for group in groups:
            means[layer, group] = z[group].mean(0)  # [pos, head, d_head], broadcast to the group
    return means


def keep_masks(model, circuit, word_idx, batch, seq, union=False):
    """ARENA get_heads_and_posns_to_keep: layer -> bool [batch, pos, head]."""
    out = {}
    for layer in range(model.cfg.n_layers):
        mask = torch.zeros(batch, seq, model.cfg.n_heads)
        for cls, heads in circuit.items():
            idx = word_idx[SEQ_POS_TO_KEEP[cls]]
            for l, h in heads:
                if l == layer:
                    if union:
                        mask[:, idx, h] = 1
                    else:
                        mask[range(batch), idx, h] = 1
        out[layer] = mask.bool()
    return out


def node_knockout_masks(model, k, word_idx, batch, seq):
    """ET's heads_to_remove = get_heads_from_nodes(K): each head of K ablated at its class's position
    (RELEVANT_TOKENS), prompt by prompt (z[i, heads[(layer, h)][i], :] = mean[i, ...]); all else kept."""
    pos_of = {h: SEQ_POS_TO_KEEP[c] for c, hs in CIRCUIT.items() for h in hs}
    out = {}
    for layer in range(model.cfg.n_layers):
        mask = torch.ones(batch, seq, model.cfg.n_heads)
        for l, h in k:
            if l == layer:
                mask[range(batch), word_idx[pos_of[(l, h)]], h] = 0
        out[layer] = mask.bool()
    return out


def run_masked(model, tokens, masks, means):
    def hook(z, hook):  # ARENA hook_fn_mask_z
        return torch.where(masks[hook.layer()].unsqueeze(-1), z, means[hook.layer()])

    return model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("z"), hook)])


def main() -> int:
    t0 = time.time()
    ver = mg.versions()
    model, flags = mig.load_committed_model()
    tok = mig.load_tokenizer()
    mig.N_PROMPTS = N_PROMPTS
    d = mig.build_data(tok)
    tokens, abc_tokens = d["tokens"], d["abc_tokens"]
    batch, seq = tokens.shape
    template_idx = [p["TEMPLATE_IDX"] for p in d["clean_prompts"]]
    assert template_idx == [p["TEMPLATE_IDX"] for p in d["abc_prompts"]]
    all_ids = np.array(template_idx)
    groups = [np.where(all_ids == i)[0] for i in set(template_idx)]  # ARENA IOIDataset.groups
    print(f"data: {batch} prompts x {seq} tokens, {len(groups)} template groups of sizes "
          f"{sorted(len(g) for g in groups)}")
    word_idx = {"IO": d["IO"], "S1": d["S1"], "S2": d["S2"], "end": d["end"], "S1+1": d["S1"] + 1}

    def ld(logits):
        return mig.logit_diff(logits, d)  # [batch]

    means = compute_means_by_template(model, abc_tokens, groups)
    clean_logits, cache = model.run_with_cache(tokens)
    f_model = ld(clean_logits)
    memo = {}

    def f_circuit(circuit, union=False):
        return ld(run_masked(model, tokens, keep_masks(model, circuit, word_idx, batch, seq, union), means)).mean()

    def f_c_minus(k, circuit=CIRCUIT):
        key = ("C", id(circuit), tuple(sorted(k)))
        if key not in memo:
            memo[key] = f_circuit(without(circuit, k))
        return memo[key]

    def f_m_minus(k):
        key = ("M", tuple(sorted(k)))
        if key not in memo:
            memo[key] = ld(run_masked(model, tokens, node_knockout_masks(model, k, word_idx, batch, seq), means)).mean()
        return memo[key]

    # sanity: knocking nothing out (every mask entry True) is the model
    assert mg.max_abs(f_m_minus([]), f_model.mean()) < 1e-5

    t = {
        "tokens": tokens, "abc_tokens": abc_tokens, "template_idx": torch.tensor(template_idx),
        "word_idx/IO": d["IO"], "word_idx/S1": d["S1"], "word_idx/S2": d["S2"], "word_idx/end": d["end"],
        "io_token_ids": d["io"], "s_token_ids": d["s"],
        # z's d_head basis is not unique after refactor_factored_attn_matrices (an SVD), so the means
        # are compared after W_O: [batch, pos, head_index, d_model], the first MEANS_ROWS prompts (size)
        "means_out/layer_0": torch.einsum("bphd,hdm->bphm", means[0, :MEANS_ROWS], model.W_O[0]),
        "means_out/layer_9": torch.einsum("bphd,hdm->bphm", means[9, :MEANS_ROWS], model.W_O[9]),
        "f_model_per_prompt": f_model, "f_model": f_model.mean().reshape(1),
        "f_circuit": f_circuit(CIRCUIT).reshape(1),
        "f_circuit_union": f_circuit(CIRCUIT, union=True).reshape(1),
        "f_naive": f_circuit(NAIVE).reshape(1),
    }
    print(f"F(M) {t['f_model'].item():.5f}, F(C) {t['f_circuit'].item():.5f} (union {t['f_circuit_union'].item():.5f}),"
          f" F(naive) {t['f_naive'].item():.5f}")

    # ---- completeness points for fixed K sets ----------------------------------------------------
    rng = random.Random(0)
    circuit_heads = heads_of(CIRCUIT)
    k_sets = [("empty", [])] + [(c, hs) for c, hs in CIRCUIT.items()]
    k_sets += [("random 1", sorted(rng.sample(circuit_heads, 5))), ("random 2", sorted(rng.sample(circuit_heads, 11)))]
    t["completeness/f_c_minus_k"] = torch.stack([f_c_minus(k) for _, k in k_sets])
    t["completeness/f_m_minus_k"] = torch.stack([f_m_minus(k) for _, k in k_sets])
    naive_sets = [("empty", [])] + [(c, hs) for c, hs in NAIVE.items()]
    t["completeness_naive/f_c_minus_k"] = torch.stack([f_c_minus(k, NAIVE) for _, k in naive_sets])
    t["completeness_naive/f_m_minus_k"] = torch.stack([f_m_minus(k) for _, k in naive_sets])

    # ---- minimality ------------------------------------------------------------------------------
    for name, ks in (("arena", ARENA_K), ("paper", PAPER_K)):
        assert set(ks) == set(circuit_heads) and all(v not in k for v, k in ks.items())
        with_v = torch.stack([f_c_minus(ks[v] + [v]) for v in circuit_heads])
        without_v = torch.stack([f_c_minus(ks[v]) for v in circuit_heads])
        t[f"minimality_{name}/f_c_minus_k_v"] = with_v
        t[f"minimality_{name}/f_c_minus_k"] = without_v
        t[f"minimality_{name}/score"] = (with_v - without_v).abs()

    # ---- greedy search: ET completeness.py new_greedy_search, literally (seeded per run) ----------
    all_circuit_nodes = heads_of(ET_CIRCUIT)  # get_all_nodes(circuit), heads only

    def circuit_eval(nodes):  # C \ nodes
        return f_c_minus(nodes)

    def cobble_eval(nodes):  # M \ nodes
        return f_m_minus(nodes)

    def new_greedy_search(seed):
        all_sets = [{"circuit_nodes": [], "removed_nodes": []}]  # not mantained (ET's comment)
        baseline = (circuit_eval([]) - cobble_eval([])).abs()
        greedy_steps, greedy_runs, margins, n_rejected = [], [], [], 0
        for run in range(GREEDY_RUNS):
            random.seed(seed + run)
            C_minus_G = list(all_circuit_nodes)
            G = []
            old_diff = baseline.clone()
            for it in range(GREEDY_ITERS):
                to_test = random.sample(C_minus_G, min(GREEDY_SAMPLES, len(C_minus_G)))
                cevals, mevals, results = [], [], []
                for node in to_test:
                    G_plus_node = list(G) + [node]
                    cevals.append(circuit_eval(G_plus_node).item())
                    mevals.append(cobble_eval(G_plus_node).item())
                    results.append(abs(cevals[-1] - mevals[-1]))
                best_node_idx = int(np.argmax(results))
                max_diff = results[best_node_idx]
                srt = sorted(results)
                margins += [srt[-1] - srt[-2], abs(max_diff - float(old_diff))]
                accepted = bool(max_diff > old_diff)
                if accepted:
                    best_node = to_test[best_node_idx]
                    C_minus_G.remove(best_node)
                    G.append(best_node)
                    old_diff = max_diff
                    all_sets.append({"circuit_nodes": list(C_minus_G), "removed_nodes": list(G),
                                     "ceval": cevals[best_node_idx], "meval": mevals[best_node_idx]})
                else:
                    n_rejected += 1
                greedy_steps.append({"run": run, "step": it + 1, "to_test": [label(h) for h in to_test],
                                     "best": label(to_test[best_node_idx]), "accepted": accepted,
                                     "K": [label(h) for h in G]})
            greedy_runs.append({"result": float(old_diff), "best set": [label(h) for h in all_sets[-1]["removed_nodes"]],
                                # ET raises KeyError when the first run accepts nothing; the point is then K = {}
                                "ceval": all_sets[-1].get("ceval", circuit_eval([]).item()),
                                "meval": all_sets[-1].get("meval", cobble_eval([]).item())})
        return greedy_steps, greedy_runs, min(margins), n_rejected

    # the first seed whose argmaxes and acceptances are decided by more than 2e-4 (twice the Java
    # test tolerance on F; Java and TL agree to ~1e-6 here), and that rejects some candidate
    for greedy_seed in range(GREEDY_SEED, GREEDY_SEED + 50):
        greedy_steps, greedy_runs, margin, n_rejected = new_greedy_search(greedy_seed)
        print(f"greedy seed {greedy_seed}: smallest margin {margin:.2e}, {n_rejected} rejected", flush=True)
        if margin > 2e-4 and n_rejected > 0:
            break
    else:
        raise AssertionError("no seed gives a greedy search decided by more than 2e-4")
    print(f"greedy: seed {greedy_seed}, {n_rejected} of {len(greedy_steps)} steps rejected; runs:", greedy_runs)
    t["greedy_paper/points"] = torch.tensor([[r["ceval"], r["meval"]] for r in greedy_runs])  # [runs, 2]
    t["greedy_paper/results"] = torch.tensor([r["result"] for r in greedy_runs])

    # ---- ablating the top name mover at END by its ABC template mean (ARENA) ----------------------
    head_stack, _ = cache.stack_head_results(layer=-1, return_labels=True)
    dla = mig.per_prompt_logit_attrs(cache, mig.at_end(head_stack, d), d).mean(1).reshape(12, 12)
    top = int(dla.flatten().argmax())
    ar = torch.arange(batch)

    def ablate_9_9(z, hook):
        z[ar, d["end"], 9] = means[9][ar, d["end"], 9]
        return z

    model.add_hook("blocks.9.attn.hook_z", ablate_9_9)
    abl_logits, abl_cache = model.run_with_cache(tokens)
    model.reset_hooks()
    scale = cache["ln_final.hook_scale"][ar, d["end"], 0]
    abl_scale = abl_cache["ln_final.hook_scale"][ar, d["end"], 0]
    orig = f_model.mean()
    t.update({
        "dla_head": dla, "top_head/argmax": torch.tensor([top // 12, top % 12]),
        "top_head_9_9/values": torch.stack([orig, dla[9, 9], orig - dla[9, 9], ld(abl_logits).mean(),
                                            (abl_scale / scale).mean()]),
    })
    print("top head by DLA:", label((top // 12, top % 12)), "9.9:", t["top_head_9_9/values"].tolist())

    meta = {
        **ver,
        "generator": "tools/goldens/make_ioi_ablation_goldens.py",
        "model": "ioi-gpt2", "flags": json.dumps(flags), "fixture": mig.FIXTURE, "n_prompts": batch,
        "flip": mig.FLIP, "prepend_bos": "true",
        "clean_prompts": json.dumps([p["text"] for p in d["clean_prompts"]]),
        "groups": json.dumps([g.tolist() for g in groups]),
        "circuit": json.dumps({c: [label(h) for h in hs] for c, hs in CIRCUIT.items()}),
        "circuit_heads": json.dumps([label(h) for h in circuit_heads]),
        "completeness/k_names": json.dumps([n for n, _ in k_sets]),
        "completeness/k_sets": json.dumps([[label(h) for h in k] for _, k in k_sets]),
        "completeness_naive/k_names": json.dumps([n for n, _ in naive_sets]),
        "greedy_paper/options": json.dumps({"no_runs": GREEDY_RUNS, "no_iters": GREEDY_ITERS,
                                            "no_samples": GREEDY_SAMPLES, "seed": greedy_seed,
                                            "circuit": "ET CIRCUIT order", "seeding": "random.seed(seed + run)"}),
        "greedy_paper/steps": json.dumps(greedy_steps),
        "greedy_paper/runs": json.dumps(greedy_runs),
        "minimality/order": "circuit_heads",
        "top_head_9_9/values": "[original logit diff, DLA of 9.9, original - DLA, logit diff with 9.9 at END "
                               "replaced by its ABC template mean, mean over prompts of ln_final scale ablated/original "
                               "at END]",
        "means": "means_out/layer_L = compute_means_by_template(abc)[L] through W_O[L] per head, first "
                 f"{MEANS_ROWS} prompts, [{MEANS_ROWS}, pos, head_index, d_model] (z's d_head basis depends on the refactoring's SVD)",
        "f": "mean over prompts of logit[IO] - logit[S] at END; F(C) keeps mask[range(batch), word_idx[pos], head] "
             "(ARENA 3.0 solutions), f_circuit_union mask[:, word_idx[pos], head] (the provided file); "
             "F(M \\ K) ablates K's heads at their class positions only (ET completeness.py)",
    }
    clean_t = mig.write_goldens(GOLDEN_PATH, t, meta)
    print(f"wrote {GOLDEN_PATH.relative_to(mig.REPO)} ({GOLDEN_PATH.stat().st_size} bytes, {len(clean_t)} tensors) "
          f"in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
