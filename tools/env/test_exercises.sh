#!/usr/bin/env bash
# The exercise notebooks in ./ioi test: the learner's copies match their solved notebooks, and
# `./ioi exercises --check` on the tests' 12 x 12 random checkpoint (the one tools/env/test_notebooks.sh
# uses): every check catches the stub and passes with the solution.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHECKPOINT="${IOI_TEST_CHECKPOINT:-$ROOT/kernel-lib/src/test/resources/ioi-gpt2}"
TOKENIZER="$ROOT/kernel-lib/src/main/resources/ioi/lens/gpt2-tokenizer/tokenizer.json"
MODEL_DIR="$ROOT/target/exercise-tests/$(basename "$CHECKPOINT")"
OUT="${IOI_TEST_OUT:-$ROOT/target/exercise-tests/out}"

"$ROOT/ioi" exercises --verify
rm -rf "$MODEL_DIR" "$OUT"
mkdir -p "$MODEL_DIR"
cp "$CHECKPOINT/config.json" "$CHECKPOINT/model.safetensors" "$TOKENIZER" "$MODEL_DIR/"
"$ROOT/ioi" exercises --check --model "$MODEL_DIR" --out "$OUT"
