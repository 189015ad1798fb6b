#!/usr/bin/env bash
# The Slurm paths against a real Slurm: scripts/slurm/local-cluster brings up munged, slurmctld
# and slurmd on this machine, then, inside it:
#   1. a sweep as a job array (scripts/slurm/sweep-array.sbatch, sbatch --array=1-3 --wait),
#      merged with `sweep merge`: every file byte-identical to an unsharded run;
#   2. the same array with task 2 cancelled while it runs (scancel): the array fails, Slurm
#      records the task CANCELLED, and `sweep merge` says the sweep is incomplete, naming shard
#      2/3 and its folder;
#   3. `execute` of 2- and 4-rank fashion_cnn plans launched by srun (--mpi=pmix): ranks
#      0..N-1 from Slurm's PMIx, the summary the same as under mpirun (its keys, context,
#      counts, bytes, losses, ranks) and every rank's trained weights byte-identical.
# Afterwards: no process of the cluster is left and its folder is gone.
# Usage: slurm_test.sh CONVSCALE SOURCE_DIR. Exit 0 passed, 1 failed, 77 skipped (reason printed).
set -euo pipefail

if [[ "${1:-}" == --inside ]]; then
  inside=1
  shift
else
  inside=0
fi
bin=$(realpath "$1")
src=$(realpath "$2")

fail() {
  echo "FAIL: $*"
  exit 1
}

if [[ $inside -eq 0 ]]; then
  skip() {
    echo "SKIP: $*"
    exit 77
  }
  if ! reason=$("$src/scripts/slurm/local-cluster" --check); then
    skip "${reason#local-cluster: cannot run: }"
  fi
  for c in sweep simulate execute; do
    "$bin" "$c" --help >/dev/null 2>&1 || skip "convscale was built without \`$c\`"
  done
  command -v mpirun >/dev/null || skip "mpirun is not installed (the srun runs are compared with it)"
  command -v python3 >/dev/null || skip "python3 is not installed (it compares the summaries)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/convscale-slurm-test.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # The job steps run as root from $work; Slurm writes their output there.
  chmod 755 "$work"
  start=$SECONDS
  rc=0
  "$src/scripts/slurm/local-cluster" -- "$0" --inside "$bin" "$src" "$work" || rc=$?
  [[ $rc -eq 0 ]] || fail "the checks inside the cluster failed (exit $rc)"
  # The harness's own cleanup check passed (else it exits 1); check it from outside too.
  cluster_dir=$(cat "$work/cluster-dir")
  [[ ! -e "$cluster_dir" ]] || fail "the cluster's folder $cluster_dir is still there"
  if ps -eo pid=,args= | grep -F -- "$cluster_dir" | grep -v grep; then
    fail "processes of the cluster outlived it (above)"
  fi
  echo "slurm test: passed in $((SECONDS - start)) s (cluster up, sweep array, killed task, srun x2, teardown)"
  exit 0
fi

# ---- Inside the cluster: SLURM_CONF, LOCAL_SLURM_DIR, LOCAL_SLURM_CPUS are set. ---------------
work=$3
cd "$work"
echo "$LOCAL_SLURM_DIR" >cluster-dir
export CONVSCALE_FIXED_TIMESTAMP=2026-01-01T00:00:00Z
export CONVSCALE=$bin
sweep=(--model fashion_cnn --cluster cpu-minicluster --strategies dp,mp --gpus 1,2)
log() { echo "slurm test: $* ($((SECONDS)) s)"; }

# 1. The array, merged, against an unsharded run.
"$bin" sweep "${sweep[@]}" --jobs 1 -o whole >whole.log 2>&1 || fail "unsharded sweep: $(cat whole.log)"
sbatch --array=1-3 --wait --output="$work/array-%a.log" \
  "$src/scripts/slurm/sweep-array.sbatch" "$work/out" "${sweep[@]}" >submit.log 2>&1 ||
  fail "sbatch --array=1-3 --wait failed: $(cat submit.log array-*.log)"
for i in 1 2 3; do
  [[ -s out/shard-$i/sweep.json ]] || fail "shard $i wrote no sweep.json: $(cat array-$i.log)"
  grep -q "\"shard\": \"$i/3\"" out/shard-$i/sweep.json || fail "out/shard-$i is not shard $i/3"
done
"$bin" sweep merge out/shard-1 out/shard-2 out/shard-3 -o merged >merge.log 2>&1 ||
  fail "sweep merge: $(cat merge.log)"
(cd whole && find . -type f | sort) >whole.files
(cd merged && find . -type f | sort) >merged.files
cmp -s whole.files merged.files || fail "merged files differ from the unsharded run's: $(diff whole.files merged.files)"
[[ $(wc -l <whole.files) -ge 8 ]] || fail "the unsharded run wrote only $(wc -l <whole.files) files"
while read -r f; do
  cmp -s "whole/$f" "merged/$f" || fail "merged $f differs from the unsharded run's"
done <whole.files
log "array of 3 shards merged byte-identical to the unsharded run ($(wc -l <whole.files) files)"

# 2. Task 2 cancelled while it runs. A wrapper holds task 2 (after creating its output folder,
# as sweep does first) until it is cancelled; tasks 1 and 3 run convscale itself.
cat >hold-task-2 <<EOF
#!/bin/bash
if [[ \$SLURM_ARRAY_TASK_ID == 2 ]]; then
  mkdir -p "\${@: -1}/points"
  touch "$work/task-2-running"
  exec sleep 300
