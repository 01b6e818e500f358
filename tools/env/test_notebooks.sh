#!/usr/bin/env bash
# Executes every notebook headlessly on a small checkpoint and fails on any error: what `./ioi test`
# is to call for the notebooks. Set-up (idempotent), a checkpoint directory assembled under target/,
# `./ioi run --model DIR`, then a check of each executed notebook: no error output, every code cell run.
#
#   tools/env/test_notebooks.sh [NOTEBOOK...]
#
# Environment: IOI_TEST_CHECKPOINT (a dir with config.json + model.safetensors; default the tests'
# 12-layer x 12-head random GPT-2 of the experiment goldens, kernel-lib/src/test/resources/ioi-gpt2,
# so the paper's head indices exist), IOI_TEST_OUT (default target/notebook-tests/out). The checkpoint
# gets GPT-2's tokenizer.json, the one bundled in the library (kernel-lib/src/main/resources/ioi/lens/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHECKPOINT="${IOI_TEST_CHECKPOINT:-$ROOT/kernel-lib/src/test/resources/ioi-gpt2}"
MODEL_DIR="$ROOT/target/notebook-tests/$(basename "$CHECKPOINT")"
OUT="${IOI_TEST_OUT:-$ROOT/target/notebook-tests/out}"

"$ROOT/tools/env/test_checkpoint.sh" "$MODEL_DIR"
prefix="$("$ROOT/tools/env/setup.sh")"
rm -rf "$OUT"

rc=0
"$ROOT/ioi" run --model "$MODEL_DIR" --out "$OUT" "$@" || rc=$?

"$prefix/bin/python" - "$OUT" "$rc" <<'PY'
import json, sys
from pathlib import Path
import nbformat
out, rc = Path(sys.argv[1]), int(sys.argv[2])
summary_file = out / "summary.json"
if not summary_file.is_file():
    print(f"test_notebooks: no {summary_file} (./ioi run exited {rc})")
    print("0 passed, 1 failed")
    sys.exit(1)
passed = failed = 0
for r in json.loads(summary_file.read_text())["notebooks"]:
    nb = nbformat.read(out / r["ipynb"], as_version=4)
    problems = []
    tables = charts = 0  # what the notebook displayed, by MIME type
    if r["status"] != "ok":
        problems.append(f"{r['status']}: {r['error']}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.execution_count is None and "skip-execution" not in cell.metadata.get("tags", []):
            problems.append(f"cell {i} did not run")
        for o in cell.get("outputs", []):
            if o.output_type == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                problems.append(f"cell {i}: {o.ename}: {o.evalue[:200]}")
            data = o.get("data", {})
            charts += "application/vnd.plotly.v1+json" in data
            tables += "<table" in str(data.get("text/html", ""))
    # Every notebook shows its results as tables and charts (issue: "checks that each notebook produced
    # its tables and charts (by MIME type)"): a run that silently printed text instead fails here.
    if r["status"] == "ok" and tables == 0:
        problems.append("no table (text/html with a <table>) in any output")
    if r["status"] == "ok" and charts == 0:
        problems.append("no chart (application/vnd.plotly.v1+json) in any output")
    if problems:
        failed += 1
        print(f"FAIL {r['notebook']}: " + "; ".join(dict.fromkeys(problems)))
    else:
        passed += 1
        print(f"ok   {r['notebook']} ({r['seconds']} s; {tables} tables, {charts} charts)")
print(f"notebooks: {passed} passed, {failed} failed")
sys.exit(1 if failed or rc else 0)
PY
