#!/usr/bin/env python3
"""Predict every published point of points.csv from its one-GPU figure and print the error table.

For each row, `convscale simulate` and `convscale estimate` run on the row's cluster with the
row's model, GPU count, per-GPU batch, precision and strategy, calibrated by the published
one-GPU throughput (--single-gpu-throughput). Every option that changes the prediction is passed
explicitly (precision, gradient precision, parameter-server placement and count, all-reduce
algorithm, bucket size, optimizer, collectives mode, iterations, parameter-server aggregation), so
the table does not move when a default changes. No option is chosen per row beyond what the source
publishes: parameter-server rows sum each machine's gradients on the machine
(--ps-aggregation node) where the source's configuration says distributed_replicated, and those
rows are also predicted without it, for the before/after table.

    bench/published/run.py [--convscale BUILD/cli/convscale] [--out bench/published/results.md]
                           [--only REGEX] [--timeout SECONDS] [--extra "FLAGS"] [--jobs N]

--extra appends the same flags to every simulate and estimate command (a mechanism switched on for
the whole set, never for one row). --jobs runs that many commands at once (rows keep their order).
The results file names the command, commit, date and load; a hand-written "Analysis" section at
its end is kept when the file is written again.
"""

import argparse
import concurrent.futures
import csv
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SOURCES = {
    "tfdoc": "TensorFlow performance benchmarks page (tf_cnn_benchmarks, May 2017)",
    "dletf": "NVIDIA DeepLearningExamples, TensorFlow ResNet-50 v1.5 README (20.06 container)",
    "dlemx": "NVIDIA DeepLearningExamples, MXNet ResNet-50 v1.5 README (20.12 container)",
    "horovod": "Horovod README, 2017 benchmark tables (tf_cnn_benchmarks)",
}

PRECISION = {"fp32": "fp32", "tf32": "tf32", "mixed": "fp16"}

# Options every command states, whatever the defaults of the binary are.
COMMON = [
    "--grad-precision", "fp32", "--optimizer", "sgd", "--bucket-size", "25MiB",
]
BINARY_SHAS = set()  # the commits the binary says it was built from (summary context)

SIM_ONLY = ["--collectives", "auto", "--iterations", "3", "--warmup", "1"]


def read_points(path):
    with open(path, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(lines))


def cluster_arg(name):
    # A name ending in .json is a file of bench/published/clusters/; anything else is built in.
    if name.endswith(".json"):
        return os.path.join(HERE, "clusters", name)
    return name


def aggregation(row):
    """Where a parameter-server row's gradients are summed, from the source's own words.

    tf_cnn_benchmarks' distributed_replicated (VariableMgrDistributedReplicated) sums the
    gradients of a worker machine's GPUs on that machine and sends the sum to the parameter
    servers: `node`. Its parameter_server mode and the Horovod README's "Distributed TensorFlow"
    rows (whose variable_update the README does not name) push every GPU's gradient: `none`."""
    return "node" if "distributed_replicated" in row["published_config"] else "none"


def strategy_flags(row, agg):
    s = row["strategy"]
    if s == "dp":
        return ["--strategy", "dp", "--algorithm", "ring"]
    placement = {"ps-host": "host", "ps-colocated": "colocated"}[s]
    return ["--strategy", "ps", "--ps-placement", placement, "--servers", row["servers"],
            "--ps-aggregation", agg]


def command(convscale, verb, row, extra, agg):
    cmd = [convscale, verb, "--model", row["model"], "--cluster", cluster_arg(row["cluster"]),
           "--gpus", row["gpus"], "--batch", row["batch"],
           "--precision", PRECISION[row["precision"]]]
    cmd += strategy_flags(row, agg) + COMMON
    if verb == "simulate":
        cmd += SIM_ONLY
    cmd += ["--single-gpu-throughput", row["gpus1"], "--json"] + extra
    return cmd


