#!/usr/bin/env bash
# Builds estimate_bench (Release) and measures plan estimates per second for ResNet-50 at 64 GPUs.
# Usage: bench/estimate.sh [BUILD_DIR]   (default: build-bench next to the sources)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-bench}
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target estimate_bench -j2 >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$build/bench/estimate_bench" --model resnet50 --cluster dgx-a100 --gpus 64 --batch 64
