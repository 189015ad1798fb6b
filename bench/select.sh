#!/bin/sh
# Wall and CPU time of `convscale select` ranking by simulation (every candidate that fits and is
# not provably slower simulated, two child processes at a time on the 2-core machine), and of the
# same with --simulate-all (no pruning) and --estimate-only, for ResNet-50 on dgx-a100-hdr200 at
# 64 and 1024 GPUs. Prints the load average and commit before each run (the development VM is
# shared). Results: bench/select-results.md.
#   bench/select.sh [BUILD_DIR [all]]   (default build; "all": --simulate-all at 1024 GPUs too)
set -eu
B=${1:-build}/cli/convscale
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
git -C "$(dirname "$0")" rev-parse --short HEAD
date -u +%Y-%m-%dT%H:%MZ
# --simulate-all at 1024 GPUs (every parameter-server plan simulated: hours on 2 cores) only when
# asked: bench/select.sh BUILD_DIR all
modes_1024='"" --estimate-only'
if [ "${2:-}" = all ]; then modes_1024='"" --simulate-all --estimate-only'; fi
for n in 64 1024; do
  if [ "$n" = 64 ]; then modes='"" --simulate-all --estimate-only'; else modes=$modes_1024; fi
  eval "set -- $modes"
  for mode in "$@"; do
    uptime
    echo "select --model resnet50 --cluster dgx-a100-hdr200 --gpus $n $mode"
    /usr/bin/time -f "wall %e s, user %U s, system %S s, max RSS %M KiB" \
      "$B" select --model resnet50 --cluster dgx-a100-hdr200 --gpus "$n" $mode >"$T/out"
    # The heading's predictor counts; the rows ruled out by their lower bound (after lowering
    # the whole plan, or from a parameter-server plan's outline); the answer.
    head -n 1 "$T/out" | sed 's/.*predicted by/predicted by/'
    echo "ruled out by their lower bound: $(grep -c 'not simulated' "$T/out" || true)"
    echo "of which from the outline: $(grep -c 'neither lowered in full nor simulated' "$T/out" || true)"
    sed -n 3p "$T/out" | cut -c1-110
  done
done
