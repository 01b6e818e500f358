# JupyterLab with the "IOI (Java)" kernel (docs/environment.md, "Docker"):
#   docker build -t ioi .
#   docker run --gpus all -p 8888:8888 -v ioi-hf:/home/ioi/.cache/huggingface ioi
# Without --gpus (or a GPU, or with an NVIDIA driver older than 570) the notebooks run on the CPU.
# The URL with its token is printed at start; -e JUPYTER_TOKEN=... chooses the token.
#
# Build arguments:
#   BASE           the runtime image: an apt-based Debian or Ubuntu. Default the CUDA 12.8 runtime
#                  (DJL 0.36's GPU libtorch is cu128 and finds GPUs through its libcudart);
#                  --build-arg BASE=debian:bookworm-slim (with CUDA=false) for a CPU-only image.
#   BUILD_BASE     the image the jar is built on (default: BASE); only Maven and a JDK are added to it.
#   CUDA           true (default): DJL's CUDA libtorch into /opt/djl (x86_64 only: skipped with a
#                  message on other architectures); false: no CUDA libtorch, the jar's CPU build only.
#   PREFETCH_GPT2  true (default): GPT-2 small into the Hugging Face cache at build time, so notebooks
#                  start offline; false skips it (the first model cell then downloads it).
#   EXTRA_CA_CERTS PEM certificates to trust besides Debian's/Ubuntu's, for a proxy that inspects TLS:
#                  --build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)".
#                  Added to the system store before the JDK is installed, so Java's cacerts has them;
#                  pip is pointed at the system store (PIP_CERT).
#
# Works with the classic builder and with BuildKit: no RUN --mount, no COPY --chmod.
ARG BASE=nvidia/cuda:12.8.1-runtime-ubuntu24.04
ARG BUILD_BASE=${BASE}

# ------------------------------------------------------------------ build: Maven, the jar, libtorch
FROM ${BUILD_BASE} AS build
ARG CUDA=true
ARG EXTRA_CA_CERTS=""
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 OPT_OUT_TRACKING=true
# Extra CA certificates first (one file each, as update-ca-certificates and Java's keystore hook expect).
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      mkdir -p /usr/local/share/ca-certificates \
      && printf '%s\n' "$EXTRA_CA_CERTS" | awk '/BEGIN CERTIFICATE/ {n++} n {print > ("/usr/local/share/ca-certificates/extra-" n ".crt")}' \
      && echo "build: $(ls /usr/local/share/ca-certificates | wc -l) extra CA certificate(s)"; \
    fi
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The poms first: Maven's downloads are a layer of their own, reused while only sources change.
COPY pom.xml ./
COPY kernel-lib/pom.xml kernel-lib/
RUN mvn -B -q -f pom.xml dependency:go-offline
COPY kernel-lib/src kernel-lib/src
RUN mvn -B -q -f pom.xml -DskipTests package \
 && test -f kernel-lib/target/kernel-lib-0.1.0-SNAPSHOT-all.jar
# DJL's CUDA 12.8 libtorch is not on Maven Central: DJL downloads it itself (from its own servers),
# here at build time, so the container needs no network for it. DJL publishes it for x86_64 only.
COPY tools/env/fetch-cuda-libtorch.sh tools/env/FetchLibtorch.java tools/env/
RUN mkdir -p /opt/djl \
 && case "$CUDA" in \
      false) echo "build: CUDA=false: no CUDA libtorch; the image runs on the CPU" ;; \
      true) if [ "$(uname -m)" != x86_64 ]; then \
              echo "build: CUDA=true on $(uname -m): DJL's CUDA libtorch exists for x86_64 only; skipped, the image runs on the CPU"; \
            else \
              DJL_CACHE_DIR=/opt/djl PYTORCH_FLAVOR=cu128 tools/env/fetch-cuda-libtorch.sh \
              && test -f /opt/djl/pytorch/2.7.1-cu128-linux-x86_64/libtorch.so; \
            fi ;; \
      *) echo "build: error: CUDA='$CUDA': use --build-arg CUDA=true or CUDA=false" >&2; exit 2 ;; \
    esac

