#!/usr/bin/env bash
# Java (./ioi bench) vs TransformerLens (tools/goldens/bench_tl.py): same checkpoint, batch, length,
# threads; prints tokens/s and peak RSS side by side. See docs/benchmarks.md.
#   tools/bench/compare.sh [--model DIR] [--batch 8] [--pos 64] [--threads 2] [--runs 10] [--warmup 2] [--out-dir DIR]
#   tools/bench/compare.sh --report-only --out-dir DIR    # only print the tables of DIR/tl.json and DIR/java.json
# Env: TL_PYTHON (a python with tools/goldens/requirements.txt installed; default python3), IOI_JVM_OPTS (JVM options),
#      IOI_JAR (benchmark this jar instead of building through ./ioi).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODEL=/tmp/gpt2-random BATCH=8 POS=64 THREADS=2 RUNS=10 WARMUP=2 OUT="" REPORT_ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --report-only) REPORT_ONLY=1; shift; continue ;;
    --model) MODEL="$2" ;; --batch) BATCH="$2" ;; --pos) POS="$2" ;; --threads) THREADS="$2" ;;
    --runs) RUNS="$2" ;; --warmup) WARMUP="$2" ;; --out-dir) OUT="$2" ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
PY="${TL_PYTHON:-python3}"
OUT="${OUT:-$(mktemp -d /tmp/ioi-bench.XXXXXX)}"
mkdir -p "$OUT"
if [[ -z "$REPORT_ONLY" ]]; then
  if [[ ! -f "$MODEL/model.safetensors" ]]; then
    echo "compare.sh: writing a random GPT-2-small checkpoint to $MODEL" >&2
    "$PY" "$ROOT/tools/goldens/bench_tl.py" --write-model "$MODEL" --no-bench
  fi
  common=(--model "$MODEL" --batch "$BATCH" --threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP")
  echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  "$PY" "$ROOT/tools/goldens/bench_tl.py" "${common[@]}" --seq "$POS" --out "$OUT/tl.json" >/dev/null
  if [[ -n "${IOI_JAR:-}" ]]; then
    OPT_OUT_TRACKING=true RUST_FLAVOR=cpu java ${IOI_JVM_OPTS:--Xmx8g} -jar "$IOI_JAR" bench "${common[@]}" --pos "$POS" --out "$OUT/java.json" >/dev/null
  else
    "$ROOT/ioi" bench "${common[@]}" --pos "$POS" --out "$OUT/java.json" >/dev/null
  fi
  echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
fi

"$PY" - "$OUT/tl.json" "$OUT/java.json" <<'PYEOF' | tee "$OUT/table.md"
import json, sys
tl, jv = (json.load(open(p)) for p in sys.argv[1:3])
T, J = tl["results"], jv["results"]
def f(x, d=0): return "n/a" if x is None else f"{x:,.{d}f}"
def ratio(a, b): return "n/a" if a is None or not b else f"{a / b:.2f}"
def get(r, k): return None if r is None or "error" in r else r.get(k)
def rng(r): return "" if get(r, "min_s") is None else f" ({f(r['tokens_per_s']*r['median_s']/r['max_s'])}-{f(r['tokens_per_s']*r['median_s']/r['min_s'])})"
print(f"{jv['cpu_model']}, {jv['threads']} threads, batch {jv['batch']} x pos {jv['seq']}, "
      f"median of {jv['runs']} runs after {jv['warmup']} warm-up; loadavg TL {tl['loadavg_start'][0]:.2f}-{tl['loadavg_end'][0]:.2f}, "
      f"Java {jv['loadavg_start'][0]:.2f}-{jv['loadavg_end'][0]:.2f}\n")
print("| mode | TL tok/s, no grad (min-max) | TL tok/s, grad (TL default) | Java tok/s (min-max) | Java/TL no grad | Java/TL grad |")
print("| --- | --- | --- | --- | --- | --- |")
for m in ("forward", "cache"):
    a, b, j = T.get(m + "_nograd"), T.get(m + "_grad"), J.get(m)
    print(f"| {m} | {f(get(a,'tokens_per_s'))}{rng(a)} | {f(get(b,'tokens_per_s'))}{rng(b)} | {f(get(j,'tokens_per_s'))}{rng(j)} "
          f"| {ratio(get(j,'tokens_per_s'), get(a,'tokens_per_s'))} | {ratio(get(j,'tokens_per_s'), get(b,'tokens_per_s'))} |")
print("\n| mode | TL peak RSS MiB, no grad | TL peak RSS, grad | Java peak RSS | Java/TL no grad | Java/TL grad | TL RSS after load | Java RSS after load |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for m in ("forward", "cache"):
    a, b, j = T.get(m + "_nograd"), T.get(m + "_grad"), J.get(m)
    k = "peak_rss_run_mib"
    print(f"| {m} | {f(get(a,k))} | {f(get(b,k))} | {f(get(j,k))} | {ratio(get(j,k), get(a,k))} | {ratio(get(j,k), get(b,k))} "
          f"| {f(get(a,'rss_after_load_mib'))} | {f(get(j,'rss_after_load_mib'))} |")
PYEOF
echo "JSON and table: $OUT" >&2