fi
exec "$bin" "\$@"
EOF
chmod +x hold-task-2
job=$(CONVSCALE=$work/hold-task-2 sbatch --parsable --array=1-3 --output="$work/killed-%a.log" \
  "$src/scripts/slurm/sweep-array.sbatch" "$work/killed" "${sweep[@]}")
job=${job%%;*}
for _ in $(seq 1 600); do
  [[ -e task-2-running ]] && break
  sleep 0.1
done
[[ -e task-2-running ]] || fail "array task ${job}_2 did not start in 60 s"
scancel "${job}_2"
for _ in $(seq 1 600); do
  [[ -z "$(squeue -h -j "$job" -o %i)" ]] && break
  sleep 0.1
done
[[ -z "$(squeue -h -j "$job" -o %i)" ]] || fail "array $job did not end in 60 s"
scontrol show job "${job}_2" | grep -q 'JobState=CANCELLED' ||
  fail "task ${job}_2 is not CANCELLED: $(scontrol show job "${job}_2")"
for i in 1 3; do
  [[ -s killed/shard-$i/sweep.json ]] || fail "shard $i of the killed array wrote no sweep.json"
done
[[ -d killed/shard-2 && ! -e killed/shard-2/sweep.json ]] || fail "killed/shard-2 should exist without sweep.json"
rc=0
"$bin" sweep merge killed/shard-1 killed/shard-2 killed/shard-3 -o killed-merged >merge-killed.log 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "merging with a killed shard exited $rc, expected 2: $(cat merge-killed.log)"
expected="convscale: sweep merge: the sweep is incomplete: shard 2/3 is missing (1 of 4 points: dp 2 GPUs baseline); killed/shard-2: no sweep.json (a shard that did not finish: killed, failed or still running); give the folders of all the shards"
[[ "$(cat merge-killed.log)" == "$expected" ]] || fail "merge said: $(cat merge-killed.log)
expected:   $expected"
log "a cancelled array task: merge names shard 2/3"

# 3. execute under srun against mpirun, 2 and 4 ranks.
# The summaries of one plan run twice: the same keys everywhere; equal context (but the
# timestamp and the clock's uncertainty), iteration counts, bytes, losses and, per rank, the
# rank, its role, replica, host and the allocator's memory (peak and categories). Times differ
# from run to run.
compare_summaries() {
  python3 - "$1" "$2" <<'EOF'
import json, sys

a, b = (json.load(open(f)) for f in sys.argv[1:3])

def keys(j, p=""):
    out = set()
    if isinstance(j, dict):
        for k, v in j.items():
            out |= {p + "/" + k} | keys(v, p + "/" + k)
    elif isinstance(j, list):
        for i, v in enumerate(j):
            out |= keys(v, p + "/" + str(i))
    return out

def same(what, x, y):
    if x != y:
        sys.exit(f"{what}: {x} under srun, {y} under mpirun")

same("keys only in one", sorted(keys(a) - keys(b)), sorted(keys(b) - keys(a)))
for j in (a, b):
    del j["context"]["timestamp"], j["context"]["clock_uncertainty_s"]
same("context", a["context"], b["context"])
for k in ("measured", "comm_bytes_total", "loss"):
    same(k, a[k], b[k])
for k in ("warmup", "measured"):
    same("iterations/" + k, a["iterations"][k], b["iterations"][k])
same("iterations/times_s (count)", len(a["iterations"]["times_s"]), len(b["iterations"]["times_s"]))
for ra, rb in zip(a["ranks"], b["ranks"]):
    for k in ("rank", "role", "stage", "replica", "host", "memory_peak_bytes", "memory"):
        same(f"ranks/{ra['rank']}/{k}", ra[k], rb[k])
EOF
}
for n in 2 4; do
  "$bin" plan --model fashion_cnn --cluster cpu-minicluster --gpus $n --global-batch 32 \
    -o plan-$n.json >/dev/null 2>&1 || fail "plan for $n ranks"
  args=(execute --plan plan-$n.json --backend cpu --iterations 3 --warmup 1 --lr 0.05)
  mkdir -p mpirun-$n srun-$n
  OMP_NUM_THREADS=1 timeout 120 mpirun --allow-run-as-root --oversubscribe -np $n "$bin" \
    "${args[@]}" -o mpirun-$n/summary.json --dump-weights mpirun-$n >mpirun-$n.log 2>&1 ||
    fail "mpirun -np $n: $(cat mpirun-$n.log)"
  # --overcommit: 4 ranks on a node of fewer CPUs, as mpirun's --oversubscribe.
  OMP_NUM_THREADS=1 timeout 120 srun -n $n --overcommit --mpi=pmix "$bin" \
    "${args[@]}" -o srun-$n/summary.json --dump-weights srun-$n >srun-$n.log 2>&1 ||
    fail "srun -n $n --mpi=pmix: $(cat srun-$n.log)"
  for ((r = 0; r < n; r++)); do
    [[ -s srun-$n/rank$r.weights ]] || fail "srun -n $n: rank $r wrote no weights (ranks from PMIx?)"
    cmp -s mpirun-$n/rank$r.weights srun-$n/rank$r.weights ||
      fail "srun -n $n: rank $r's weights differ from mpirun's"
  done
  [[ ! -e srun-$n/rank$n.weights ]] || fail "srun -n $n: a rank $n exists"
  why=$(compare_summaries srun-$n/summary.json mpirun-$n/summary.json 2>&1) ||
    fail "srun -n $n: the summary differs from mpirun's: $why"
  log "srun -n $n --mpi=pmix: summary and weights as under mpirun"
done
