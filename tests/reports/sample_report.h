// A hand-made Report used by the writer tests: numbers chosen so every derived figure can be
// checked by hand. `model` and `cluster` let tests inject hostile names.
#pragma once

#include <string>

#include "reports/analysis.h"
#include "reports/records.h"

namespace convscale::reports::testing {

inline Candidate MakeCandidate(const std::string& strategy, Json options, double compute,
                               double exposed, double bubble, double batch, int gpus,
                               double one_gpu) {
  Candidate c;
  c.strategy = strategy;
  c.options = std::move(options);
  c.label = CandidateLabel(strategy, c.options);
  c.predicted_by = "estimate";
  c.compute_time_s = compute;
  c.exposed_comm_time_s = exposed;
  c.bubble_time_s = bubble;
  c.comm_time_s = exposed * 2;
  c.iteration_time_s = compute + exposed + bubble;
  c.throughput_samples_per_s = batch / c.iteration_time_s;
  c.speedup = c.throughput_samples_per_s / one_gpu;
  c.scaling_efficiency = c.speedup / gpus;
  c.comm_bytes_total = 1.5e9;
  c.memory_peak_bytes = 20.0 * 1024 * 1024 * 1024;
  c.memory_capacity_bytes = 80.0 * 1024 * 1024 * 1024;
  return c;
}

inline Report SampleReport(const std::string& model = "vgg16",
                           const std::string& cluster = "dgx-a100-hdr200") {
  Report r;
  r.title = "convscale report: " + model;
  r.context = Json::object();
  r.context["tool"] = "convscale";
  r.context["kind"] = "report";
  r.context["version"] = "0.1.0";
  r.context["git_sha"] = "abc123";
  r.context["schema_version"] = kSchemaVersion;
  r.context["timestamp"] = "2026-01-01T00:00:00Z";
  r.context["model"] = model;

  SelectionReport sel;
  Facts& f = sel.facts;
  f.model = model;
  f.cluster = cluster;
  f.device = "A100-SXM4-80GB";
  f.gpus = 16;
  f.devices_per_node = 8;
  f.global_batch = 512;
  f.per_device_batch = 32;
  f.compute_precision = "bf16";
  f.grad_precision = "fp32";
  f.parameters = 138.36e6;
  f.fc_parameter_fraction = 0.8963;
  f.inter_node_bandwidth_Bps = 25e9;
  f.network = "200 Gbit/s InfiniBand";
  f.single_device_throughput = 400;  // samples/s
  // 512 samples: owt 0.08 s compute + 0.01 exposed = 0.09 s -> 5689 samples/s.
  sel.candidates.push_back(MakeCandidate("dp", {{"algorithm", "ring"}, {"grad_precision", "fp32"}},
                                         0.08, 0.12, 0, 512, 16, 400));
  sel.candidates.push_back(
      MakeCandidate("hybrid", {{"hybrid", "owt"}}, 0.08, 0.01, 0, 512, 16, 400));
  sel.candidates.push_back(
      MakeCandidate("mp", {{"stages", 16}, {"micro_batches", 4}, {"schedule", "gpipe"}}, 0.08, 0.01,
                    0.3, 512, 16, 400));
  Candidate big = MakeCandidate("dp", {{"algorithm", "tree"}, {"batch", "x,\"2\""}}, 0.05, 0.0, 0,
                                512, 16, 400);
  big.fits = false;
  big.memory_peak_bytes = 94.1 * 1024 * 1024 * 1024;
  sel.candidates.push_back(big);
  Candidate bad;
  bad.strategy = "ps";
  bad.options = {{"servers", 3}};
  bad.label = "ps servers=3";
  bad.error = "--servers 3: more servers than nodes (2)";
  sel.candidates.push_back(bad);
  Rank(sel.candidates);
  ExplainAll(f, sel.candidates);
  r.selections.push_back(sel);

  SweepReport sw;
  sw.facts = f;
  sw.facts.gpus = 0;
  sw.facts.gpu_hour_price_usd = 2.0;
  // dp: 400, 780, 1500, 2400, 2600 samples/s at 1, 2, 4, 8, 16 GPUs. Marginal efficiency:
  // 1->2: 380/400 = 0.95; 2->4: 720/800 = 0.9; 4->8: 900/1600 = 0.5625; 8->16: 200/3200 = 0.0625.
  const int g[] = {1, 2, 4, 8, 16};
  const double dp[] = {400, 780, 1500, 2400, 2600};
  const double mp[] = {400, 600, 900, 1000, 1100};
  for (int i = 0; i < 5; ++i) {
    for (const auto& [name, x] : {std::pair<std::string, double>{"dp", dp[i]}, {"mp", mp[i]}}) {
      SweepPoint p;
      p.strategy = name;
      p.variant = "baseline";
      p.gpus = g[i];
      p.throughput_samples_per_s = x;
      p.speedup = x / 400;
      p.scaling_efficiency = p.speedup / g[i];
      p.iteration_time_s = 32.0 * g[i] / x;
      p.predicted_by = "estimate";
      p.label = name;
      p.samples_per_dollar = SamplesPerDollar(x, g[i], 2.0);
      sw.points.push_back(p);
    }
    SweepPoint p;
    p.strategy = "dp";
    p.variant = "network.bandwidth=2x";
    p.gpus = g[i];
    p.throughput_samples_per_s = dp[i] * (i >= 3 ? 1.3 : 1.0);
    p.speedup = p.throughput_samples_per_s / 400;
    p.scaling_efficiency = p.speedup / g[i];
    p.label = "dp";
    sw.points.push_back(p);
  }
  r.sweeps.push_back(sw);

  ComparisonReport cmp;
  cmp.title = "predicted.json against measured.json";
  cmp.predicted_file = "predicted.json";
  cmp.measured_file = "measured.json";
  cmp.predicted_trace = "predicted.trace.json";
  cmp.measured_trace = "javascript:alert(1)";
  cmp.predicted_source = "simulate";
  cmp.measured_source = "execute";
  cmp.phases = {{"iteration", "s", 0.110, 0.100, 0},
                {"compute", "s", 0.080, 0.085, 0},
                {"throughput", "samples/s", 4654.5, 5120, 0}};
  cmp.points = {{"dp throughput", "samples/s", 400, 380, 1},
                {"dp throughput", "samples/s", 780, 700, 2},
                {"dp throughput", "samples/s", 1500, 1200, 4}};
  r.comparisons.push_back(cmp);
  return r;
}

}  // namespace convscale::reports::testing
