#!/bin/sh
# Where select's and whatif's simulation time goes: wall and CPU time (SimGrid children
# included) of one `simulate` per candidate kind, and of one what-if point per strategy, for
# ResNet-50 on dgx-a100-hdr200 at 64 GPUs, then estimates at 1024 GPUs and the main job. Prints the load average and commit first (the
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
# Where select's time goes at 1024 GPUs: one estimate per parameter-server placement (the
# estimator, not the simulator, is the cost there), and one pipeline for comparison.
for s in "ps" "ps --ps-placement dedicated --servers 256" "mp --stages 40"; do
  echo "estimate --model resnet50 --cluster dgx-a100-hdr200 --gpus 1024 --strategy $s"
  # shellcheck disable=SC2086
  /usr/bin/time -f "$T, max RSS %M KiB" "$B" estimate --model resnet50 \
    --cluster dgx-a100-hdr200 --gpus 1024 --strategy $s | tail -n 0
done
# README command 1's main job after its build (the whole report, both selections and sweeps).
O=$(mktemp -d)
trap 'rm -rf "$O"' EXIT
echo "report main -o DIR"
/usr/bin/time -f "$T, max RSS %M KiB" "$B" report main -o "$O/report" | tail -n 0
grep -c "not simulated" "$O/report/report.md" | sed 's/^/rows ruled out by their lower bound: /'
