#!/usr/bin/env bash
# Re-running a middle cell leaks nothing: notebook 02's cache-and-attribution cell run 20 more times in
# one kernel, native memory flat and the rest of the notebook still runs (tools/env/rerun_cells.py says
# how it is measured). What `./ioi test` calls after the notebooks.
#
#   tools/env/test_rerun.sh [NOTEBOOK CELL]
#
# Environment: IOI_TEST_CHECKPOINT as in tools/env/test_notebooks.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHECKPOINT="${IOI_TEST_CHECKPOINT:-$ROOT/kernel-lib/src/test/resources/ioi-gpt2}"
MODEL_DIR="$ROOT/target/notebook-tests/$(basename "$CHECKPOINT")"
NOTEBOOK="${1:-$ROOT/notebooks/02_name_movers.ipynb}"
CELL="${2:-}"

"$ROOT/tools/env/test_checkpoint.sh" "$MODEL_DIR"
prefix="$("$ROOT/tools/env/setup.sh")"
if [[ -z "$CELL" ]]; then
  # The cell that makes the notebook's cache (var cache = model.runWithCache(...)): found by its text,
  # so that editing the notebook above it does not silently point the test at another cell.
  CELL="$("$prefix/bin/python" - "$NOTEBOOK" <<'PY'
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
hits = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "var cache = model.runWithCache(" in c.source]
if not hits:
    sys.exit(f"test_rerun: no cell of {sys.argv[1]} has 'var cache = model.runWithCache('")
print(hits[0])
PY
)"
fi
cd "$ROOT/notebooks"
IOI_MODEL="$MODEL_DIR" "$prefix/bin/python" "$ROOT/tools/env/rerun_cells.py" "$NOTEBOOK" "$CELL" --repeats 20
