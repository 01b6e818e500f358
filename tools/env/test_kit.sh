#!/usr/bin/env bash
# The offline-kit test that `./ioi test` runs (docs/offline.md): a kit made here, then a fresh clone
# set up from it inside a network namespace with no network at all (`unshare -n`, only loopback up,
# which the kernels need), with an empty HOME (no Maven, pip, npm, DJL or Hugging Face cache) and a
# `mvn` on PATH that fails if anything calls it (DJL_CACHE_DIR inside that HOME too: Java's user.home
# is the password database's, not HOME); then the smoke and setup notebooks must pass.
#
#   tools/env/test_kit.sh
#
# The model: real GPT-2 cannot be downloaded here, so the Hugging Face cache the kit is made from is
# filled with the tests' 12x12 random GPT-2 in exactly the layout a `gpt2` download leaves
# (models--openai-community--gpt2/{refs/main, blobs/, snapshots/{commit}/ -> blobs}); `./ioi kit`
# takes it from there as it would take the real one, and the notebooks load it as `gpt2`.
# Environment: IOI_TEST_KIT_DIR (work directory, default target/kit-test; emptied first).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
T="${IOI_TEST_KIT_DIR:-$ROOT/target/kit-test}"
log() { echo "test_kit: $*" >&2; }
die() { echo "test_kit: FAIL: $*" >&2; exit 1; }
start=$SECONDS

# A namespace without network: as root `unshare -n`; otherwise a user namespace (`unshare -rn`) if allowed.
if unshare -n true 2>/dev/null; then NETNS=(unshare -n)
elif unshare -rn true 2>/dev/null; then NETNS=(unshare -rn)
else
  log "SKIPPED: this machine cannot make a network namespace (unshare -n needs root or user namespaces)"
  exit 0
fi
command -v ip >/dev/null 2>&1 || die "'ip' (iproute2) is needed to bring loopback up inside the namespace"

rm -rf "$T"
mkdir -p "$T/home" "$T/shim"

# ---------------------------------------------------------------- 1. the kit, made online
CHECKPOINT="$ROOT/kernel-lib/src/test/resources/ioi-gpt2"
TOKENIZER="$ROOT/kernel-lib/src/main/resources/ioi/lens/gpt2-tokenizer/tokenizer.json"
python3 - "$T/hf-online/hub" "$CHECKPOINT" "$TOKENIZER" <<'PY'
import hashlib, os, sys
from pathlib import Path
cache, checkpoint, tokenizer = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
folder = cache / "models--openai-community--gpt2"
commit = hashlib.sha1(b"ioi test checkpoint").hexdigest()   # any 40-hex commit, as the Hub gives
snap = folder / "snapshots" / commit
for d in (folder / "refs", folder / "blobs", snap):
    d.mkdir(parents=True, exist_ok=True)
(folder / "refs" / "main").write_text(commit)
for f in (checkpoint / "config.json", checkpoint / "model.safetensors", tokenizer):
    data = f.read_bytes()
    # Blob names as the Hub's etags: SHA-256 for LFS files, the git blob SHA-1 for small ones.
    blob = (hashlib.sha256(data).hexdigest() if f.suffix == ".safetensors"
            else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
    (folder / "blobs" / blob).write_bytes(data)
    os.symlink(os.path.relpath(folder / "blobs" / blob, snap), snap / f.name)
PY
log "making the kit (online) ..."
HF_HUB_CACHE="$T/hf-online/hub" "$ROOT/ioi" kit "$T/kit" >/dev/null || die "./ioi kit failed"
log "kit: $(du -sh "$T/kit" | cut -f1), $(grep -c . "$T/kit/SHA256SUMS") files"

# A damaged kit is refused before anything is installed.
cp "$T/kit/README.txt" "$T/readme.bak"
echo "one byte more" >> "$T/kit/README.txt"
if msg="$(python3 "$ROOT/tools/env/kit.py" verify "$T/kit" 2>&1)"; then die "a damaged kit passed verify"; fi
[[ "$msg" == *"wrong checksum: README.txt"* ]] || die "verify did not name the damaged file: $msg"
cp "$T/readme.bak" "$T/kit/README.txt"

# ---------------------------------------------------------------- 2. a fresh clone of this tree
git clone -q --no-local "$ROOT" "$T/clone" 2>/dev/null || git clone -q "$ROOT" "$T/clone"
# The working tree as it is (tracked and untracked, not ignored): on CI's clean clone the same as HEAD.
(cd "$ROOT" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -C "$T/clone" -xf -
# A .venv/ left broken by a failed `python3 -m venv` (no pip in it): set-up must notice and recreate it.
python3 -m venv --without-pip "$T/clone/.venv"
printf '#!/bin/sh\necho "test_kit: mvn was called offline ($*)" >&2\nexit 97\n' > "$T/shim/mvn"
chmod +x "$T/shim/mvn"

# ---------------------------------------------------------------- 3. offline: set up and run
log "offline (${NETNS[*]}): ./ioi setup --from-kit, then ./ioi run 00_smoke 01_setup_and_task ..."
rc=0
"${NETNS[@]}" env -i PATH="$T/shim:$PATH" HOME="$T/home" LANG=C.UTF-8 TERM=dumb ${JAVA_HOME:+JAVA_HOME="$JAVA_HOME"} \
  bash -c '
    set -euo pipefail
    ip link set lo up
    if python3 -c "import socket; socket.create_connection((\"pypi.org\", 443), timeout=3)" 2>/dev/null; then
      echo "test_kit: the namespace has a network" >&2; exit 98
    fi
    cd "$1"
    ./ioi setup --from-kit "$2"
    ./ioi run --out "$3" notebooks/00_smoke.ipynb notebooks/01_setup_and_task.ipynb
  ' _ "$T/clone" "$T/kit" "$T/out" >"$T/offline.log" 2>&1 || rc=$?
if [[ $rc -ne 0 ]]; then
  tail -40 "$T/offline.log" >&2
  die "offline set-up or run exited $rc (log: $T/offline.log)"
fi
python3 - "$T/out/summary.json" <<'PY' || die "the notebooks did not all pass"
import json, sys
rs = json.load(open(sys.argv[1]))["notebooks"]
for r in rs:
    print(f"test_kit: {r['notebook']}: {r['status']} ({r['seconds']} s)", file=sys.stderr)
sys.exit(0 if len(rs) == 2 and all(r["status"] == "ok" for r in rs) else 1)
PY
[[ -L "$T/home/.cache/huggingface/hub/models--openai-community--gpt2/snapshots/$(cat "$T/kit/model/hub/models--openai-community--gpt2/refs/main")/model.safetensors" ]] \
  || die "the model is not in the new HOME's Hugging Face cache in the cache layout"
[[ ! -e "$T/home/.m2" ]] || die "something used Maven offline (\$HOME/.m2 exists)"
grep -q "is broken (no working python with pip in it): recreating it" "$T/offline.log" \
  || die "set-up did not say it recreated the broken .venv/"

rm -rf "$T/home" "$T/clone/.venv" "$T/kit"   # hundreds of MB; the log and the executed notebooks stay
log "passed in $((SECONDS - start)) s: a fresh clone set up from the kit with no network ran 2 notebooks"
