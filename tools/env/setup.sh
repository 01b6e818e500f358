#!/usr/bin/env bash
# The notebook environment, idempotent: the one set-up script behind `./ioi setup|lab|run` and the
# Dockerfile. See docs/environment.md.
#
#  1. .venv/ (python3 -m venv) with the pins of tools/env/requirements.txt: JupyterLab, JJava,
#     nbclient, nbconvert, nbformat, plotly. Reinstalled only when requirements.txt or the Python
#     changed (a stamp in .venv/). Instead of .venv/: the environment IOI_ENV_PREFIX names, or an
#     activated conda environment that has JJava (environment.yml); those are used as they are.
#  2. The library jar (kernel-lib/target/kernel-lib-*-all.jar), built if missing or stale (`./ioi jar`).
#  3. The kernelspec "IOI (Java)" (name ioi-java) in <env>/share/jupyter/kernels/ioi-java/, rewritten
#     every time (cheap), so it always names the current java, jar and settings.
#
# Prints the environment's prefix (.venv/ or the conda one) on stdout; progress goes to stderr.
#
# Environment:
#   IOI_ENV_PREFIX an existing Python environment with JupyterLab and JJava to use instead of .venv/
#   IOI_PYTHON     the Python that creates the venv (default python3; needs 3.10+)
#   IOI_WHEELHOUSE a directory of wheels to install from instead of PyPI (what ./ioi setup --from-kit sets)
#   IOI_JVM_OPTS   the kernel JVM's options (default: -Xmx6g -XX:MaxDirectMemorySize=6g); baked into
#                  kernel.json, so `IOI_JVM_OPTS=... ./ioi lab` (which runs this script) changes them
#   JAVA_HOME      the JDK the kernel runs on (default: the `java` on PATH)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/tools/env/requirements.txt"
STARTUP="$ROOT/notebooks/startup.jshell"
KERNEL_NAME="ioi-java"
DEFAULT_JVM_OPTS="-Xmx6g -XX:MaxDirectMemorySize=6g"

log() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 2; }

# ---------------------------------------------------------------- the JDK
# JJava needs a JDK (JShell, javac), not a JRE. JAVA_HOME wins, else the java on PATH.
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA="$(command -v java || true)"
  [[ -n "$JAVA" ]] || die "no 'java' on PATH and no JAVA_HOME: install a JDK 17+"
fi
JAVA="$(readlink -f "$JAVA")"        # /usr/bin/java -> /usr/lib/jvm/.../bin/java: pin the real JDK
JAVA_BIN="$(dirname "$JAVA")"
[[ -x "$JAVA_BIN/jshell" ]] || die "$JAVA is not a JDK (no jshell beside it): JJava needs a full JDK 17+"
JAVA_SPEC="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
[[ "${JAVA_SPEC%%.*}" -ge 17 ]] 2>/dev/null || die "$JAVA is Java ${JAVA_SPEC:-?}; the library needs 17+"

# ---------------------------------------------------------------- 1. the venv
PY="${IOI_PYTHON:-python3}"
EXTERNAL=""
if [[ -n "${IOI_ENV_PREFIX:-}" ]]; then
  EXTERNAL="$IOI_ENV_PREFIX"
elif [[ -n "${CONDA_PREFIX:-}" && -f "$CONDA_PREFIX/share/jupyter/kernels/java/jjava.jar" ]]; then
  EXTERNAL="$CONDA_PREFIX"
fi
if [[ -n "$EXTERNAL" ]]; then
  VENV="$(cd "$EXTERNAL" && pwd)"
  for f in bin/python bin/jupyter-lab; do
    [[ -x "$VENV/$f" ]] || die "$VENV has no $f: install environment.yml's packages into it"
  done
  log "using the environment $VENV (not .venv/)"
