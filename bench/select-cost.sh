#!/bin/sh
# Where select's and whatif's simulation time goes: wall and CPU time (SimGrid children
# included) of one `simulate` per candidate kind, and of one what-if point per strategy, for
# ResNet-50 on dgx-a100-hdr200 at 64 GPUs. Prints the load average and commit first (the
# development VM is shared). Results: bench/select-results.md.
#   bench/select-cost.sh [BUILD_DIR]   (default build)
set -eu
B=${1:-build}/cli/convscale
git -C "$(dirname "$0")" rev-parse --short HEAD
date -u +%Y-%m-%dT%H:%MZ
uptime
M="--model resnet50 --cluster dgx-a100-hdr200 --gpus 64"
T="wall %e s, user %U s, system %S s"
for s in "dp" "dp --algorithm tree" "dp --algorithm halving-doubling" "mp --stages 4" \
  "hybrid --stages 2" "ps" "ps --async" \
  "ps --servers 8 --ps-placement colocated" \
  "ps --servers 8 --ps-placement colocated --collectives coarse" \
  "ps --servers 8 --ps-placement colocated --async --iterations 1 --warmup 0" \
  "ps --servers 16 --ps-placement dedicated --async" \
  "ps --servers 16 --ps-placement colocated" \
  "ps --servers 16 --ps-placement colocated --collectives coarse" \
  "ps --servers 16 --ps-placement colocated --async --iterations 1 --warmup 0"; do
  echo "simulate $M --strategy $s"
  # shellcheck disable=SC2086
  /usr/bin/time -f "$T" "$B" simulate $M --strategy $s | grep -E '^(iteration time|collectives)'
done
for s in dp mp hybrid ps; do
  echo "whatif $M --strategies $s"
  # shellcheck disable=SC2086
  /usr/bin/time -f "$T" "$B" whatif $M --strategies "$s" | tail -n 0
done
