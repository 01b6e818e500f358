"""Writes reference_vectors.json: test vectors for ioi.data.IOIDataset produced by the reference code.

Not part of the build. It imports the reference implementations themselves, unmodified except for
dropping unused plotting/progress imports from the paper's file:
  - ARENA 3.0 `ioi_dataset.py` (magazine233/ARENA_3.0 @ ac341fda, chapter1_transformer_interp/exercises/
    part41_indirect_object_identification/ioi_dataset.py) importable as `a3`;
  - Easy-Transformer `easy_transformer/ioi_dataset.py` (redwoodresearch/Easy-Transformer @ ea15315d)
    importable as `et` (only its module function `gen_flipped_prompts` and `flip_prefixes` are used).
Run with numpy 1.26, torch, transformers and CPython 3.11:
  PYTHONPATH=DIR_WITH_a3_AND_et python tools/goldens/make_ioi_reference_vectors.py \
      kernel-lib/src/main/resources/ioi/lens/gpt2-tokenizer \
      > kernel-lib/src/test/resources/ioi/data/reference_vectors.json

Paper (tuple) flips are seeded the way ioi.data.PaperFlip documents: random and np.random are both seeded
with seed + sum(map(ord, "".join(flip))) (ARENA's seed rule; the paper's code does not seed).
"""
import json
import random
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
from transformers import GPT2TokenizerFast  # noqa: E402

import a3  # noqa: E402
import et  # noqa: E402

tok = GPT2TokenizerFast.from_pretrained(sys.argv[1])
tok.pad_token = tok.eos_token


def prompts_of(ds):
    return [{k: p[k] for k in ("text", "IO", "S", "TEMPLATE_IDX")} for p in ds.ioi_prompts]


def describe(ds, name, args, flips=(), tokenized=False):
    out = {
        "name": name,
        "args": args,
        "flips": list(flips),
        "seed": ds.seed,
        "templates": ds.templates,
        "prompts": prompts_of(ds),
        "templates_by_prompt": ds.templates_by_prompt,
        "toks": ds.toks.tolist(),
        "word_idx": {k: v.tolist() for k, v in ds.word_idx.items()},
        "io_tokenIDs": [int(x) for x in ds.io_tokenIDs],
        "s_tokenIDs": [int(x) for x in ds.s_tokenIDs],
        "max_len": ds.max_len,
        "groups": [g.tolist() for g in ds.groups],
    }
    if tokenized:
        out["tokenized_prompts"] = ds.tokenized_prompts
    return out


def make(**args):
    kw = dict(args)
    kw["tokenizer"] = tok
    kw["device"] = "cpu"
    return a3.IOIDataset(**kw)


def paper_flip(ds, flip):
    seed = ds.seed + sum(map(ord, list("".join(flip))))
    random.seed(seed)
    np.random.seed(seed)
    if flip == "prefix":
        flipped = et.flip_prefixes(ds.ioi_prompts)
    else:
        flipped = et.gen_flipped_prompts(ds.ioi_prompts, a3.NAMES, flip)
    return a3.IOIDataset(prompt_type=ds.prompt_type, N=ds.N, tokenizer=tok, prompts=flipped,
                         prepend_bos=ds.prepend_bos, manual_word_idx=ds.word_idx, has_been_flipped=True,
                         seed=seed, device="cpu")