elif [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  # Missing, or broken: a `python3 -m venv` that failed half-way (no ensurepip: a venv without pip),
  # or a venv whose Python was removed or upgraded away. Recreated from scratch (--clear).
  [[ -e "$VENV" ]] && log "$VENV is broken (no working python with pip in it): recreating it"
  command -v "$PY" >/dev/null 2>&1 || die "'$PY' not found: install Python 3.10+ (with venv), or set IOI_PYTHON"
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$("$PY" --version 2>&1) is too old: JupyterLab 4.6 needs Python 3.10+ (set IOI_PYTHON)"
  log "creating $VENV with $("$PY" --version 2>&1)"
  "$PY" -m venv --clear "$VENV" || die "'$PY -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)"
fi
STAMP="$VENV/.ioi-requirements"
want="$(cat "$REQ"; "$VENV/bin/python" --version 2>&1)"
if [[ -z "$EXTERNAL" ]] && { [[ ! -f "$STAMP" ]] || [[ "$(cat "$STAMP")" != "$want" ]]; }; then
  log "installing $(grep -c '^[a-zA-Z]' "$REQ") pinned packages from tools/env/requirements.txt into .venv/ ..."
  if [[ -n "${IOI_WHEELHOUSE:-}" ]]; then
    # An offline kit's wheels (./ioi setup --from-kit): pip never asks an index.
    [[ -d "$IOI_WHEELHOUSE" ]] || die "IOI_WHEELHOUSE=$IOI_WHEELHOUSE is not a directory"
    log "... from the wheelhouse $IOI_WHEELHOUSE (no index)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q --no-index \
      --find-links "$IOI_WHEELHOUSE" -r "$REQ" >&2 \
      || die "pip could not install tools/env/requirements.txt from $IOI_WHEELHOUSE alone: the kit was made for other pins; make it again from this commit"
  else
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >&2 \
      || die "pip could not install tools/env/requirements.txt (offline? set HTTPS_PROXY, or use a kit: ./ioi setup --from-kit DIR)"
  fi
  printf '%s' "$want" > "$STAMP"
fi
JJAVA_DIR="$VENV/share/jupyter/kernels/java"       # where the jjava wheel puts its kernelspec
for f in jjava-launcher.jar jjava.jar; do
  [[ -f "$JJAVA_DIR/$f" ]] || die "$JJAVA_DIR/$f is missing: is jjava installed in .venv? (rm $STAMP and rerun)"
done
[[ -d "$VENV/share/jupyter/labextensions/jupyterlab-plotly" ]] \
  || log "warning: plotly's JupyterLab extension is missing: Plotly charts will use their HTML fallback"

# ---------------------------------------------------------------- 2. the library jar
JAR="$("$ROOT/ioi" jar)"
[[ -f "$JAR" ]] || die "no library jar at $JAR"

# ---------------------------------------------------------------- 3. the kernelspec
[[ -f "$STARTUP" ]] || die "$STARTUP is missing"
KDIR="$VENV/share/jupyter/kernels/$KERNEL_NAME"
mkdir -p "$KDIR"
cp -f "$JJAVA_DIR"/logo-*.png "$KDIR/" 2>/dev/null || true
# DJL's INFO lines (platform found, thread counts) would land in every notebook's first cell; the
# user's options come after, so -Dorg.slf4j.simpleLogger.log.ai.djl=info in IOI_JVM_OPTS brings them back.
JVM_OPTS="-Dorg.slf4j.simpleLogger.log.ai.djl=warn ${IOI_JVM_OPTS:-$DEFAULT_JVM_OPTS}"
[[ "$JVM_OPTS" != *[\"\']* ]] || die "IOI_JVM_OPTS must not contain quotes (JJava splits it on whitespace)"
IOI_K_JAVA="$JAVA" IOI_K_JAVA_BIN="$JAVA_BIN" IOI_K_JJAVA="$JJAVA_DIR" IOI_K_JAR="$JAR" \
IOI_K_OPTS="$JVM_OPTS" IOI_K_STARTUP="$STARTUP" IOI_K_OUT="$KDIR/kernel.json" \
"$VENV/bin/python" - <<'PY'
import json, os
e = os.environ
spec = {
    # argv[0] is the absolute path of the JDK's java found at set-up time, not "java": JJava's own
    # kernelspec runs `java` from the Jupyter server's PATH, which may be another (or no) JDK, a JRE
    # without JShell, or differ between a terminal and a desktop launcher. Its launcher jar starts the
    # kernel JVM as plain `java` again, so `env` also puts this JDK's bin/ first on PATH.
    "argv": [e["IOI_K_JAVA"], "-jar", os.path.join(e["IOI_K_JJAVA"], "jjava-launcher.jar"),
             os.path.join(e["IOI_K_JJAVA"], "jjava.jar"), "{connection_file}"],
    "display_name": "IOI (Java)",
    "language": "java",
    "interrupt_mode": "message",
    "env": {
        "PATH": e["IOI_K_JAVA_BIN"] + os.pathsep + "${PATH}",   # jupyter_client substitutes ${PATH}
        "JJAVA_CLASSPATH": e["IOI_K_JAR"],
        "JJAVA_JVM_OPTS": e["IOI_K_OPTS"],
        "JJAVA_STARTUP_SCRIPTS_PATH": e["IOI_K_STARTUP"],
        "OPT_OUT_TRACKING": "true",   # no DJL telemetry probe
        "RUST_FLAVOR": "cpu",         # DJL tokenizers: the bundled CPU build, never a CUDA download
    },
    "metadata": {
        "ioi": {
            "written_by": "tools/env/setup.sh (rewritten on every ./ioi setup|lab|run)",
            "why_absolute_java": "the JDK found at set-up time (JAVA_HOME, else PATH), so the kernel "
                                 "does not depend on the PATH Jupyter was started with",
        },
        "debugger": False,
    },
}
with open(e["IOI_K_OUT"] + ".tmp", "w") as f:
    json.dump(spec, f, indent=1)
    f.write("\n")
os.replace(e["IOI_K_OUT"] + ".tmp", e["IOI_K_OUT"])
PY
log "kernel '$KERNEL_NAME' (IOI (Java)): $JAVA (Java $JAVA_SPEC), $JVM_OPTS, $(basename "$JAR")"
echo "$VENV"
