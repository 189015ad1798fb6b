#!/usr/bin/env bash
# srun against mpirun for the same 2-rank fashion_cnn data-parallel plan (global batch 64, 20
# measured iterations after 2 warm-up), each launch under several CPU-binding and thread
# settings, on a single-machine Slurm (scripts/slurm/local-cluster) started once with
# TaskPlugin=task/none and once with task/affinity. Prints one Markdown row per launch: the
# median iteration time (seconds, from the summary), the ranks' CPU masks, OMP_NUM_THREADS and
# the compute threads the summary's device names.
# Each setting runs ROUNDS times, the settings interleaved, so background load hits all alike.
#
#   bench/slurm-srun.sh [BUILD_DIR] [ROUNDS]     (defaults: build, 3; as root)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
rounds=${2:-3}
bin="$build/cli/convscale"
work=$(mktemp -d /tmp/slurm-srun.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
"$bin" plan --model fashion_cnn --cluster cpu-minicluster --gpus 2 --global-batch 64 \
  -o "$work/plan.json" >/dev/null
cat >"$work/rank.sh" <<'EOF'
#!/bin/bash
# One rank: note its CPU mask and OpenMP setting, then run convscale.
echo "$(grep Cpus_allowed_list /proc/self/status | cut -f2) ${OMP_NUM_THREADS:-unset}" \
  >>"$RANK_LOG"
exec "$@"
EOF
chmod +x "$work/rank.sh"

# Runs one launch: LABEL then the launcher's command line (before the rank command);
# EXEC_EXTRA holds more `execute` options.
run() {
  local label=$1
  shift
  local out="$work/out.json"
  : >"$work/ranks.log"
  RANK_LOG=$work/ranks.log "$@" "$work/rank.sh" "$bin" execute --plan "$work/plan.json" \
    --backend cpu --iterations 20 --warmup 2 ${EXEC_EXTRA:-} -o "$out" >"$work/run.log" 2>&1 ||
    { echo "| $label | failed: $(tail -3 "$work/run.log" | tr '\n' ' ') | | | |"; return; }
  python3 - "$out" "$label" "$work/ranks.log" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
ranks = sorted(open(sys.argv[3]).read().split("\n")[:-1])
masks = ", ".join(r.split()[0] for r in ranks)
omp = ranks[0].split()[1] if ranks else "?"
threads = m["context"]["device"].rsplit(", ", 1)[-1].rstrip(")")
print(f"| {sys.argv[2]} | {m['iteration_time_s']:.3f} | {masks} | {omp} | {threads} |")
PY
}

mpirun_args=(mpirun --allow-run-as-root --oversubscribe -np 2)
settings() {  # TASK_PLUGIN
  local tp=$1
  for ((r = 1; r <= rounds; r++)); do
    if [[ $tp == task/none ]]; then
      run "mpirun (binds to core)" "${mpirun_args[@]}"
      run "mpirun --bind-to none" "${mpirun_args[@]}" --bind-to none
      run "mpirun --bind-to none, OMP_NUM_THREADS=1" env OMP_NUM_THREADS=1 \
        "${mpirun_args[@]}" --bind-to none -x OMP_NUM_THREADS
      EXEC_EXTRA="--threads 1" run "mpirun --bind-to none, --threads 1" \
        "${mpirun_args[@]}" --bind-to none
    fi
    run "srun, $tp" srun -n 2 --mpi=pmix
    run "srun, $tp, OMP_NUM_THREADS=1" env OMP_NUM_THREADS=1 srun -n 2 --mpi=pmix
    EXEC_EXTRA="--threads 1" run "srun, $tp, --threads 1" srun -n 2 --mpi=pmix
    if [[ $tp == task/affinity ]]; then
      run "srun --cpu-bind=none, $tp" srun -n 2 --mpi=pmix --cpu-bind=none
    fi
  done
}
echo "| launch | median iteration (s) | rank CPU masks | OMP_NUM_THREADS | compute threads |"
echo "| --- | --- | --- | --- | --- |"
export -f run settings
export work bin rounds
for tp in task/none task/affinity; do
  "$here/scripts/slurm/local-cluster" --task-plugin "$tp" -- bash -c "$(declare -p mpirun_args); settings $tp"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
