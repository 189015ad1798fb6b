#!/bin/sh
# Coarse against exact parameter-server messages (docs/simulator.md, "Coarse parameter-server
# messages"): `convscale simulate --strategy ps` with --collectives exact and coarse, for ResNet-50
# and VGG-16 on dgx-a100-hdr200, 16/32/64 GPUs, sync and async, servers colocated and on
# dedicated hosts (one server per node, the default count), default precision and iterations
# (1 warm-up + 3). Prints one Markdown row per case: the two iteration times, the error of
# coarse against exact, and the CPU seconds (user + system, the simulation's child included) of
# each. Results: bench/ps-coarse-results.md.
#   bench/ps-coarse.sh [BUILD_DIR [GPU_COUNTS [MODELS]]]   (defaults: build, "16 32 64", "resnet50 vgg16")
set -eu
B=${1:-build}/cli/convscale
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT  # the summaries and times of one case
echo "commit $(git -C "$(dirname "$0")" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
uptime
echo "| model | GPUs | servers | sync | exact s | coarse s | coarse - exact | exact CPU s | coarse CPU s |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in ${3:-resnet50 vgg16}; do
  for n in ${2:-16 32 64}; do
    for placement in colocated dedicated; do
      for mode in sync async; do
        flag=""
        if [ "$mode" = async ]; then flag=--async; fi
        for c in exact coarse; do
          /usr/bin/time -f "%U %S" -o "$T/time.$c" "$B" simulate --model "$model" \
            --cluster dgx-a100-hdr200 --gpus "$n" --strategy ps --ps-placement "$placement" \
            $flag --collectives "$c" -o "$T/$c.json" >/dev/null
        done
        python3 - "$T" "$model" "$n" "$placement" "$mode" <<'PY'
import json, sys
t, model, n, placement, mode = sys.argv[1:]
r = {}
for c in ("exact", "coarse"):
    d = json.load(open(f"{t}/{c}.json"))
    u, s = open(f"{t}/time.{c}").read().split()[-2:]
    r[c] = (d["iteration_time_s"], float(u) + float(s), d["simulation"].get("ps_messages"))
    assert r[c][2] == c, (c, r[c][2])
e, c = r["exact"][0], r["coarse"][0]
print(f"| {model} | {n} | {int(n) // 8} {placement} | {mode} | {e:.6f} | {c:.6f} | "
      f"{100 * (c - e) / e:+.2f}% | {r['exact'][1]:.1f} | {r['coarse'][1]:.1f} |")
PY
      done
    done
  done
done
uptime
