#!/usr/bin/env bash
# The Docker test, last in `./ioi test` (docs/environment.md, "Docker"): builds the Dockerfile on a
# plain Debian base (CUDA=false, PREFETCH_GPT2=false), then checks from the host that
#   1. the container runs as a non-root user with a writable home and Hugging Face cache, and
#      `./ioi run` of notebooks/00_smoke.ipynb passes inside it, offline (--network none), on the
#      tests' checkpoint (kernel-lib/src/test/resources/ioi-gpt2 + the bundled GPT-2 tokenizer.json,
#      mounted read-only, as tools/env/test_notebooks.sh assembles it);
#   2. the default command, JupyterLab, answers on the published port only with its token (403 without
#      it or with a wrong one, 200 with the token it prints), and offers the ioi-java kernel;
#   3. the entrypoint names an NVIDIA driver older than 570 and runs the notebooks on the CPU
#      (simulated: a fake nvidia-smi and cu128 directory are mounted; no GPU is needed).
# It prints the image's size. The base image: Docker Hub is not needed, it is made from Debian's
# packages (debootstrap --variant=minbase bookworm DIR; tar -C DIR -c . | docker import - NAME), the
# rootfs tarball cached in ~/.cache/ioi/docker/ (XDG_CACHE_HOME) per suite and architecture.
#
# When it runs: IOI_TEST_DOCKER=auto (default) runs it when `docker info` works, or when we are root
# (then it installs Debian's docker.io and debootstrap with apt-get if missing, as the browser test
# installs chromium, starts dockerd and stops it at the end); otherwise it prints why it skipped and
# exits 0. IOI_TEST_DOCKER=1 requires it (fails where auto would skip); IOI_TEST_DOCKER=0 skips it.
#
# Everything it made is removed at the end (containers, the images of this build, the base image);
# IOI_TEST_DOCKER_KEEP=1 keeps the images (ioi-test:<id>, ioi-test-base:<id>) for a look or a rerun.
# Other settings: IOI_DOCKER_NETWORK (network for the build, default Docker's default bridge; `host`
# where the bridge has no outside access), IOI_DOCKER_CA_CERTS (a PEM file of CA certificates for the
# build, default: the host's added ones, /usr/local/share/ca-certificates/*.crt, for a proxy that
# inspects TLS), IOI_DEBIAN_MIRROR (default http://deb.debian.org/debian), IOI_DOCKER_BUILD_TIMEOUT
# (seconds, default 1800). Output in target/docker/ (build.log, dockerd.log, lab.log).
# Exit status: 0 passed or skipped, 1 a check failed, 2 the test could not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/target/docker"
MODE="${IOI_TEST_DOCKER:-auto}"
SUITE=bookworm
MIRROR="${IOI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ioi/docker"
ID="$$-$(date +%s)"
IMAGE="ioi-test:$ID"
BASE_IMAGE="ioi-test-base:$ID"
started=$SECONDS

log() { echo "test_docker: $*" >&2; }
skip() { echo "docker: skipped ($*)"; exit 0; }
die() { echo "test_docker: error: $*" >&2; echo "docker: 0 passed, 1 failed"; exit 2; }

case "$MODE" in
  0) skip "IOI_TEST_DOCKER=0" ;;
  1|auto) ;;
  *) die "IOI_TEST_DOCKER='$MODE': use auto, 1 or 0" ;;
esac
# Not possible here: skipped in auto mode, an error when required.
cannot() { [[ "$MODE" == auto ]] && skip "$1"; die "$1"; }

