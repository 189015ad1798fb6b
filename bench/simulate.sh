#!/bin/sh
# Simulator scale benchmark (issue 5, "Scale"): one ResNet-50 sync-DP iteration (buckets, every
# layer's tasks) on 1024 / 4096 / 16384 GPUs of dgx-a100-hdr200, coarse collectives, and the
# chunk-exact run where it finishes. Prints the load average before each run (the development VM
# is shared). Results: bench/simulate-results.md.
#   bench/simulate.sh [BUILD_DIR]   (default build; run it under `nice -n -5` for the table)
set -eu
B=${1:-build}/bench/simulate_bench
for n in 1024 4096 16384; do
  uptime
  "$B" --gpus "$n" --collectives coarse
done
uptime
"$B" --gpus 1024 --collectives exact