# ------------------------------------------------------------------ runtime: JDK, Python, venv, jar
FROM ${BASE}
ARG PREFETCH_GPT2=true
ARG EXTRA_CA_CERTS=""
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt
# Extra CA certificates first (one file each, as update-ca-certificates and Java's keystore hook expect).
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      mkdir -p /usr/local/share/ca-certificates \
      && printf '%s\n' "$EXTRA_CA_CERTS" | awk '/BEGIN CERTIFICATE/ {n++} n {print > ("/usr/local/share/ca-certificates/extra-" n ".crt")}' \
      && echo "build: $(ls /usr/local/share/ca-certificates | wc -l) extra CA certificate(s)"; \
    fi
# A JDK, not a JRE: JJava runs JShell. python3-venv for .venv/; tini reaps the kernels' processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless python3 python3-venv ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*

# The non-root user ioi (uid 1000; Ubuntu's images have 'ubuntu' there: it goes). Its home, the
# project directory, the Hugging Face cache and DJL's cache are made here, as root, and given to ioi:
# a WORKDIR after USER would create a missing directory as root on some builders.
RUN (userdel -r ubuntu 2>/dev/null || true) \
 && useradd -m -u 1000 -s /bin/bash ioi \
 && mkdir -p /home/ioi/ioi /home/ioi/.cache/huggingface /opt/djl \
 && chown -R ioi:ioi /home/ioi /opt/djl
ENV HOME=/home/ioi \
    HF_HOME=/home/ioi/.cache/huggingface \
    DJL_CACHE_DIR=/opt/djl \
    OPT_OUT_TRACKING=true \
    RUST_FLAVOR=cpu \
    NVIDIA_DISABLE_REQUIRE=1
# NVIDIA_DISABLE_REQUIRE: the CUDA base image asks the NVIDIA runtime to refuse to start on drivers
# older than CUDA 12.8's (570) with a terse hook error; instead the container starts and
# tools/env/docker-entrypoint.sh says what is wrong and runs the notebooks on the CPU.
WORKDIR /home/ioi/ioi
COPY --chown=ioi:ioi . .
# The jar from the build stage, newer than the sources it was built from, so `./ioi jar` keeps it
# (Maven is not in this image; a stale jar would stop the build below with "'mvn' is required").
COPY --from=build --chown=ioi:ioi /src/kernel-lib/target/kernel-lib-0.1.0-SNAPSHOT-all.jar kernel-lib/target/
COPY --from=build --chown=ioi:ioi /opt/djl /opt/djl
USER ioi
# .venv/ (JupyterLab, JJava, nbclient, plotly) and the ioi-java kernelspec; checks the jar is current.
RUN PIP_NO_CACHE_DIR=1 tools/env/setup.sh >/dev/null

# GPT-2 small's checkpoint into the Hugging Face cache, so notebooks start offline. It runs on the
# jar's CPU libtorch, whose unpacked copy in /opt/djl is removed in the same step.
RUN if [ "$PREFETCH_GPT2" = true ]; then \
      ./ioi cache --model gpt2 --tokens '[[50256, 15496, 995]]' --out /tmp/gpt2-check.safetensors \
      && rm -f /tmp/gpt2-check.safetensors && rm -rf /opt/djl/pytorch/*-cpu-*; \
    elif [ "$PREFETCH_GPT2" != false ]; then \
      echo "build: error: PREFETCH_GPT2='$PREFETCH_GPT2': use true or false" >&2; exit 2; \
    fi
# After the prefetch: a new volume starts with the image's copy of the cache. Name it
# (-v ioi-hf:/home/ioi/.cache/huggingface) to keep downloads across containers and images.
VOLUME /home/ioi/.cache/huggingface

EXPOSE 8888
ENTRYPOINT ["/usr/bin/tini", "--", "/home/ioi/ioi/tools/env/docker-entrypoint.sh"]
CMD ["./ioi", "lab", "--ip", "0.0.0.0", "--port", "8888"]
