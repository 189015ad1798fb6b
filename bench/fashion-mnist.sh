#!/usr/bin/env bash
# Trains fashion_cnn on the real Fashion-MNIST files (Debian's dataset-fashion-mnist) with the
# CPU executor, as local MPI ranks: data parallel on 2 ranks, and parameter servers (2 workers +
# 1 server) sync and async, global batch 64, so that sync and async can be compared on
# convergence as well as speed. Prints loss and test accuracy per epoch and samples/s.
#
#   bench/fashion-mnist.sh [BUILD_DIR] [EPOCHS]     (defaults: build, 2)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
epochs=${2:-2}
bin="$build/cli/convscale"
work=$(mktemp -d /tmp/fashion-mnist.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
mpirun_args=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_args+=(--allow-run-as-root)
base=(--model fashion_cnn --cluster cpu-minicluster --gpus 2 --global-batch 64)
run() {  # NAME RANKS PLAN-OPTIONS...
  local name=$1 np=$2
  shift 2
  "$bin" plan "${base[@]}" "$@" -o "$work/$name.json"
  local t0=$SECONDS
  mpirun "${mpirun_args[@]}" -np "$np" "$bin" execute --plan "$work/$name.json" \
    --data fashion-mnist --epochs "$epochs" -o "$work/$name.out.json" >/dev/null
  python3 - "$work/$name.out.json" "$name" "$((SECONDS - t0))" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for e in m["epochs"]:
    print(f"| {sys.argv[2]} | {e['epoch']} | {e['train_loss']:.4f} | {e['test_loss']:.4f} | "
          f"{100 * e['test_accuracy']:.2f}% | {m['throughput_samples_per_s']:.0f} | {sys.argv[3]} |")
PY
}
echo "| run | epoch | train loss | test loss | test accuracy | samples/s | wall (s) |"
echo "|---|---|---|---|---|---|---|"
run dp 2 --strategy dp
run ps-sync 3 --strategy ps --servers 1
run ps-async 3 --strategy ps --servers 1 --async
