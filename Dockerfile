# JupyterLab with the "IOI (Java)" kernel, GPU-ready (docs/environment.md, "Docker"):
#   docker build -t ioi .
#   docker run --gpus all -p 8888:8888 ioi      # without --gpus (or a GPU) it runs on the CPU
# The URL with its token is printed at start; pass -e JUPYTER_TOKEN=... to choose the token.
#
# Thin on purpose: the environment is tools/env/setup.sh, the same script `./ioi setup` runs (and the
# project's tests exercise). No Docker engine on the project's machines: this file is not built there.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04
# (CUDA 12.8 runtime: DJL 0.36's GPU libtorch is cu128, and DJL finds GPUs through libcudart.)

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# A JDK, not a JRE: JJava runs JShell. Maven builds the library; python3-venv for .venv/.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A non-root user (Ubuntu 24.04 images ship 'ubuntu' with uid 1000: replace it) and DJL's cache.
RUN (userdel -r ubuntu 2>/dev/null || true) \
 && useradd -m -u 1000 -s /bin/bash ioi \
 && mkdir -p /opt/djl && chown ioi:ioi /opt/djl
USER ioi
WORKDIR /home/ioi/ioi
ENV DJL_CACHE_DIR=/opt/djl \
    OPT_OUT_TRACKING=true \
    RUST_FLAVOR=cpu \
    HF_HOME=/home/ioi/.cache/huggingface

COPY --chown=ioi:ioi . .
# .venv/ (JupyterLab, JJava, nbclient, plotly), the library jar, the ioi-java kernelspec.
RUN PIP_NO_CACHE_DIR=1 tools/env/setup.sh

# GPT-2 small's checkpoint into the Hugging Face cache, so notebooks start offline
# (--build-arg PREFETCH_GPT2=false to skip; runs on the jar's CPU libtorch, whose unpacked copy is removed).
ARG PREFETCH_GPT2=true
RUN if [ "$PREFETCH_GPT2" = true ]; then \
      ./ioi cache --model gpt2 --tokens '[[50256, 15496, 995]]' --out /tmp/gpt2-check.safetensors \
      && rm -f /tmp/gpt2-check.safetensors && rm -rf /opt/djl/pytorch/*-cpu-*; \
    fi

# DJL's CUDA 12.8 libtorch is not on Maven Central: DJL downloads it itself, here at build time, so the
# container needs no network. The library jar bundles the CPU libtorch, which DJL would otherwise pick
# even on a GPU; PYTORCH_LIBRARY_PATH points it at the CUDA build, which also runs on the CPU.
RUN PYTORCH_FLAVOR=cu128 tools/env/fetch-cuda-libtorch.sh \
 && test -f /opt/djl/pytorch/2.7.1-cu128-linux-x86_64/libtorch.so
ENV PYTORCH_LIBRARY_PATH=/opt/djl/pytorch/2.7.1-cu128-linux-x86_64 \
    PYTORCH_VERSION=2.7.1 \
    PYTORCH_FLAVOR=cu128 \
    DJL_OFFLINE=true

EXPOSE 8888
CMD ["./ioi", "lab", "--ip", "0.0.0.0", "--port", "8888"]
