#!/usr/bin/env bash
# Predicted against measured on an emulated 4-host cluster (scripts/emulated-cluster), as root.
# For each link rate (200 Mbit/s, 1 Gbit/s) and each strategy (dp ring, dp halving-doubling,
# ps sync with one server, mp with 2 and 4 pipelined stages) it
#   1. profiles fashion_cnn (layer times at the per-rank batch, and the link by ping-pong),
#   2. predicts the iteration with `convscale simulate --profile` and `estimate --profile` on the
#      cluster description calibrated with the profiled link,
#   3. executes the plan across the emulated hosts (mpirun into the namespaces),
#   4. compares, and writes bench/validation-emulated.md.
# Also: all-reduce alone, 1 MiB .. 64 MiB, on 4 hosts, predicted (closed form with the profiled
# link) against measured.
#
# Every emulated host owns CPU_SHARE of one CPU (scripts/emulated-cluster --cpu-share; CPUSET=1
# also pins it), in the profiles as in the runs, so a host computes at the same speed whatever
# the other hosts and the machine's other work do. Each row executes REPEATS times; the table
# gives the median of the runs' median iterations and their spread (max - min over the median).
#
#   [CPU_SHARE=0.4] [CPU_PERIOD=10000] [CPUSET=0] [REPEATS=3] [ITERATIONS=10] [WARMUP=2]
#   [BATCH=64] [OUT=FILE]
#   bench/validate-emulated.sh [BUILD_DIR]     (default build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
bin="$build/cli/convscale"
ec="$here/scripts/emulated-cluster"
out=${OUT:-$here/bench/validation-emulated.md}
work=$(mktemp -d /tmp/validate-emulated.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
iters=${ITERATIONS:-10}
warm=${WARMUP:-2}
batch=${BATCH:-64}  # global batch
share=${CPU_SHARE:-0.4}
repeats=${REPEATS:-3}
period=${CPU_PERIOD:-10000}
shares=(--cpu-share "$share" --cpu-period "$period")
[[ ${CPUSET:-0} == 1 ]] && shares+=(--cpuset)

"$ec" --check "${shares[@]}" >/dev/null || { "$ec" --check "${shares[@]}"; exit 77; }
started=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

rows=()
coll_rows=()
calib_rows=()
for rate in 200mbit 1gbit; do
  base=cpu-minicluster
  [[ $rate == 1gbit ]] && base=cpu-minicluster-1g
  # 1. Profile on the emulated hosts themselves, each in its CPU share, with as many ranks as
  #    the runs use (2 for mp 2, 4 for the rest), at the per-rank batch every row uses (16
  #    samples). A layer is shorter than the quota's 10 ms period, so its median is its time at
  #    a whole CPU; --scale-to-iteration scales the medians to the whole iteration's median, the
  #    host's speed. Ranks 0 and 1 also fit the link (ping-pong, least squares: latency + bytes
  #    / bandwidth).
  for np in 2 4; do
    "$ec" --hosts $np --rate "$rate" "${shares[@]}" -- mpirun -np $np "$bin" profile \
      --model fashion_cnn --batch $((batch / 4)) --iterations 20 --warmup 2 --scale-to-iteration \
      --sizes 256KiB,1MiB,4MiB,16MiB -o "$work/profile-$rate-$np.json" 2>/dev/null
  done
  # 2. Describe the emulated cluster (what a user does with `convscale profile` output): NIC
  #    bandwidth = fitted bandwidth, NIC latency = half the fitted one-way latency (a route
  #    crosses two NIC links through the switch), and a host's FLOP/s its CPU share of a core's.
  cluster="$work/$base-calibrated.json"
  calib_rows+=("$(python3 - "$here/topologies/builtin/$base.json" "$work/profile-$rate-4.json" \
    "$cluster" "$rate" "$share" <<'PY'
import json, re, sys
c = json.load(open(sys.argv[1]))
prof = json.load(open(sys.argv[2]))
net, share = prof["network"], float(sys.argv[5])
host = c["node_types"]["emulated-host"]
nics = host["nics"]
nics["bandwidth"] = f"{net['bandwidth_Bps']:.0f}Bps"
nics["latency"] = f"{net['latency_s'] / 2 * 1e6:.1f}us"
def scaled(text):
    value, unit = re.fullmatch(r"([0-9.]+)(.*)", text).groups()
    return f"{float(value) * share:g}{unit}"
dev = c["device_types"][host["device_type"]]
dev["peak"] = {k: scaled(v) for k, v in dev["peak"].items()}
host["host"]["flops"] = scaled(host["host"]["flops"])
c["name"] += "-calibrated"
c["description"] += f"; each host owns {share} of a CPU (cgroup cfs quota)"
json.dump(c, open(sys.argv[3], "w"), indent=1)
it = prof["iteration"]
print(f"| {sys.argv[4]} | {net['bandwidth_Bps'] / 1e6:.2f} MB/s | {net['latency_s'] * 1e6:.0f} us | "
      f"{it['median_s']:.4f} | {it['tasks_median_sum_s']:.4f} | {it['layer_time_scale']:.2f} |")
PY
)")
  for s in "dp ring" "dp halving-doubling" "ps sync" "mp 2" "mp 4"; do
    set -- $s
    name="$1-$2-$rate"
    prof="$work/profile-$rate-4.json"
    case "$1 $2" in
      "dp ring"|"dp halving-doubling")
        args="--gpus 4 --global-batch $batch --strategy dp --algorithm $2"; np=4 ;;
      "ps sync") args="--gpus 3 --batch $((batch / 4)) --strategy ps --servers 1"; np=4 ;;
      "mp 2")
        args="--gpus 2 --global-batch $batch --strategy mp --micro-batches 4 --schedule 1f1b"
        np=2; prof="$work/profile-$rate-2.json" ;;
      "mp 4") args="--gpus 4 --global-batch $batch --strategy mp --micro-batches 4 --schedule 1f1b"; np=4 ;;
    esac
    plan="$work/$name.plan.json"
    if ! "$bin" plan --model fashion_cnn --cluster "$cluster" $args --profile "$prof" \
         -o "$plan" 2>"$work/err"; then
      rows+=("| $rate | $1 $2 | plan failed: $(head -c 120 "$work/err") | | | | |"); continue
    fi
    # 3. Predict: SimGrid (simulate) and the closed-form estimator, both with the profile.
    pred="$work/$name.pred.json"
    est="$work/$name.est.json"
    "$bin" simulate --model fashion_cnn --cluster "$cluster" $args --profile "$prof" \
      --json -o "$pred" 2>"$work/simerr" || echo '{}' >"$pred"
    "$bin" estimate --model fashion_cnn --cluster "$cluster" $args --profile "$prof" \
      --json -o "$est" 2>/dev/null || echo '{}' >"$est"
    # 4. Execute the same plan across the emulated hosts, REPEATS times.
    failed=0
    for ((r = 1; r <= repeats; r++)); do
      meas="$work/$name.meas$r.json"
      if ! timeout 600 "$ec" --hosts $np --rate "$rate" "${shares[@]}" -- mpirun -np $np \
           "$bin" execute --plan "$plan" --iterations $iters --warmup $warm -o "$meas" \
           >"$work/run.log" 2>&1; then
        rows+=("| $rate | $1 $2 | execute failed: $(tail -c 150 "$work/run.log" | tr '\n|' '  ') | | | | | |")
        failed=1
        break
      fi
    done
    [[ $failed == 1 ]] && continue
    # 5. Compare: the median over runs of each run's median iteration.
    rows+=("$(python3 - "$pred" "$est" "$rate" "$1 $2" "$work/$name".meas*.json <<'PY'
import json, statistics, sys
p, e = (json.load(open(f)) for f in sys.argv[1:3])
runs = [json.load(open(f)) for f in sys.argv[5:]]
ts = [m["iteration_time_s"] for m in runs]
mt = statistics.median(ts)
m = runs[ts.index(sorted(ts)[(len(ts) - 1) // 2])]
def cell(j):
    t = j.get("iteration_time_s")
    return (f"{t:.4f}", f"{100 * (t - mt) / mt:+.1f}%") if t else ("n/a", "n/a")
ps, pe = cell(p), cell(e)
print(f"| {sys.argv[3]} | {sys.argv[4]} | {ps[0]} | {ps[1]} | {pe[0]} | {pe[1]} | "
      f"{mt:.4f} ({' '.join(f'{t:.4f}' for t in ts)}) | {100 * (max(ts) - min(ts)) / mt:.1f}% | "
      f"compute {p.get('compute_time_s', 0):.4f}/{m['compute_time_s']:.4f}, "
      f"comm {p.get('comm_time_s', 0):.4f}/{m['comm_time_s']:.4f} |")
PY
)")
  done
  # Collectives alone: ring all-reduce of 1..64 MiB on 4 hosts, against the closed form with the
  # fitted link.
  "$ec" --hosts 4 --rate "$rate" "${shares[@]}" -- mpirun -np 4 "$bin" profile --model fashion_cnn --batch 1 \
    --iterations 3 --warmup 1 --sizes 1MiB,4MiB,16MiB,64MiB -o "$work/coll-$rate.json" 2>/dev/null
  coll_rows+=("$(python3 - "$work/profile-$rate-4.json" "$work/coll-$rate.json" "$rate" <<'PY'
import json, sys
link = json.load(open(sys.argv[1]))["network"]
c = json.load(open(sys.argv[2]))["network"]["allreduce"]
a, B = link["latency_s"], link["bandwidth_Bps"]
out = []
for r in c:
    n, S = r["ranks"], r["bytes"]
    pred = 2 * (n - 1) * a + 2 * (n - 1) / n * S / B
    busbw = S / r["time_s"] * 2 * (n - 1) / n
    out.append(f"| {sys.argv[3]} | {S / 2**20:.0f} MiB | {pred:.4f} | {r['time_s']:.4f} | "
               f"{100 * (pred - r['time_s']) / r['time_s']:+.1f}% | {busbw / 1e6:.2f} |")
print("\n".join(out))
PY
)")
done

# Against the goals: median |simulate error| over the rows, the largest, the largest spread.
goals=$(printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
err, spread = [], []
for line in sys.stdin:
    cells = [c.strip() for c in line.split("|")[1:-1]]
    if len(cells) > 7 and cells[3].endswith("%") and cells[3] != "n/a":
        err.append(abs(float(cells[3][:-1])))
        spread.append(float(cells[7][:-1]))
if err:
    print(f"simulate against measured over {len(err)} rows: median |error| "
          f"{statistics.median(err):.1f}% (goal <= 3%), largest {max(err):.1f}% (goal <= 8%); "
          f"largest run-to-run spread {max(spread):.1f}% (goal <= 3%)")
')
elapsed=$(( $(date +%s) - started ))

{
  echo "# Predicted against measured on the emulated cluster"
  echo
  echo "Machine: $(nproc --all) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared with other"
  echo "work (load average at the start: $load0); date $(date -u +%Y-%m-%dT%H:%MZ); convscale $("$bin" --version | cut -d' ' -f2-);"
  echo "$elapsed s. Command: \`CPU_SHARE=$share CPU_PERIOD=$period CPUSET=${CPUSET:-0} REPEATS=$repeats ITERATIONS=$iters WARMUP=$warm bench/validate-emulated.sh\`"
  echo "(as root). Model fashion_cnn, global batch $batch, $iters measured iterations after $warm"
  echo "warm-up, OMP_NUM_THREADS=1 per rank, $repeats runs per row; hosts are network namespaces on"
  echo "one machine whose links are shaped with tc tbf, each owning $share of one CPU (cgroup v1 cfs"
  echo "quota, $period us period). Predictions: \`convscale simulate\` (SimGrid) and \`convscale estimate\`"
  echo "(closed form), both with the profile measured first on the same emulated hosts under the"
  echo "same shares (layer medians scaled to the whole iteration, \`profile --scale-to-iteration\`)"
  echo "and the cluster description calibrated with the fitted link and the hosts' share. ps uses 3"
  echo "workers at 16 samples each (global batch 48) and one server; the others use 16 samples per"
  echo "rank or micro-batch. Errors are (predicted - measured) / measured; the spread is"
  echo "(max - min) / median of the runs' median iterations."
  echo
  echo "## Calibration (ping-pong between two hosts, fitted; the 4-host profile's iteration)"
  echo
  echo "| link | bandwidth | one-way latency | iteration median (s) | task medians' sum (s) | layer time scale |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${calib_rows[@]}"
  echo
  echo "## Iteration time"
  echo
  echo "$goals"
  echo
  echo "| link | strategy | simulate (s) | error | estimate (s) | error | measured median (runs) (s) | spread | simulate/measured phases (s) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Ring all-reduce alone, 4 hosts (closed form with the profiled latency and bandwidth)"
  echo
  echo "| link | size | predicted (s) | measured (s) | error | measured busbw (MB/s) |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${coll_rows[@]}"
} >"$out"
cat "$out"
