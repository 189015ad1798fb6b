#!/bin/sh
# Simulator scale benchmark (issue 5, "Scale"): one ResNet-50 sync-DP iteration (buckets, every
# layer's tasks) on 1024 / 4096 / 16384 GPUs of dgx-a100-hdr200, coarse collectives, and the
# chunk-exact run where it finishes. Results: bench/simulate-results.md.
#   bench/simulate.sh [BUILD_DIR]   (default build)
set -eu
B=${1:-build}/bench/simulate_bench
for n in 1024 4096 16384; do
  "$B" --gpus "$n" --collectives coarse
done
"$B" --gpus 1024 --collectives exact
