#!/bin/sh
# Wall and CPU time of `convscale select` ranking by simulation (every candidate that fits and is
# not provably slower simulated, two child processes at a time on the 2-core machine), and of the
# same with --simulate-all (no pruning) and --estimate-only, for ResNet-50 on dgx-a100-hdr200 at
# 64 and 1024 GPUs. Prints the load average and commit before each run (the development VM is
# shared). Results: bench/select-results.md.
#   bench/select.sh [BUILD_DIR]   (default build)
set -eu
B=${1:-build}/cli/convscale
git -C "$(dirname "$0")" rev-parse --short HEAD
date -u +%Y-%m-%dT%H:%MZ
for n in 64 1024; do
  for mode in "" --simulate-all --estimate-only; do
    uptime
    echo "select --model resnet50 --cluster dgx-a100-hdr200 --gpus $n $mode"
    /usr/bin/time -f "wall %e s, user %U s, system %S s, max RSS %M KiB" \
      "$B" select --model resnet50 --cluster dgx-a100-hdr200 --gpus "$n" $mode |
      { grep -c ' simulate ' || true; } | sed 's/^/simulated rows: /'
  done
done
