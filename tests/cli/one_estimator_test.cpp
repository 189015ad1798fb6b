// `convscale select` and `convscale whatif` show the figures `convscale estimate --json` gives for
// the same options: the three commands share one estimator (cost::StrategyEstimator). Each
// figure is compared as the parsed double, exactly.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../common/cli_run.h"

namespace convscale::testing {
namespace {

using nlohmann::json;

json ReadJson(const std::string& path) {
  return json::parse(ReadBytes(path));
}

// `convscale estimate FLAGS --json`, parsed.
json Estimate(const std::string& flags) {
  const CliResult r = RunCli("estimate " + flags + " --json");
  EXPECT_EQ(r.code, 0) << flags << "\n" << r.err;
  return r.code == 0 ? json::parse(r.out) : json::object();
}

const json* Find(const json& list, const std::string& label) {
  for (const json& x : list)
    if (x.at("label") == label) return &x;
  return nullptr;
}

TEST(OneEstimator, SelectCandidatesShowWhatEstimateGives) {
  if (!HasCommand("select")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("one_estimator_select");
  const std::string where = "--model resnet18 --cluster dgx-a100-hdr200 --gpus 16";
  const CliResult sel =
      RunCli("select " + where + " --batch 32 --simulate-top 0 -o '" + dir / "report" + "'");
  ASSERT_EQ(sel.code, 0) << sel.err;
  const json report = ReadJson(dir / "report/report.json");
  const json& candidates = report.at("selections").at(0).at("candidates");
  // Parameter-server candidates come after the others and are estimated only when their outline
  // does not already prove them slower than the best estimated one (then they show the bound);
  // alone, every one is estimated.
  const CliResult ps = RunCli(
      "select " + where + " --batch 32 --simulate-top 0 --strategies ps -o '" + dir / "ps" + "'");
  ASSERT_EQ(ps.code, 0) << ps.err;
  const json ps_report = ReadJson(dir / "ps/report.json");
  const json& ps_candidates = ps_report.at("selections").at(0).at("candidates");
  // A candidate of every strategy (label as select prints it) and the estimate flags of the same
  // options. 26.2 MB and 105 MB are the 25 MiB and 100 MiB buckets. Every candidate trains the
  // header's global batch, 16 x 32 = 512 (a pipeline replica takes its share whole).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dp tree fp16 105 MB",
       "--strategy dp --algorithm tree --grad-precision fp16 --bucket-size 100MiB"},
      {"dp hierarchical fp32 26.2 MB", "--strategy dp --algorithm hierarchical"},
      {"ps 2 servers, dedicated hosts, sync", "--strategy ps --servers 2 --ps-placement dedicated"},
      {"ps 4 servers, 2 per node, colocated, async (staleness unbounded)",
       "--strategy ps --servers 4 --ps-placement colocated --async"},
      {"mp 16 stages 8 micro-batches 1f1b",
       "--strategy mp --stages 16 --micro-batches 8 --schedule 1f1b"},
      {"hybrid owt hierarchical", "--strategy hybrid --hybrid owt --algorithm hierarchical"},
      {"hybrid dp x 4-stage pipeline ring",
       "--strategy hybrid --hybrid dp-pp --stages 4 --micro-batches 8 --schedule 1f1b"},
  };
  int bounded = 0;
  for (const auto& [label, flags] : cases) {
    SCOPED_TRACE(label);
    const bool is_ps = label.rfind("ps ", 0) == 0;
    const json* c = Find(candidates, label);
    if (is_ps) {
      ASSERT_NE(c, nullptr) << "no candidate labelled \"" << label << "\"";
      if (c->at("predicted_by") == "bound") {
        ++bounded;
        EXPECT_EQ(c->at("iteration_time_s"), c->at("lower_bound_s"));
        // The bar of its chart is the bound too: compute, then the busiest link's time beyond it.
        EXPECT_NEAR(c->at("compute_time_s").get<double>() +
                        c->at("exposed_comm_time_s").get<double>() +
                        c->at("bubble_time_s").get<double>(),
                    c->at("iteration_time_s").get<double>(), 1e-12);
        c = Find(ps_candidates, label);
      }
    }
    ASSERT_NE(c, nullptr) << "no candidate labelled \"" << label << "\"";
    EXPECT_EQ(c->at("predicted_by"), "estimate");
    const json e = Estimate(where + " --global-batch 512 " + flags);
    for (const char* k : {"iteration_time_s", "throughput_samples_per_s", "speedup",
                          "scaling_efficiency", "compute_time_s", "comm_time_s",
                          "exposed_comm_time_s", "bubble_time_s", "comm_bytes_total"}) {
      ASSERT_TRUE(e.contains(k)) << k;
      EXPECT_EQ(c->at(k).get<double>(), e.at(k).get<double>()) << k;
    }
  }
  EXPECT_EQ(bounded, 1) << "the dedicated servers are proved slower by their outline";
}

// The losses (docs/simulator.md, "Losses") reach every candidate as they reach `estimate`: by
// default the calibrated ones, stated in the selection's facts; with --no-losses none, and the
// candidate's figures are estimate --no-losses's.
TEST(OneEstimator, SelectTakesTheLossesEstimateTakes) {
  if (!HasCommand("select")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("one_estimator_losses");
  const std::string where = "--model resnet18 --cluster dgx-a100-hdr200 --gpus 16";
  const std::string label = "dp hierarchical fp32 26.2 MB";
  const std::string flags = " --global-batch 512 --strategy dp --algorithm hierarchical";
  for (const std::string losses : {"", " --no-losses"}) {
    SCOPED_TRACE(losses);
    const std::string out = dir / (losses.empty() ? "default" : "none");
    const CliResult sel =
        RunCli("select " + where + " --strategies dp --batch 32 --simulate-top 0" + losses +
               " -o '" + out + "'");
    ASSERT_EQ(sel.code, 0) << sel.err;
    const json selection = ReadJson(out + "/report.json").at("selections").at(0);
    EXPECT_EQ(selection.at("losses"),
              losses.empty() ? "loaded-node efficiency 0.97, compute-time CV 0.01, iteration "
                               "overhead 0.0025 s"
                             : "none modelled");
    const json* c = Find(selection.at("candidates"), label);
    ASSERT_NE(c, nullptr);
    const json e = Estimate(where + flags + losses);
    EXPECT_EQ(c->at("iteration_time_s").get<double>(), e.at("iteration_time_s").get<double>());
  }
}

TEST(OneEstimator, WhatIfPointShowsWhatEstimateGives) {
  if (!HasCommand("whatif")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("one_estimator_whatif");
  const CliResult w = RunCli(
      "whatif --model resnet18 --cluster dgx-a100-hdr200 --gpus 8,16 --strategies dp,mp "
      "--batch 32 --vary network.bandwidth=0.5x --estimate-only -o '" +
      dir / "report" + "'");
  ASSERT_EQ(w.code, 0) << w.err;
  const json points = ReadJson(dir / "report/report.json").at("sweeps").at(0).at("points");
  // The dp point at 16 GPUs with half the network bandwidth: its label names the best options,
  // "dp ALGORITHM PRECISION BUCKET"; the variant's cluster was written beside the report.
  const json* p = nullptr;
  for (const json& x : points)
    if (x.at("strategy") == "dp" && x.at("gpus") == 16 &&
        x.at("variant") == "network.bandwidth=0.5x")
      p = &x;
  ASSERT_NE(p, nullptr);
  const std::string label = p->at("label");
  std::vector<std::string> words;
  for (size_t at = 0; at <= label.size();) {
    const size_t next = std::min(label.find(' ', at), label.size());
    words.push_back(label.substr(at, next - at));
    at = next + 1;
  }
  ASSERT_EQ(words.size(), 5u) << label;
  const std::map<std::string, std::string> bucket = {{"26.2 MB", "25MiB"}, {"105 MB", "100MiB"}};
  ASSERT_EQ(bucket.count(words[3] + " " + words[4]), 1u) << label;
  const json e = Estimate(
      "--model resnet18 --cluster '" + dir / "report/clusters/network.bandwidth_0.5x.json" +
      "' --gpus 16 --batch 32 --strategy dp --algorithm " + words[1] + " --grad-precision " +
      words[2] + " --bucket-size " + bucket.at(words[3] + " " + words[4]));
  for (const char* k : {"iteration_time_s", "throughput_samples_per_s", "comm_time_s",
                        "exposed_comm_time_s", "memory_peak_bytes"}) {
    ASSERT_TRUE(e.contains(k)) << k;
    EXPECT_EQ(p->at(k).get<double>(), e.at(k).get<double>()) << k;
  }
}

}  // namespace
}  // namespace convscale::testing
