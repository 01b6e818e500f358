#!/usr/bin/env bash
# The exercise notebooks in ./ioi test: `./ioi exercises --check` (which first fails if the learner's copies
# drifted from their solved notebooks) on the tests' checkpoint (tools/env/test_checkpoint.sh): every check
# catches the stub and passes with the solution.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHECKPOINT="${IOI_TEST_CHECKPOINT:-$ROOT/kernel-lib/src/test/resources/ioi-gpt2}"
MODEL_DIR="$ROOT/target/exercise-tests/$(basename "$CHECKPOINT")"
OUT="${IOI_TEST_OUT:-$ROOT/target/exercise-tests/out}"

"$ROOT/tools/env/test_checkpoint.sh" "$MODEL_DIR"
rm -rf "$OUT"
"$ROOT/ioi" exercises --check --model "$MODEL_DIR" --out "$OUT"