def predict(cmd, timeout):
    """Returns (throughput, note): throughput None when refused or failed, note saying why."""
    env = dict(os.environ, CONVSCALE_FIXED_TIMESTAMP="2000-01-01T00:00:00Z")
    with tempfile.TemporaryDirectory(prefix="published-") as tmp:
        out = os.path.join(tmp, "summary.json")
        try:
            p = subprocess.run(cmd + ["-o", out], capture_output=True, text=True,
                               timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return None, "did not finish in %d s" % timeout
        if p.returncode != 0:
            msg = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
            return None, "refused (exit %d): %s" % (p.returncode, msg)
        with open(out) as f:
            summary = json.load(f)
        BINARY_SHAS.add(summary["context"].get("git_sha", "unknown"))
        return summary["throughput_samples_per_s"], ""


def pct(x):
    return "%+.1f%%" % (100 * x)


def summary_rows(rows, key):
    """Median and max |error| (and signed median) of column `key` per source and overall."""
    out = []
    groups = [(s, [r for r in rows if r["source"] == s]) for s in SOURCES]
    groups.append(("all", rows))
    for name, group in groups:
        errs = [r[key] for r in group if r[key] is not None]
        refused = sum(1 for r in group if r[key] is None)
        if not errs:
            out.append("| %s | 0 | %d | - | - | - |" % (name, refused))
            continue
        absolute = [abs(e) for e in errs]
        out.append("| %s | %d | %d | %.1f%% | %s | %.1f%% |" % (
            name, len(errs), refused, 100 * statistics.median(absolute),
            pct(statistics.median(errs)), 100 * max(absolute)))
    return out


def strategy_order(rows):
    """Published all-reduce vs parameter-server pairs: rows whose ids differ only in -dp-/-ps-."""
    lines = []
    by_key = {}
    for r in rows:
        m = re.match(r"(.*)-(dp|ps)-(.*)", r["id"])
        if m:
            by_key.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = r
    for _, pair in sorted(by_key.items()):
        if len(pair) != 2:
            continue
        dp, ps = pair["dp"], pair["ps"]
        key = (dp["source"], dp["model"], dp["cluster"], dp["gpus"])
        pub = "dp" if float(dp["gpusN"]) > float(ps["gpusN"]) else "ps"
        if dp["sim"] is None or ps["sim"] is None:
            kept = "no prediction"
        else:
            sim = "dp" if dp["sim"] > ps["sim"] else "ps"
            kept = "kept" if sim == pub else "NOT kept (simulate says %s faster)" % sim
        lines.append("| %s | %s | %s | %s | %s faster | %s |" % (
            key[1], key[2], key[3], key[0], pub, kept))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--convscale", default=os.path.join(ROOT, "build", "cli", "convscale"))
    ap.add_argument("--points", default=os.path.join(HERE, "points.csv"))
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--only", default="", help="regular expression on the row id")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per command")
    ap.add_argument("--extra", default="", help="flags added to every command")
    ap.add_argument("--jobs", type=int, default=1, help="commands run at once")
    args = ap.parse_args()
    extra = shlex.split(args.extra)

    rows = [r for r in read_points(args.points) if re.search(args.only, r["id"])]
    # Every prediction: (row, key, verb, aggregation). "sim"/"est" use the aggregation the
    # source describes; "sim0"/"est0" (before in-node aggregation) every worker pushing, run only
    # for the rows where the two differ.
    jobs = []
    for r in rows:
        r["agg"] = aggregation(r) if r["strategy"] != "dp" else "-"
        for verb, key in (("simulate", "sim"), ("estimate", "est")):
            jobs.append((r, key, verb, r["agg"]))
            if r["agg"] == "node":
                jobs.append((r, key + "0", verb, "none"))

    def run(job):
        r, key, verb, agg = job
        cmd = command(args.convscale, verb, r, extra, agg)
        return job, cmd, predict(cmd, args.timeout)

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for (r, key, verb, agg), cmd, (value, note) in pool.map(run, jobs):
            pub = float(r["gpusN"])
            if key == "sim":
                r["sim_cmd"] = " ".join(shlex.quote(os.path.relpath(c, ROOT) if c.startswith(ROOT)
                                                    else c) for c in cmd)
            r[key] = None if value is None else (value - pub) / pub
            r[key + "_value"] = value
            r[key + "_note"] = note
            print("%-28s %-8s %-4s published %9.1f  predicted %s" % (
                r["id"], verb, agg, pub, note or "%9.1f (%s)" % (value, pct(r[key]))), flush=True)
    for r in rows:
        for key in ("sim", "est"):
            if r["agg"] != "node":
                for field in ("", "_value", "_note"):
                    r[key + "0" + field] = r[key + field]
    finished = datetime.datetime.now(datetime.timezone.utc)
    load_after = os.getloadavg()

    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    argv = " ".join(shlex.quote(a) for a in ["bench/published/run.py"] + sys.argv[1:])

    md = ["# Published scaling points: predicted against measured", ""]
    md.append("Generated by `%s` (bench/published/run.py; README.md says what each column means)." %
              argv)
    md.append("")
    md.append("- commit of the tree: %s%s; the binary's own `git_sha`: %s" % (
        commit, " (with uncommitted changes)" if dirty else "",
        ", ".join(sorted(BINARY_SHAS)) or "none (no prediction)"))
    md.append("- date: %s to %s (UTC)" % (started.strftime("%Y-%m-%d %H:%M"),
                                            finished.strftime("%H:%M")))
    md.append("- load average (1, 5, 15 min) before: %.2f %.2f %.2f; after: %.2f %.2f %.2f" %
              (load_before + load_after))
    md.append("- flags added to every command: `%s`" % (args.extra or "none"))
    md.append("- parameter-server rows: `--ps-aggregation node` where the source's configuration "
              "is tf_cnn_benchmarks' `distributed_replicated` (it sums a machine's gradients on "
              "the machine before pushing), `none` elsewhere (run.py `aggregation()`); the "
              "\"before\" tables run the `node` rows with `none`")
    md.append("- predictors: `convscale simulate` (SimGrid) and `convscale estimate` (closed "
              "form), each calibrated by the row's published one-GPU throughput at the row's "
              "batch and precision (mixed = `--precision fp16`); gradients on the wire fp32")
    md.append("- error = (predicted - published) / published, throughput in images/s")
    md.append("")
    md.append("## Summary")
    md.append("")
    for title, key in (("simulate", "sim"), ("estimate", "est"),
                       ("simulate, before in-node aggregation (every worker pushes)", "sim0"),
                       ("estimate, before in-node aggregation", "est0")):
        md.append("`%s`:" % title)
        md.append("")
        md.append("| source | rows predicted | refused / failed | median abs. error | "
                  "median signed error | max abs. error |")
        md.append("|---|---|---|---|---|---|")
        md.extend(summary_rows(rows, key))
        md.append("")
    order = strategy_order(rows)
    if order:
        md.append("Strategy order in the published all-reduce vs parameter-server comparisons "
                  "(simulate):")
        md.append("")
        md.append("| model | cluster | GPUs | source | published | order |")
        md.append("|---|---|---|---|---|---|")
        md.extend(order)
        md.append("")
    md.append("## Rows")
    md.append("")
    md.append("| id | model | cluster | GPUs | strategy | ps aggregation | precision | "
              "batch/GPU | published 1 GPU | published N GPUs | simulate | error | estimate | "
              "error |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def cell(r, key):
        if r[key] is None:
            return r[key + "_note"], "-"
        return "%.1f" % r[key + "_value"], pct(r[key])

    for r in rows:
        s, se = cell(r, "sim")
        e, ee = cell(r, "est")
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["id"], r["model"], r["cluster"], r["gpus"], r["strategy"] +
            (" (%s servers)" % r["servers"] if r["strategy"] != "dp" else ""), r["agg"],
            r["precision"], r["batch"], r["gpus1"], r["gpusN"], s, se, e, ee))
    md.append("")
    changed = [r for r in rows if r["agg"] == "node"]
    if changed:
        md.append("## Before and after in-node aggregation")
        md.append("")
        md.append("The rows run with `--ps-aggregation node`, predicted with `none` (before) and "
                  "`node` (after), images/s:")
        md.append("")
        md.append("| id | GPUs | servers | published | simulate none | error | simulate node | "
                  "error | estimate none | error | estimate node | error |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in changed:
            cells = []
            for key in ("sim0", "sim", "est0", "est"):
                cells.extend(cell(r, key))
            md.append("| %s | %s | %s | %s | %s |" % (r["id"], r["gpus"], r["servers"],
                                                     r["gpusN"], " | ".join(cells)))
        md.append("")
    md.append("The simulate command of the first row (the others differ only in the row's "
              "values):")
    md.append("")
    if rows:
        md.append("    " + rows[0]["sim_cmd"])
    md.append("")

    # The hand-written analysis below this heading survives a rerun.
    kept = "## Analysis (hand-written; run.py keeps this section)"
    if os.path.exists(args.out):
        with open(args.out) as f:
            previous = f.read()
        if kept in previous:
            md.append(previous[previous.index(kept):].rstrip("\n"))
            md.append("")
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(md))
    os.replace(tmp, args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
