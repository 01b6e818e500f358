#!/usr/bin/env bash
# The launcher's own behaviour, which no JUnit test reaches (`./ioi test` runs this; about 30 s):
#   - `./ioi run NAME` finds notebooks/NAME(.ipynb); a wrong name lists the notebooks there;
#   - `./ioi lab` on a taken port fails before starting, naming the port, instead of printing a URL
#     that reaches whatever holds it; bad --port values are refused;
#   - `./ioi lab --ip 0.0.0.0` prints a URL for this machine and one for others, both with the token;
#   - `./ioi lab --exercises` copies the exercise notebooks into the learner's directory, keeping their files;
#   - IOI_JAVA_OPTS (the old name) still works, with a message that it is IOI_JVM_OPTS now.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
T="$ROOT/target/launcher-test"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
rm -rf "$T" && mkdir -p "$T"
prefix="$("$ROOT/tools/env/setup.sh" 2>/dev/null)"
PY="$prefix/bin/python"

# ---------------------------------------------------------------- run: notebook names
rc=0; "$ROOT/ioi" run --out "$T/run" no_such_notebook >"$T/run-bad.log" 2>&1 || rc=$?
if [[ $rc -eq 2 ]] && grep -q "no such notebook: no_such_notebook" "$T/run-bad.log" \
   && grep -q "00_smoke.ipynb" "$T/run-bad.log"; then ok "run: a wrong name is refused and the notebooks are listed"
else bad "run: wrong name (exit $rc): $(cat "$T/run-bad.log")"; fi
"$PY" - "$ROOT" <<'PY' && ok "run: '00_smoke' and '00_smoke.ipynb' mean notebooks/00_smoke.ipynb" || bad "run: name lookup"
import sys
sys.path.insert(0, sys.argv[1] + "/tools/env")
import run_notebooks as r
want = (r.ROOT / "notebooks" / "00_smoke.ipynb").resolve()
assert r.find_notebook("00_smoke") == want, r.find_notebook("00_smoke")
assert r.find_notebook("00_smoke.ipynb") == want
assert r.find_notebook(str(want)) == want
assert r.find_notebook("nope") is None
PY

# ---------------------------------------------------------------- lab: ports and addresses
port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$PY" -c "import socket, time; s=socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(60)" &
holder=$!
sleep 1
rc=0; timeout 60 "$ROOT/ioi" lab --port "$port" >"$T/lab-taken.log" 2>&1 || rc=$?
kill "$holder" 2>/dev/null || true
if [[ $rc -eq 2 ]] && grep -q "port $port on 127.0.0.1 is taken" "$T/lab-taken.log" && ! grep -q "token=" "$T/lab-taken.log"; then
  ok "lab: a taken port is refused before JupyterLab starts, with no URL printed"
else bad "lab: taken port (exit $rc): $(cat "$T/lab-taken.log")"; fi
rc=0; "$ROOT/ioi" lab --port 99999 >"$T/lab-badport.log" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && grep -q "not a port number" "$T/lab-badport.log" && ok "lab: --port 99999 is refused" \
  || bad "lab: bad port (exit $rc): $(cat "$T/lab-badport.log")"

port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
JUPYTER_TOKEN=launchertest timeout 20 "$ROOT/ioi" lab --ip 0.0.0.0 --port "$port" >"$T/lab-all.log" 2>&1 || true
if grep -q "on this machine:  http://127.0.0.1:$port/lab?token=launchertest" "$T/lab-all.log" \
   && grep -q "from elsewhere:   http://.*:$port/lab?token=launchertest" "$T/lab-all.log"; then
  ok "lab --ip 0.0.0.0: URLs for this machine and for others"
else bad "lab --ip 0.0.0.0: $(head -5 "$T/lab-all.log")"; fi

# ---------------------------------------------------------------- lab --exercises: the learner's own copy
# The copy is made before the port check, so a taken port stops JupyterLab after it: the copy is all we look at.
mine="$T/my-exercises"; mkdir -p "$mine"
echo '{"learner": "my work"}' > "$mine/01_setup_and_task.ipynb"
port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$PY" -c "import socket, time; s=socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(60)" &
holder=$!
sleep 1
rc=0; IOI_EXERCISES_DIR="$mine" timeout 60 "$ROOT/ioi" lab --exercises --port "$port" >"$T/lab-ex.log" 2>&1 || rc=$?
kill "$holder" 2>/dev/null || true
copied=0; for nb in "$ROOT"/notebooks/exercises/*.ipynb; do [[ -f "$mine/$(basename "$nb")" ]] && copied=$((copied + 1)); done
total="$(ls "$ROOT"/notebooks/exercises/*.ipynb | wc -l)"
if [[ $copied -eq $total && $total -gt 0 ]] && grep -q '"learner": "my work"' "$mine/01_setup_and_task.ipynb" \
   && grep -q "keeping your $mine/01_setup_and_task.ipynb" "$T/lab-ex.log" \
   && cmp -s "$ROOT/notebooks/exercises/02_name_movers.ipynb" "$mine/02_name_movers.ipynb"; then
  ok "lab --exercises: every exercise notebook copied into IOI_EXERCISES_DIR, the learner's own file kept"
else bad "lab --exercises ($copied of $total copied, exit $rc): $(cat "$T/lab-ex.log")"; fi

# ---------------------------------------------------------------- IOI_JAVA_OPTS -> IOI_JVM_OPTS
rc=0; IOI_JAVA_OPTS=-Xmx1g "$ROOT/ioi" dataset --prompt-type ABBA --n 1 --seed 1 >"$T/opts.out" 2>"$T/opts.err" || rc=$?
[[ $rc -eq 0 ]] && grep -q "IOI_JAVA_OPTS is now IOI_JVM_OPTS" "$T/opts.err" && ok "IOI_JAVA_OPTS still works, and says it is IOI_JVM_OPTS now" \
  || bad "IOI_JAVA_OPTS (exit $rc): $(cat "$T/opts.err")"

echo "launcher: $fails failed"
[[ $fails -eq 0 ]]
