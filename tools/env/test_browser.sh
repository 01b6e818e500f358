#!/usr/bin/env bash
# The browser test of the notebook workflow, after tools/env/test_notebooks.sh in `./ioi test`: starts
# JupyterLab on 127.0.0.1 (random free port, random token, no kernel), opens every executed notebook
# of the notebook test in headless Chromium (Debian's chromium, driven by playwright-core from npm) and
# checks that its Plotly charts, styled tables and attention views are rendered
# (tools/browser/check_notebooks.mjs). Screenshots: target/browser/<notebook>.png.
#
#   tools/env/test_browser.sh [NOTEBOOK.ipynb...]      (default: every executed notebook)
#
# Installs Debian's chromium with apt-get if /usr/bin/chromium is missing (as root; CI runs as root).
# Runs tools/env/test_notebooks.sh first if there are no executed notebooks yet. Exit status: 0 if
# every notebook passed, 1 if one failed, 2 if the test could not run.
#
# Environment: IOI_TEST_OUT (the executed notebooks, default target/notebook-tests/out, as in
# test_notebooks.sh), IOI_CHROMIUM (another Chromium binary; never installed), IOI_BROWSER_TIMEOUT
# (seconds per notebook, default 90).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NB_OUT="${IOI_TEST_OUT:-$ROOT/target/notebook-tests/out}"
OUT="$ROOT/target/browser"
LAB="$OUT/.lab"        # the server's scratch: served copies, Jupyter config/data/runtime, settings
CHROMIUM="${IOI_CHROMIUM:-/usr/bin/chromium}"
started=$SECONDS

log() { echo "test_browser: $*" >&2; }
die() { echo "test_browser: error: $*" >&2; echo "browser: 0 passed, 1 failed"; exit 2; }

# ---------------------------------------------------------------- Chromium, Node, playwright-core
if [[ ! -x "$CHROMIUM" ]]; then
  [[ -z "${IOI_CHROMIUM:-}" ]] || die "IOI_CHROMIUM=$CHROMIUM is not an executable"
  [[ $EUID -eq 0 ]] || die "$CHROMIUM is missing: install Debian's chromium (sudo apt-get install chromium)"
  log "$CHROMIUM is missing: installing Debian's chromium (apt-get install -y chromium) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq chromium >&2 || die "apt-get install chromium failed"
  [[ -x "$CHROMIUM" ]] || die "apt-get installed chromium, but there is no $CHROMIUM"
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || die "node and npm are required (Node.js 20+)"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old: playwright-core needs 20+"
log "$("$CHROMIUM" --version 2>/dev/null | head -1), Node.js $(node --version); npm ci in tools/browser ..."
# playwright-core only (pinned in package-lock.json): it never downloads a browser of its own.
(cd "$ROOT/tools/browser" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in tools/browser failed"

# ---------------------------------------------------------------- the executed notebooks
prefix="$("$ROOT/tools/env/setup.sh")"
if ! compgen -G "$NB_OUT/*.ipynb" >/dev/null; then
  log "no executed notebooks in $NB_OUT: running tools/env/test_notebooks.sh first"
  "$ROOT/tools/env/test_notebooks.sh" || die "tools/env/test_notebooks.sh failed"
fi
rm -rf "$OUT"
mkdir -p "$LAB/root" "$LAB/config" "$LAB/data" "$LAB/runtime" "$LAB/workspaces" \
  "$LAB/settings/@jupyterlab/notebook-extension" "$LAB/settings/@jupyterlab/apputils-extension" \
  "$LAB/settings/@jupyterlab/docmanager-extension"
# Copies, so nothing JupyterLab does to an open document touches the notebook test's output.
cp "$NB_OUT"/*.ipynb "$LAB/root/"
# Every cell attached to the page (no windowing, which would leave off-screen outputs unrendered), no
# autosave, no news or update checks (their notices would cover the screenshot; no network).
echo '{"windowingMode": "none", "scrollPastEnd": false}' \
  > "$LAB/settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
echo '{"autosave": false}' > "$LAB/settings/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
echo '{"checkForUpdates": false, "fetchNews": "false", "doNotDisturbMode": true}' \
  > "$LAB/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"

# ---------------------------------------------------------------- JupyterLab on loopback
token="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
root_flag=(); [[ $EUID -eq 0 ]] && root_flag=(--allow-root)
# Its own config, data and runtime directories: no user config or lab extension, no trust database
# (the notebooks open untrusted, see check_notebooks.mjs), and the runtime file names the port that
# --port=0 picked. The notebooks are only viewed: notebook_starts_kernel=False opens them with no
# kernel (and no kernel dialog), and allowed_kernelspecs names no installed kernel, so none can start.
JUPYTER_TOKEN="$token" JUPYTER_CONFIG_DIR="$LAB/config" JUPYTER_DATA_DIR="$LAB/data" \
JUPYTER_RUNTIME_DIR="$LAB/runtime" \
  "$prefix/bin/jupyter-lab" --no-browser --ip=127.0.0.1 --port=0 --ServerApp.port_retries=0 \
  --ServerApp.root_dir="$LAB/root" --LabApp.user_settings_dir="$LAB/settings" \
  --LabApp.workspaces_dir="$LAB/workspaces" --LabApp.notebook_starts_kernel=False \
  --KernelSpecManager.allowed_kernelspecs=none \
  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate ${root_flag[@]+"${root_flag[@]}"} \
  </dev/null >"$OUT/jupyterlab.log" 2>&1 &
server=$!
checker=""
cleanup() {
  [[ -n "$checker" ]] && kill "$checker" 2>/dev/null || true   # Playwright closes its Chromium on exit
  if kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null || true          # SIGTERM: jupyter_server shuts down at once
    for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$server" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The server writes its URL (with the port it got) to the runtime directory once it listens.
info="$LAB/runtime/jpserver-$server.json"
url=""
for _ in $(seq 240); do
  url="$("$prefix/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$info" 2>/dev/null)" && break
  kill -0 "$server" 2>/dev/null || { tail -n 20 "$OUT/jupyterlab.log" >&2; die "JupyterLab exited at start-up"; }
  sleep 0.25
done
[[ -n "$url" ]] || { tail -n 20 "$OUT/jupyterlab.log" >&2; die "JupyterLab did not start within 60 s"; }
log "JupyterLab at $url (log: $OUT/jupyterlab.log)"

# In the background and waited for: bash runs the traps only between commands, and `wait` returns
# at a signal, so Ctrl-C or a TERM stops the check and the server at once.
rc=0
IOI_LAB_TOKEN="$token" IOI_CHROMIUM="$CHROMIUM" \
  node "$ROOT/tools/browser/check_notebooks.mjs" --url "$url" --dir "$LAB/root" --out "$OUT" "$@" &
checker=$!
wait "$checker" || rc=$?
checker=""
log "done in $((SECONDS - started)) s; screenshots in $OUT/"
exit "$rc"
