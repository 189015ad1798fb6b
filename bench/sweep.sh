#!/bin/sh
# Sweep benchmark (issue 5, "Sweeps"): ResNet-50 on dgx-a100-hdr200, every strategy (dp, ps, mp,
# hybrid) at 1..64 GPUs, each point simulated with SimGrid in its own process. Prints the wall
# time; results: bench/simulate-results.md, "Sweep".
#   bench/sweep.sh [BUILD_DIR] [JOBS] [OUT_DIR]   (defaults: build, all cores, a temporary folder)
set -eu
C=${1:-build}/cli/convscale
JOBS=${2:-0}
OUT=${3:-$(mktemp -d)}
set -- --model resnet50 --cluster dgx-a100-hdr200 --strategies dp,ps,mp,hybrid --gpus 1..64 -o "$OUT"
[ "$JOBS" -gt 0 ] && set -- "$@" --jobs "$JOBS"
start=$(date +%s.%N)
/usr/bin/time -f "peak RSS of the largest process %M KiB" "$C" sweep "$@" >/dev/null
end=$(date +%s.%N)
echo "wall $(echo "$end - $start" | bc) s; output in $OUT"
grep -v '^#' "$OUT/sweep.csv" | cut -d, -f3,5,9,11,18,19 | column -t -s,
