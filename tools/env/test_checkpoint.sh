#!/usr/bin/env bash
# The tests' checkpoint as a model directory, for the scripts that run notebooks on it (test_notebooks,
# test_exercises, test_docker): config.json + model.safetensors of IOI_TEST_CHECKPOINT (default the 12-layer
# x 12-head random GPT-2 of the experiment goldens, kernel-lib/src/test/resources/ioi-gpt2, so the paper's head
# indices exist) and GPT-2's tokenizer.json as bundled in the library, copied into DIR (emptied first).
#
#   tools/env/test_checkpoint.sh DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHECKPOINT="${IOI_TEST_CHECKPOINT:-$ROOT/kernel-lib/src/test/resources/ioi-gpt2}"
TOKENIZER="$ROOT/kernel-lib/src/main/resources/ioi/lens/gpt2-tokenizer/tokenizer.json"
[[ $# -eq 1 ]] || { echo "usage: tools/env/test_checkpoint.sh DIR" >&2; exit 2; }
for f in "$CHECKPOINT/config.json" "$CHECKPOINT/model.safetensors" "$TOKENIZER"; do
  [[ -f "$f" ]] || { echo "test_checkpoint: missing $f" >&2; exit 2; }
done
rm -rf "$1"
mkdir -p "$1"
cp "$CHECKPOINT/config.json" "$CHECKPOINT/model.safetensors" "$TOKENIZER" "$1/"
