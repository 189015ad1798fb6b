// `convscale select` ranks by simulation: the tutorial's question (ResNet-50 on 32 GPUs of the
// example A100 cluster behind 100 GbE, docs/examples/a100-100gbe.json) is answered with a
// simulated candidate, and `convscale simulate` of that candidate's options gives the figure the
// report shows, exactly (the simulator is deterministic and select runs it with simulate's
// defaults).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "../common/cli_run.h"

namespace convscale::testing {
namespace {

using nlohmann::json;

// The plan flags of a candidate's options as report.json holds them (the bucket as select labels
// it: 26.2 MB and 105 MB are the 25 MiB and 100 MiB buckets).
std::string Flags(const std::string& strategy, const json& o) {
  std::string f = "--strategy " + strategy;
  const std::map<std::string, std::string> bucket = {{"26.2 MB", "25MiB"}, {"105 MB", "100MiB"}};
  if (strategy == "dp")
    return f + " --algorithm " + o.at("algorithm").get<std::string>() + " --grad-precision " +
           o.at("grad_precision").get<std::string>() + " --bucket-size " +
           bucket.at(o.at("bucket").get<std::string>());
  if (strategy == "ps")
    return f + " --servers " + std::to_string(o.at("servers").get<int>()) + " --ps-placement " +
           o.at("placement").get<std::string>() + (o.at("mode") == "async" ? " --async" : "");
  if (strategy == "hybrid") f += " --hybrid " + o.at("hybrid").get<std::string>();
  if (o.contains("algorithm")) f += " --algorithm " + o.at("algorithm").get<std::string>();
  if (o.contains("stages")) f += " --stages " + std::to_string(o.at("stages").get<int>());
  if (o.contains("micro_batches"))
    f += " --micro-batches " + std::to_string(o.at("micro_batches").get<int>());
  if (o.contains("schedule")) f += " --schedule " + o.at("schedule").get<std::string>();
  return f;
}

TEST(SelectSimulates, TutorialAnswerIsASimulatedCandidateThatSimulateReproduces) {
  if (!HasCommand("select") || !HasCommand("simulate"))
    GTEST_SKIP() << "convscale was built without the reports or the simulator";
  ScratchDir dir("select_simulates_tutorial");
  const std::string cluster = std::string(CONVSCALE_SOURCE_DIR) + "/docs/examples/a100-100gbe.json";
  const std::string common = "--model resnet50 --cluster '" + cluster + "' --gpus 32";
  const CliResult sel = RunCli("select " + common + " -o '" + dir / "report" + "'");
  ASSERT_EQ(sel.code, 0) << sel.err;
  const json report = json::parse(ReadBytes(dir / "report/report.json"));
  const json& candidates = report.at("selections").at(0).at("candidates");
  ASSERT_FALSE(candidates.empty());
  const json& best = candidates.at(0);
  EXPECT_EQ(best.at("predicted_by"), "simulate") << best.dump();
  ASSERT_TRUE(best.contains("estimate_iteration_time_s"));
  // Every candidate that ran and fit and was not pruned was simulated; a pruned candidate's
  // estimate is slower than the best estimate by more than the estimator's disagreement allows.
  int simulated = 0;
  for (const json& c : candidates) simulated += c.at("predicted_by") == "simulate";
  EXPECT_GE(simulated, 5);

  const CliResult s = RunCli("simulate " + common + " " +
                             Flags(best.at("strategy"), best.at("options")) + " --json");
  ASSERT_EQ(s.code, 0) << s.err;
  const json sim = json::parse(s.out);
  EXPECT_EQ(sim.at("iteration_time_s").get<double>(), best.at("iteration_time_s").get<double>());
  EXPECT_EQ(sim.at("throughput_samples_per_s").get<double>(),
            best.at("throughput_samples_per_s").get<double>());

  // Every simulated candidate carries its plan's lower bound, and no simulation beats it; a
  // candidate ruled out by its bound is slower than the best simulated one, and its row says so.
  int bounded = 0;
  for (const json& c : candidates) {
    if (!c.contains("lower_bound_s")) continue;
    const double bound = c.at("lower_bound_s").get<double>();
    EXPECT_GT(bound, 0) << c.dump();
    if (c.at("predicted_by") == "simulate") {
      EXPECT_GE(c.at("iteration_time_s").get<double>(), bound) << c.dump();
      continue;
    }
    ++bounded;
    EXPECT_GT(bound, best.at("iteration_time_s").get<double>());
    // Ruled out after its whole plan was lowered, or from its outline before (a parameter
    // server, whose plan is workers x shards messages).
    const std::string reason = c.at("reason").get<std::string>();
    EXPECT_TRUE(reason.find("; not simulated: it takes at least ") != std::string::npos ||
                reason.find("bounded from its outline, neither lowered in full nor simulated: "
                            "it takes at least ") != std::string::npos)
        << c.dump();
  }
  EXPECT_GE(bounded, 1) << "no candidate was ruled out by its lower bound";
}

}  // namespace
}  // namespace convscale::testing
