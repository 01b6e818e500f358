#!/usr/bin/env bash
# Has DJL download its CUDA build of libtorch (PyTorch 2.7.1, cu128: not on Maven Central) into its
# cache, $DJL_CACHE_DIR/pytorch/ (default ~/.djl.ai/pytorch/), and prints the settings that make the
# kernel use it. The Dockerfile runs it at build time; GPU users outside Docker can run it once online.
#
# Why a separate classpath: the library jar bundles the CPU libtorch (pytorch-native-cpu), and DJL
# uses a bundled CPU build even on a GPU machine. Without it on the classpath, DJL downloads libtorch,
# and PYTORCH_FLAVOR=cu128 picks the CUDA build even where no GPU is present (a Docker build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYTORCH_FLAVOR="${PYTORCH_FLAVOR:-cu128}"
export OPT_OUT_TRACKING="${OPT_OUT_TRACKING:-true}"
unset PYTORCH_LIBRARY_PATH PYTORCH_VERSION DJL_OFFLINE

cp_file="$(mktemp)"; trap 'rm -f "$cp_file"' EXIT
mvn -B -q -f "$ROOT/kernel-lib/pom.xml" dependency:build-classpath \
    -Dmdep.includeScope=runtime -Dmdep.outputFile="$cp_file" >&2
cp="$(tr ':' '\n' < "$cp_file" | grep -v '/pytorch-native-' | paste -sd: -)"

echo "fetch: DJL downloads libtorch ($PYTORCH_FLAVOR) into ${DJL_CACHE_DIR:-$HOME/.djl.ai}/pytorch/ ..." >&2
dir="$(java -cp "$cp" "$ROOT/tools/env/FetchLibtorch.java" | tail -n 1)"
[[ -f "$dir/libtorch.so" ]] || { echo "fetch: no libtorch.so in '$dir'" >&2; exit 1; }
version="$(basename "$dir" | cut -d- -f1)"
cat >&2 <<MSG
fetch: done. To run notebooks on it (./ioi lab and ./ioi run pass these to the kernel):
MSG
echo "export PYTORCH_LIBRARY_PATH=$dir PYTORCH_VERSION=$version PYTORCH_FLAVOR=$PYTORCH_FLAVOR"
