#!/usr/bin/env bash
# Predicted against measured on an emulated 4-host cluster (scripts/emulated-cluster), as root.
# For each link rate (200 Mbit/s, 1 Gbit/s) and each strategy (dp ring, dp halving-doubling,
# ps sync with one server, mp with 2 and 4 pipelined stages) it
#   1. profiles fashion_cnn (layer times at the per-rank batch, and the link by ping-pong),
#   2. predicts the iteration with `convscale simulate --profile` (or `estimate --profile` when
#      this build has no simulator),
#   3. executes the plan across the emulated hosts (mpirun into the namespaces),
#   4. compares, and writes bench/validation-emulated.md.
# Also: all-reduce alone, 1 MiB .. 64 MiB, on 4 hosts, predicted (closed form with the profiled
# link) against measured.
#
#   bench/validate-emulated.sh [BUILD_DIR]     (default build-exec)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-exec}
bin="$build/cli/convscale"
ec="$here/scripts/emulated-cluster"
out="$here/bench/validation-emulated.md"
work=$(mktemp -d /tmp/validate-emulated.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
iters=${ITERATIONS:-10}
warm=${WARMUP:-2}
batch=${BATCH:-64}  # global batch

"$ec" --check >/dev/null || { "$ec" --check; exit 77; }
predict_cmd=simulate
"$bin" simulate --help >/dev/null 2>&1 || predict_cmd=estimate

rows=()
coll_rows=()
for rate in 200mbit 1gbit; do
  cluster=cpu-minicluster
  [[ $rate == 1gbit ]] && cluster=cpu-minicluster-1g
  # 1. Profile: layers at the per-rank batch of dp (batch / 4), link between two hosts.
  "$ec" --hosts 2 --rate "$rate" -- mpirun -np 2 "$bin" profile --model fashion_cnn \
    --batch $((batch / 4)) --iterations 5 --warmup 1 --sizes 64KiB,1MiB,4MiB,16MiB \
    -o "$work/profile-$rate.json" 2>/dev/null
  for s in "dp ring" "dp halving-doubling" "ps sync" "mp 2" "mp 4"; do
    set -- $s
    name="$1-$2-$rate"
    case "$1 $2" in
      "dp ring"|"dp halving-doubling") args="--gpus 4 --strategy dp --algorithm $2"; np=4 ;;
      "ps sync") args="--gpus 3 --strategy ps --servers 1"; np=4 ;;
      "mp 2") args="--gpus 2 --strategy mp --micro-batches 4 --schedule 1f1b"; np=2 ;;
      "mp 4") args="--gpus 4 --strategy mp --micro-batches 4 --schedule 1f1b"; np=4 ;;
    esac
    plan="$work/$name.plan.json"
    if ! "$bin" plan --model fashion_cnn --cluster $cluster --global-batch $batch $args \
         --profile "$work/profile-$rate.json" -o "$plan" 2>"$work/err"; then
      rows+=("| $rate | $1 $2 | plan failed: $(head -c 120 "$work/err") | | | |"); continue
    fi
    pred="$work/$name.pred.json"
    if [[ $predict_cmd == simulate ]]; then
      "$bin" simulate --plan "$plan" --profile "$work/profile-$rate.json" -o "$pred" 2>/dev/null ||
        "$bin" estimate --plan "$plan" --json -o "$pred" 2>/dev/null || true
    else
      "$bin" estimate --model fashion_cnn --cluster $cluster --global-batch $batch $args \
        --profile "$work/profile-$rate.json" --json >"$pred" 2>/dev/null || true
    fi
    meas="$work/$name.meas.json"
    if ! timeout 600 "$ec" --hosts $np --rate "$rate" -- mpirun -np $np "$bin" execute \
         --plan "$plan" --iterations $iters --warmup $warm -o "$meas" >"$work/run.log" 2>&1; then
      rows+=("| $rate | $1 $2 | execute failed: $(tail -c 150 "$work/run.log" | tr '\n|' '  ') | | | |")
      continue
    fi
    rows+=("$(python3 - "$pred" "$meas" "$rate" "$1 $2" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
m = json.load(open(sys.argv[2]))
pt, mt = p.get("iteration_time_s"), m["iteration_time_s"]
err = f"{100 * (pt - mt) / mt:+.1f}%" if pt else "n/a"
sp = m["iterations"]
print(f"| {sys.argv[3]} | {sys.argv[4]} | {pt if pt is None else round(pt, 4)} | "
      f"{mt:.4f} (min {sp['min_s']:.4f}, max {sp['max_s']:.4f}) | {err} | "
      f"compute {p.get('compute_time_s', 0):.4f}/{m['compute_time_s']:.4f}, "
      f"comm {p.get('comm_time_s', 0):.4f}/{m['comm_time_s']:.4f} |")
PY
)")
  done
  # Collectives alone: ring all-reduce of 1..64 MiB on 4 hosts.
  "$ec" --hosts 4 --rate "$rate" -- mpirun -np 4 "$bin" profile --model fashion_cnn --batch 1 \
    --iterations 3 --warmup 1 --sizes 1MiB,4MiB,16MiB,64MiB -o "$work/coll-$rate.json" 2>/dev/null
  coll_rows+=("$(python3 - "$work/profile-$rate.json" "$work/coll-$rate.json" "$rate" <<'PY'
import json, sys
link = json.load(open(sys.argv[1]))["network"]
c = json.load(open(sys.argv[2]))["network"]["allreduce"]
a, B = link["latency_s"], link["bandwidth_Bps"]
out = []
for r in c:
    n, S = r["ranks"], r["bytes"]
    pred = 2 * (n - 1) * a + 2 * (n - 1) / n * S / B
    out.append(f"| {sys.argv[3]} | {S / 2**20:.0f} MiB | {pred:.4f} | {r['time_s']:.4f} | "
               f"{100 * (pred - r['time_s']) / r['time_s']:+.1f}% |")
print("\n".join(out))
PY
)")
done

{
  echo "# Predicted against measured on the emulated cluster"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared with other"
  echo "work; date $(date -u +%Y-%m-%dT%H:%MZ); convscale $("$bin" --version | cut -d' ' -f2-)."
  echo "Command: \`bench/validate-emulated.sh\` (as root). Model fashion_cnn, global batch $batch,"
  echo "$iters measured iterations after $warm warm-up, OMP_NUM_THREADS=1 per rank; hosts are"
  echo "network namespaces on one machine whose links are shaped with tc tbf; all ranks share the"
  echo "machine's cores. Prediction: \`convscale $predict_cmd\` with the profile measured first."
  echo
  echo "## Iteration time"
  echo
  echo "| link | strategy | predicted (s) | measured median (s) | error | phases predicted/measured (s) |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Ring all-reduce alone, 4 hosts (closed form with the profiled latency and bandwidth)"
  echo
  echo "| link | size | predicted (s) | measured (s) | error |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${coll_rows[@]}"
} >"$out"
cat "$out"
