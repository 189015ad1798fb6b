#!/bin/bash
# Peak memory, measured against predicted, on the CPU backend: `convscale execute` of fashion_cnn
# and ResNet-18 at 32x32 input (the zoo model with its input set to 3x32x32; 1000 classes) for dp,
# ps (one dedicated server), ps with in-node aggregation (cpu-minicluster with 2 devices on each
# of 2 nodes: 4 workers, one server on a host CPU), mp (2 stages; gpipe and 1f1b, 4
# micro-batches) and dp x pp (2 replicas x 2 stages, 2 micro-batches), all ranks on this machine
# under mpirun. Per rank:
# the backend allocator's peak (memory_peak_bytes: weights, gradients, optimizer state, the
# activation arena of the memory plan, staging buffers, workspace) against the memory model's
# (memory_predicted_bytes) in the plan. Writes the Markdown table to stdout.
#
# Usage: bench/memory.sh [BUILD_DIR] > bench/memory-results.md
set -euo pipefail
build="${1:-build}"
bin="$(cd "$build" && pwd)/cli/convscale"
src="$(cd "$(dirname "$0")/.." && pwd)"
build_arg="$build"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The model file is named as the model, in the folder execute runs in: execute loads the model
# the plan names.
cd "$work"
"$bin" model export resnet18 -o - |
  python3 -c 'import json,sys; m=json.load(sys.stdin); m["name"]="resnet18_32.json"; m["input"]["height"]=m["input"]["width"]=32; json.dump(m,sys.stdout)' \
    >resnet18_32.json
# cpu-minicluster as 2 nodes of 2 devices, for in-node aggregation.
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["name"]="cpu-2x2"; c["nodes"]=2; c["node_types"]["emulated-host"]["devices"]=2; json.dump(c,sys.stdout)' \
  "$src/topologies/builtin/cpu-minicluster.json" >cpu-2x2.json

# label|cluster|plan arguments
strategies=(
  "dp|cpu-minicluster|--gpus 2 --global-batch 64"
  "ps|cpu-minicluster|--gpus 2 --global-batch 64 --strategy ps --servers 1"
  "ps node|cpu-2x2.json|--gpus 4 --global-batch 64 --strategy ps --servers 1 --ps-placement host --ps-aggregation node"
  "mp gpipe|cpu-minicluster|--gpus 2 --global-batch 64 --strategy mp --micro-batches 4"
  "mp 1f1b|cpu-minicluster|--gpus 2 --global-batch 64 --strategy mp --micro-batches 4 --schedule 1f1b"
  "dp x pp|cpu-minicluster|--gpus 4 --global-batch 64 --strategy hybrid --stages 2 --micro-batches 2"
)
start=$(date +%s)
load0=$(cut -d' ' -f1 /proc/loadavg)
echo "# Peak memory: measured (CPU backend) against the memory model"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
echo "$(free -g | awk '/Mem:/ {print $2}') GiB. Date $(date -u +%Y-%m-%dT%H:%MZ); load average at the start"
echo "$load0; convscale $("$bin" --version | cut -d' ' -f2-)."
echo "Command: \`bench/memory.sh $build_arg\`. Cluster \`cpu-minicluster\` (ps node: 2 nodes of 2 devices), fp32, SGD with momentum,"
echo "global batch 64, 2 iterations after 1 warm-up, \`OMP_NUM_THREADS=1\`."
echo
echo "Predicted: the memory model of the plan (\`memory_predicted_bytes\`; activations = the memory"
echo "plan's peak of live bytes). Measured: the bytes the rank's backend reserved through its own"
echo "allocator (\`memory_peak_bytes\`; activations = the arena the plan's offsets span). Neither"
echo "counts memory oneDNN or MPI reserve themselves (\`memory_process_bytes\`, the process's maximum"
echo "resident set, is given for scale). MB = 1e6 bytes."
echo
echo "| model | strategy | rank | role | predicted MB | measured MB | error | activations predicted / measured MB | process RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in fashion_cnn resnet18_32.json; do
  name=$(basename "$model" .json)
  for entry in "${strategies[@]}"; do
    IFS='|' read -r label cluster args <<<"$entry"
    plan="$work/plan.json"
    "$bin" plan --model "$model" --cluster "$cluster" --precision fp32 $args -o "$plan"
    ranks=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["ranks"]))' "$plan")
    OMP_NUM_THREADS=1 timeout 600 mpirun --allow-run-as-root --oversubscribe -np "$ranks" \
      "$bin" execute --plan "$plan" --iterations 2 --warmup 1 -o "$work/sum.json" >/dev/null
    python3 - "$work/sum.json" "$name" "$label" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for r in j["ranks"]:
    p, m = r["memory_predicted_bytes"], r["memory_peak_bytes"]
    pa, ma = r["memory_predicted"]["activations_bytes"], r["memory"]["activations_bytes"]
    print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['rank']} | {r['role']} | {p/1e6:.3f} | {m/1e6:.3f} "
          f"| {100*(m/p-1):+.1f}% | {pa/1e6:.3f} / {ma/1e6:.3f} | {r['memory_process_bytes']/1e6:.0f} |")
PY
  done
done
echo
echo "Run time: $(( $(date +%s) - start )) s wall."
