#!/usr/bin/env bash
# The Docker image's entrypoint (Dockerfile; docs/environment.md, "Docker"): checks what the container
# was given, says what it will run on, then runs the command (default `./ioi lab --ip 0.0.0.0`).
#
#  - The Hugging Face cache and the home directory must be writable by the user the container runs as
#    (a bind mount owned by root is not): a clear error instead of a failing first model cell.
#  - GPUs: with the image's CUDA libtorch (CUDA=true), `./ioi` uses it when nvidia-smi lists a GPU.
#    CUDA 12.8 needs NVIDIA driver 570+; the image sets NVIDIA_DISABLE_REQUIRE=1 so an older driver
#    does not stop the container at start with the runtime's terse hook error. Here an older driver
#    is named, and IOI_DEVICE=cpu makes the notebooks run on the CPU (unless IOI_DEVICE is set).
set -euo pipefail
MIN_DRIVER=570          # CUDA 12.8's minimum Linux driver (NVIDIA's CUDA 12.8 release notes)

say() { echo "ioi-docker: $*" >&2; }

for dir in "${HF_HOME:-$HOME/.cache/huggingface}" "$HOME"; do
  if ! { mkdir -p "$dir" 2>/dev/null && [[ -w "$dir" ]]; }; then
    say "error: $dir is not writable by uid $(id -u): if it is a bind mount, make it writable by uid $(id -u)" \
        "(chown $(id -u) DIR on the host), or use a named volume (-v ioi-hf:/home/ioi/.cache/huggingface)"
    exit 2
  fi
done

cuda_libtorch=""
for f in "${DJL_CACHE_DIR:-/opt/djl}"/pytorch/*-cu*-linux-*/libtorch.so; do
  [[ -f "$f" ]] && cuda_libtorch="$(dirname "$f")"
done

driver=""
if command -v nvidia-smi >/dev/null 2>&1; then
  driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' ' || true)"
fi
if [[ -z "$driver" ]]; then
  if [[ -n "$cuda_libtorch" ]]; then
    say "no GPU visible (docker run --gpus all ... on a host with the NVIDIA Container Toolkit): the notebooks run on the CPU"
  fi
elif [[ -z "$cuda_libtorch" ]]; then
  say "GPU visible (driver $driver), but this image has no CUDA libtorch (built with CUDA=false, or not on x86_64):" \
      "the notebooks run on the CPU"
elif [[ "${driver%%.*}" =~ ^[0-9]+$ ]] && (( ${driver%%.*} < MIN_DRIVER )); then
  say "the NVIDIA driver is $driver; this image's CUDA 12.8 libtorch needs $MIN_DRIVER or newer." \
      "The notebooks run on the CPU. For the GPU, update the host's driver to $MIN_DRIVER+" \
      "(docs/environment.md, Docker)."
  export IOI_DEVICE="${IOI_DEVICE:-cpu}"
else
  say "GPU visible, NVIDIA driver $driver: the notebooks run on it ($cuda_libtorch)"
fi

exec "$@"
