#!/usr/bin/env python3
"""Per layer type: the device time `convscale execute --trace` measured against the profile.

    python3 bench/trace_vs_profile.py PROFILE.json TRACE.json [EXECUTE.json]

For each layer type, the sum over its layers and phases (forward, backward-data, backward-weight)
of the median task duration over the trace's iterations, beside the profile's time for the same
tasks (rank 0); then, per rank, the sum of its compute tasks' medians and the median over
iterations of their per-iteration sum (compute thread, tid 0), and the executed iteration time
when the execute summary is given. Milliseconds. Used for bench/gpu-check-2026-11-27.md (runs 5-6), on the
profile, trace and summary scripts/gpu-check keeps in its log folder.
"""
import collections
import json
import statistics
import sys

PHASE = {"fwd": "forward_s", "bwd-data": "backward_data_s", "bwd-weight": "backward_weight_s"}


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    profile = json.load(open(argv[1]))
    layers = {l["name"]: l for l in profile["layers"]}
    events = [e for e in json.load(open(argv[2]))["traceEvents"] if e.get("ph") == "X"]
    durations = collections.defaultdict(list)  # (rank, task name) -> ms
    per_iteration = collections.defaultdict(float)  # (rank, iteration) -> ms
    for e in events:
        if e.get("tid", 0) != 0:
            continue  # communication lanes
        durations[(e["pid"], e["name"])].append(e["dur"] * 1e-3)
        per_iteration[(e["pid"], e["args"].get("iteration"))] += e["dur"] * 1e-3
    by_type = collections.defaultdict(lambda: [0.0, 0.0])
    for (rank, name), ds in durations.items():
        layer, _, phase = name.partition("/")
        if rank != 0:
            continue
        if layer in layers and phase in PHASE:
            t = by_type[layers[layer]["type"]]
            t[0] += statistics.median(ds)
            t[1] += layers[layer][PHASE[phase]] * 1e3
    print("| layer type | execute (ms, median per iteration) | profile (ms) |")
    print("|---|---|---|")
    for kind, (run, prof) in sorted(by_type.items(), key=lambda kv: -kv[1][0]):
        print(f"| {kind} | {run:.2f} | {prof:.2f} |")
    for rank in sorted({r for r, _ in durations}):
        total = sum(statistics.median(ds) for (r, _), ds in durations.items() if r == rank)
        sums = [v for (r, _), v in per_iteration.items() if r == rank]
        print(f"rank {rank}: sum of per-task medians {total:.2f} ms, "
              f"per-iteration sum (median) {statistics.median(sums):.2f} ms")
    if len(argv) > 3:
        print(f"iteration: {json.load(open(argv[3]))['iteration_time_s'] * 1e3:.2f} ms")


if __name__ == "__main__":
    main(sys.argv)