apt_install() {
  log "installing Debian's $* (apt-get) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}

# ---------------------------------------------------------------- the Docker engine
we_started=""
stop_dockerd() {
  [[ -n "$we_started" ]] || return 0
  log "stopping the dockerd this test started (pid $we_started)"
  kill -TERM "$we_started" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$we_started" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$we_started" 2>/dev/null && { log "dockerd did not stop: killing it"; kill -KILL "$we_started" 2>/dev/null || true; }
  we_started=""
}
containers=()
images_before=""; snapshot=""
cleanup() {
  local rc=$?
  for c in ${containers[@]+"${containers[@]}"}; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
  if [[ -n "$snapshot" && "${IOI_TEST_DOCKER_KEEP:-0}" != 1 ]]; then
    # Exactly the images that appeared during this test (the image, the build stage's layers, the
    # base); never forced. A parent goes only after its children, and layers made in the same second
    # are listed in no useful order, so a few passes until none is left.
    docker rmi "$IMAGE" "$BASE_IMAGE" >/dev/null 2>&1 || true
    local new pass
    for pass in 1 2 3 4 5 6 7 8; do
      new="$(awk 'NR == FNR { seen[$0] = 1; next } !seen[$0]++' <(printf '%s\n' "$images_before") \
               <(docker images -aq --no-trunc))"
      [[ -n "$new" ]] || break
      docker rmi $new >/dev/null 2>&1 || true
    done
    [[ -z "$new" ]] || log "warning: images of this test left behind: $(echo $new | cut -c1-200)"
  fi
  stop_dockerd
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" "$CACHE"
# One run of this test at a time on this machine (one engine, one base-image cache).
exec 9>"$CACHE/test.lock"
flock 9
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    # As the browser test does with chromium: as root with apt-get, install the engine (CI machines
    # have a docker client at most); otherwise skip (auto) or fail (1).
    [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1 \
      || cannot "no Docker engine: 'docker info' fails, dockerd is not installed, and installing Debian's docker.io needs root and apt-get"
    apt_install docker.io
  fi
  [[ $EUID -eq 0 ]] || cannot "no Docker engine running, and starting dockerd needs root"
  command -v docker >/dev/null 2>&1 || cannot "dockerd is installed but the docker command is not"
  log "starting dockerd (log: target/docker/dockerd.log) ..."
  dockerd >"$OUT/dockerd.log" 2>&1 9>&- &
  we_started=$!
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$we_started" 2>/dev/null || { we_started=""; die "dockerd exited at start: $(tail -n 3 "$OUT/dockerd.log")"; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || die "dockerd did not answer within 60 s: $(tail -n 3 "$OUT/dockerd.log")"
fi
log "Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null) (server), $(docker --version)"
images_before="$(docker images -aq --no-trunc)"; snapshot=1

# ---------------------------------------------------------------- the Debian base image
arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
tarball="$CACHE/debian-$SUITE-$arch-minbase.tar.gz"
if [[ ! -f "$tarball" ]]; then
  [[ $EUID -eq 0 ]] || cannot "no cached base ($tarball) and debootstrap needs root"
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  rootfs="$OUT/rootfs"
  rm -rf "$rootfs"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (once; cached in $tarball) ..."
  t=$SECONDS
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$OUT/debootstrap.log" 2>&1 \
    || die "debootstrap failed: $(tail -n 3 "$OUT/debootstrap.log")"
  # As Debian's own images: updates and security in the sources, no package lists or .debs kept.
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
    "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SUITE" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | gzip -1 > "$tarball.part" && mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  log "base rootfs: $(du -h "$tarball" | cut -f1) in $((SECONDS - t)) s"
fi
docker import "$tarball" "$BASE_IMAGE" >/dev/null || die "docker import $tarball failed"

# ---------------------------------------------------------------- the image
ca_file="${IOI_DOCKER_CA_CERTS:-}"
ca=""
if [[ -n "$ca_file" ]]; then
  [[ -f "$ca_file" ]] || die "IOI_DOCKER_CA_CERTS=$ca_file is not a file"
  ca="$(cat "$ca_file")"
elif compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  ca="$(cat /usr/local/share/ca-certificates/*.crt)"
fi
net=()
[[ -z "${IOI_DOCKER_NETWORK:-}" ]] || net=(--network "$IOI_DOCKER_NETWORK")
log "docker build (BASE=debootstrapped $SUITE, CUDA=false, PREFETCH_GPT2=false$([[ -n "$ca" ]] && echo ", $(grep -c 'BEGIN CERTIFICATE' <<<"$ca") extra CA certificate(s)")) -> $IMAGE; log: target/docker/build.log ..."
t=$SECONDS
if ! timeout "${IOI_DOCKER_BUILD_TIMEOUT:-1800}" docker build ${net[@]+"${net[@]}"} -t "$IMAGE" \
     --build-arg BASE="$BASE_IMAGE" --build-arg BUILD_BASE="$BASE_IMAGE" \
     --build-arg CUDA=false --build-arg PREFETCH_GPT2=false --build-arg EXTRA_CA_CERTS="$ca" \
     "$ROOT" >"$OUT/build.log" 2>&1; then
  tail -n 25 "$OUT/build.log" >&2
  echo "FAIL docker build (target/docker/build.log)"
  echo "docker: 0 passed, 1 failed"
  exit 1
fi
build_s=$((SECONDS - t))
size_bytes="$(docker image inspect "$IMAGE" --format '{{.Size}}')"
size="$(awk -v b="$size_bytes" 'BEGIN { printf "%.2f GB", b / 1e9 }')"
log "built in $build_s s; image size $size ($size_bytes bytes)"

passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# ---------------------------------------------------------------- 1. non-root, writable, smoke notebook
MODEL_DIR="$OUT/model"
IOI_TEST_CHECKPOINT="$ROOT/kernel-lib/src/test/resources/ioi-gpt2" "$ROOT/tools/env/test_checkpoint.sh" "$MODEL_DIR"
chmod -R a+rX "$MODEL_DIR"
t=$SECONDS
name="ioi-test-smoke-$ID"; containers+=("$name")
if docker run --name "$name" --network none -v "$MODEL_DIR:/model:ro" "$IMAGE" bash -c '
     set -e
     [ "$(id -u)" != 0 ] || { echo "runs as root"; exit 3; }
     touch "$HOME/.w" "$HF_HOME/.w" || { echo "home or HF_HOME not writable"; exit 3; }
     echo "user $(id -un) ($(id -u)), HOME=$HOME, HF_HOME=$HF_HOME writable"
     ./ioi run --model /model --out /tmp/out notebooks/00_smoke.ipynb' >"$OUT/smoke.log" 2>&1; then
  ok "non-root user with a writable home: $(grep -m1 '^user ' "$OUT/smoke.log")"
  ok "./ioi run notebooks/00_smoke.ipynb inside the container, offline: $(grep -m1 '^run: .* ok' "$OUT/smoke.log") ($((SECONDS - t)) s)"
else
  tail -n 20 "$OUT/smoke.log" >&2
  fail "non-root user, writable home and ./ioi run of the smoke notebook inside the container (target/docker/smoke.log)"
fi
docker rm -f -v "$name" >/dev/null 2>&1 || true

# ---------------------------------------------------------------- 2. JupyterLab needs its token
name="ioi-test-lab-$ID"; containers+=("$name")
docker run -d --name "$name" -p 127.0.0.1::8888 "$IMAGE" >/dev/null || die "docker run of the default command failed"
port="$(docker port "$name" 8888/tcp | head -n 1 | sed 's/.*://')"
[[ "$port" =~ ^[0-9]+$ ]] || die "no published port for 8888 ($(docker port "$name" 2>&1))"
url="http://127.0.0.1:$port"
code=000
for _ in $(seq 180); do
  code="$(curl -s -o /dev/null -w '%{http_code}' "$url/api/status" || true)"
  [[ "$code" != 000 ]] && break
  [[ "$(docker inspect -f '{{.State.Running}}' "$name")" == true ]] || break
  sleep 0.5
done
docker logs "$name" >"$OUT/lab.log" 2>&1 || true
token="$(sed -n 's/.*lab?token=\([0-9a-f]*\).*/\1/p' "$OUT/lab.log" | head -n 1)"
status() { curl -s -o /dev/null -w '%{http_code}' "$@" || true; }
if [[ "$code" == 000 ]]; then
  tail -n 20 "$OUT/lab.log" >&2
  fail "JupyterLab did not answer on $url within 90 s (target/docker/lab.log)"
elif [[ -z "$token" ]]; then
  fail "JupyterLab answers, but printed no URL with a token (target/docker/lab.log)"
else
  none="$(status "$url/api/status")"
  wrong="$(status "$url/api/status?token=not-the-token")"
  right="$(status "$url/api/status?token=$token")"
  lab="$(status "$url/lab")"
  if [[ "$none" == 403 && "$wrong" == 403 && "$right" == 200 && "$lab" == 302 ]]; then
    ok "JupyterLab from the host needs the token: /api/status $none without, $wrong with a wrong one, $right with the printed one; /lab $lab to the login page"
  else
    fail "JupyterLab token: /api/status without $none (want 403), wrong token $wrong (want 403), printed token $right (want 200), /lab $lab (want 302)"
  fi
  default="$(curl -s -H "Authorization: token $token" "$url/api/kernelspecs" \
    | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["default"] if "ioi-java" in d["kernelspecs"] else "no ioi-java")' 2>&1 || true)"
  [[ "$default" == ioi-java ]] && ok "JupyterLab's default kernel is ioi-java (IOI (Java))" \
    || fail "JupyterLab's kernelspecs: default '$default' (want ioi-java)"
fi
docker rm -f -v "$name" >/dev/null 2>&1 || true

# ---------------------------------------------------------------- 3. the driver check (simulated)
# No GPU here: an nvidia-smi that reports driver 535 and an (empty) cu128 libtorch directory are
# mounted, as a CUDA=true image on an old driver would have them; the entrypoint must name the driver
# and put the notebooks on the CPU.
fake="$OUT/fake-gpu"
rm -rf "$fake"; mkdir -p "$fake/cu128"
printf '#!/bin/sh\necho 535.183.01\n' > "$fake/nvidia-smi"; : > "$fake/cu128/libtorch.so"
chmod -R a+rX "$fake"; chmod a+x "$fake/nvidia-smi"
name="ioi-test-driver-$ID"; containers+=("$name")
driver_out="$(docker run --name "$name" --network none -v "$fake/nvidia-smi:/usr/local/bin/nvidia-smi:ro" \
  -v "$fake/cu128:/opt/djl/pytorch/2.7.1-cu128-linux-x86_64:ro" "$IMAGE" bash -c 'echo "IOI_DEVICE=$IOI_DEVICE"' 2>&1 || true)"
if grep -q "NVIDIA driver is 535.183.01.*needs 570 or newer" <<<"$driver_out" && grep -qx "IOI_DEVICE=cpu" <<<"$driver_out"; then
  ok "an NVIDIA driver older than 570 (simulated 535) is named at start and the notebooks go to the CPU"
else
  fail "driver check: want the 535 < 570 message and IOI_DEVICE=cpu, got: $(tr '\n' ' ' <<<"$driver_out" | cut -c1-300)"
fi
docker rm -f -v "$name" >/dev/null 2>&1 || true

log "image $IMAGE: $size; build $build_s s; whole test $((SECONDS - started)) s"
echo "docker: $passed passed, $failed failed (image $size, $((SECONDS - started)) s)"
[[ $failed -eq 0 ]]