datasets = []
plain = [
    ("mixed_N8_seed123", dict(prompt_type="mixed", N=8, seed=123, prepend_bos=False), True),
    ("mixed_N8_seed123_bos", dict(prompt_type="mixed", N=8, seed=123, prepend_bos=True), True),
    ("mixed_N50_seed0", dict(prompt_type="mixed", N=50, seed=0, prepend_bos=False), False),
    ("ABBA_N20_seed7_bos", dict(prompt_type="ABBA", N=20, seed=7, prepend_bos=True), False),
    ("BABA_N20_seed3", dict(prompt_type="BABA", N=20, seed=3, prepend_bos=False), False),
    ("ABC_N10_seed5", dict(prompt_type="ABC", N=10, seed=5), False),
    ("BAC_N10_seed5_bos", dict(prompt_type="BAC", N=10, seed=5, prepend_bos=True), False),
    ("ABC_mixed_N12_seed11", dict(prompt_type="ABC mixed", N=12, seed=11), False),
    ("mixed_N10_seed2_symmetric", dict(prompt_type="mixed", N=10, seed=2, symmetric=True), False),
    ("mixed_N12_seed9_nb4", dict(prompt_type="mixed", N=12, seed=9, nb_templates=4), False),
    ("BABA_N6_seed1_nb3", dict(prompt_type="BABA", N=6, seed=1, nb_templates=3), False),
    ("ABBA_N4_seed0_groups", dict(prompt_type="ABBA", N=4, seed=0), False),
    ("mixed_N2_seed0_groups", dict(prompt_type="mixed", N=2, seed=0), False),
    ("custom_N6_seed4", dict(prompt_type=[a3.BABA_TEMPLATES[0], a3.ABBA_TEMPLATES[2], a3.BABA_TEMPLATES[0]],
                             N=6, seed=4), False),
]
for name, args, tokenized in plain:
    datasets.append(describe(make(**args), name, args, tokenized=tokenized))

arena_chains = [
    ("mixed_N8_seed123", ["ABB->XYZ, BAB->XYZ"]),
    ("mixed_N8_seed123_bos", ["ABB->CDD, BAB->DCD", "ABB->BAA, BAB->ABA"]),
    ("ABBA_N20_seed7_bos", [" ABB -> QQR ,BAB->rQq "]),
    ("ABC_N10_seed5", ["ABB->XYZ, BAB->XYZ"]),
]
args_by_name = {n: a for n, a, _ in plain}
for base, chain in arena_chains:
    ds = make(**args_by_name[base])
    for f in chain:
        ds = ds.gen_flipped_prompts(f)
    datasets.append(describe(ds, base + " | " + " | ".join(chain), args_by_name[base], flips=chain))

paper_chains = [
    ("mixed_N8_seed123", [("IO", "RAND")]),
    ("mixed_N8_seed123", [("S", "RAND")]),
    ("mixed_N8_seed123", [("S1", "RAND")]),
    ("mixed_N8_seed123", [("S2", "RAND")]),
    ("mixed_N8_seed123", [("S+1", "RAND")]),
    ("mixed_N8_seed123", [("S2", "IO")]),
    ("mixed_N8_seed123", [("IO", "S1")]),
    ("mixed_N8_seed123", ["prefix"]),
    ("mixed_N50_seed0", [("IO", "RAND"), ("S", "RAND"), ("S1", "RAND")]),
    ("BABA_N20_seed3", ["prefix"]),
    ("BABA_N20_seed3", [("S+1", "RAND")]),
]
for base, chain in paper_chains:
    ds = make(**args_by_name[base])
    for f in chain:
        ds = paper_flip(ds, f)
    datasets.append(describe(ds, base + " | paper " + " | ".join(map(str, chain)), args_by_name[base],
                             flips=[list(f) if isinstance(f, tuple) else f for f in chain]))

# The paper's 99 names: the module NAMES swapped for ET's list.
saved = a3.NAMES
a3.NAMES = et.NAMES
args = dict(prompt_type="mixed", N=6, seed=1)
ds = make(**args)
d = describe(ds, "mixed_N6_seed1_paper_names", dict(args, names="paper"))
ds = ds.gen_flipped_prompts("ABB->XYZ, BAB->XYZ")
d2 = describe(ds, "mixed_N6_seed1_paper_names | ABB->XYZ, BAB->XYZ", dict(args, names="paper"),
              flips=["ABB->XYZ, BAB->XYZ"])
a3.NAMES = saved
datasets += [d, d2]

print(json.dumps({
    "derived_templates": {
        "ABBA_TEMPLATES": a3.ABBA_TEMPLATES,
        "ABBA_LATE_IOS": a3.ABBA_LATE_IOS,
        "ABBA_EARLY_IOS": a3.ABBA_EARLY_IOS,
        "BAC_TEMPLATES": a3.BAC_TEMPLATES,
    },
    "datasets": datasets,
}, indent=None, separators=(",", ":")))
