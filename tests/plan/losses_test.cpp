// Losses (docs/simulator.md, "Losses"): the compute factor and iteration overhead a plan carries,
// each checked against a hand-computed value, their JSON round trip and their messages, and the
// estimator applying them to workers only.
#include <gtest/gtest.h>

#include <cmath>

#include "model/cost/estimate.h"
#include "model/plan/plan.h"
#include "model/plan/strategy.h"
#include "model/util/error.h"
#include "tests/plan/fake_cluster.h"
#include "tests/plan/tiny_net.h"
#include "topologies/cluster.h"

namespace convscale::plan {
namespace {

// Data parallel on the tiny network at 4 samples per device, no losses.
StrategyOptions Plain() {
  StrategyOptions o;
  o.model = "tiny";
  o.batch = 4;
  o.losses = LossOptions::None();
  return o;
}

StrategyOptions Lossy(const std::string& strategy) {
  StrategyOptions o = Plain();
  o.strategy = strategy;
  o.losses.loaded_node_efficiency = 0.8;
  o.losses.compute_cv = 0.05;
  o.losses.iteration_overhead_s = 0.002;
  return o;
}

std::string LowerError(const StrategyOptions& o) {
  testing::FakeCluster cl(1, 2);
  try {
    Lower(testing::TinyNet(), cl, o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Losses, EightRanksOnOneNode) {
  // 1 / 0.8 for the loaded node, 1 + 0.05 sqrt(2 ln 8) = 1 + 0.05 x 2.039334 for the slowest
  // of 8: 1.25 x 1.1019667 = 1.3774584.
  testing::FakeCluster cl(1, 8);
  const Plan p = Lower(testing::TinyNet(), cl, Lossy("dp"));
  EXPECT_NEAR(p.compute_factor, 1.3774584, 1e-7);
  EXPECT_EQ(p.iteration_overhead_s, 0.002);
  EXPECT_EQ(p.context.options["loaded_node_efficiency"], 0.8);
  EXPECT_EQ(p.context.options["compute_cv"], 0.05);
  EXPECT_EQ(p.context.options["iteration_overhead_s"], 0.002);
}

TEST(Losses, OneDevicePerNodeHasNoLoadedNode) {
  // Two nodes of one GPU: only the jitter of 2 ranks, 1 + 0.05 sqrt(2 ln 2) = 1.0588705.
  testing::FakeCluster cl(2, 1);
  const Plan p = Lower(testing::TinyNet(), cl, Lossy("dp"));
  EXPECT_NEAR(p.compute_factor, 1.0588705, 1e-7);
}

TEST(Losses, OneDeviceHasNone) {
  testing::FakeCluster cl(1, 1);
  const Plan p = Lower(testing::TinyNet(), cl, Lossy("dp"));
  EXPECT_EQ(p.compute_factor, 1);
  EXPECT_EQ(p.iteration_overhead_s, 0);
}

TEST(Losses, AsynchronousWorkersWaitForNoSlowest) {
  // Asynchronous parameter servers: 4 workers on one node pay the loaded node (1 / 0.8) only.
  testing::FakeCluster cl(1, 4, 1);
  StrategyOptions o = Lossy("ps");
  o.async = true;
  const Plan p = Lower(testing::TinyNet(), cl, o);
  EXPECT_DOUBLE_EQ(p.compute_factor, 1.25);
  EXPECT_EQ(p.iteration_overhead_s, 0.002);
}

TEST(Losses, NoneKeepThePlanBytes) {
  testing::FakeCluster cl(1, 8);
  const Plan p = Lower(testing::TinyNet(), cl, Plain());
  EXPECT_EQ(p.compute_factor, 1);
  const Json j = ToJson(p);
  EXPECT_FALSE(j.contains("compute_factor"));
  EXPECT_FALSE(j.contains("iteration_overhead_s"));
  EXPECT_FALSE(j["context"]["options"].contains("compute_cv"));
  EXPECT_EQ(Describe(Losses::None()), "none modelled");
}

TEST(Losses, DefaultsAreTheCalibratedValues) {
  // 8 ranks on one node: 1 / 0.97 x (1 + 0.01 sqrt(2 ln 8)) = 1.0519519, and 2.5 ms.
  testing::FakeCluster cl(1, 8);
  StrategyOptions o;
  o.model = "tiny";
  o.batch = 4;
  const Plan p = Lower(testing::TinyNet(), cl, o);
  EXPECT_NEAR(p.compute_factor, 1.0519519, 1e-7);
  EXPECT_EQ(p.iteration_overhead_s, 0.0025);
  EXPECT_EQ(Describe(ResolveLosses(o.losses, cl)),
            "loaded-node efficiency 0.97, compute-time CV 0.01, iteration overhead 0.0025 s");
  EXPECT_EQ(p.context.options["loaded_node_efficiency"], 0.97);
}

TEST(Losses, CpuDevicesDefaultToNoneAndFlagsOverrideOneByOne) {
  // The calibrations come from GPU training frameworks; the CPU devices of convscale's own
  // executor have none by default. A loss given is used whatever the devices.
  topo::ClusterOptions co;
  co.gpus = 2;
  const auto cpus = topo::LoadCluster("cpu-minicluster", co);
  LossOptions given;
  EXPECT_EQ(Describe(ResolveLosses(given, *cpus)), "none modelled");
  given.compute_cv = 0.05;
  EXPECT_EQ(Describe(ResolveLosses(given, *cpus)), "compute-time CV 0.05");
  testing::FakeCluster gpus(1, 8);
  EXPECT_EQ(Describe(ResolveLosses(given, gpus)),
            "loaded-node efficiency 0.97, compute-time CV 0.05, iteration overhead 0.0025 s");
}

TEST(Losses, RoundTripAndLocatedErrors) {
  testing::FakeCluster cl(1, 8);
  const Plan p = Lower(testing::TinyNet(), cl, Lossy("dp"));
  const std::string once = ToJson(p).dump(2);
  const Plan back = FromJson(ParseJson(once, "p.json"), "p.json");
  EXPECT_EQ(back.compute_factor, p.compute_factor);
  EXPECT_EQ(back.iteration_overhead_s, 0.002);
  EXPECT_EQ(ToJson(back).dump(2), once);
  auto error = [&](const char* key, double value) {
    Json j = ToJson(p);
    j[key] = value;
    try {
      FromJson(j, "p.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("compute_factor", 0.5),
            "p.json: /compute_factor: must be a finite number of at least 1 (a slow-down)");
  EXPECT_EQ(error("iteration_overhead_s", -1),
            "p.json: /iteration_overhead_s: must be a finite number of seconds, 0 or more");
}

TEST(Losses, OptionsOutOfRangeNameTheFlag) {
  StrategyOptions o = Lossy("dp");
  o.losses.loaded_node_efficiency = 1.5;
  EXPECT_EQ(LowerError(o),
            "--loaded-node-efficiency 1.5: must be above 0 and at most 1 (a fraction of one "
            "device's speed alone)");
  o = Lossy("dp");
  o.losses.compute_cv = -0.1;
  EXPECT_EQ(LowerError(o),
            "--compute-cv -0.1: must be between 0 and 1 (a coefficient of variation)");
  o = Lossy("dp");
  o.losses.iteration_overhead_s = 7200;
  EXPECT_EQ(LowerError(o), "--iteration-overhead: must be between 0 s and 1 hour");
}

TEST(Losses, EstimatorScalesWorkersComputeAndAddsTheOverheadOnce) {
  testing::FakeCluster cl(1, 8);
  const Plan p0 = Lower(testing::TinyNet(), cl, Plain());
  const Plan p1 = Lower(testing::TinyNet(), cl, Lossy("dp"));
  const cost::Summary s0 = cost::Estimate(p0, cl), s1 = cost::Estimate(p1, cl);
  ASSERT_GT(s0.compute_time_s, 0);
  EXPECT_NEAR(s1.compute_time_s, s0.compute_time_s * 1.3774584 + 0.002, 1e-9);
  EXPECT_GT(s1.iteration_time_s, s0.iteration_time_s * 1.3774584);
}

TEST(Losses, ParameterServersComputeAsBefore) {
  // Dedicated servers: their aggregation and update keep the calibrated time.
  testing::FakeCluster cl(1, 4, 1);
  StrategyOptions o = Lossy("ps");
  StrategyOptions base = o;
  base.losses = LossOptions::None();
  const cost::Summary s0 = cost::Estimate(Lower(testing::TinyNet(), cl, base), cl);
  const cost::Summary s1 = cost::Estimate(Lower(testing::TinyNet(), cl, o), cl);
  ASSERT_EQ(s0.ranks.size(), s1.ranks.size());
  int servers = 0;
  for (size_t r = 0; r < s0.ranks.size(); ++r)
    if (s0.ranks[r].endpoint.find("server") != std::string::npos) {
      ++servers;
      // Equal up to the rounding of intervals that start at other times.
      EXPECT_NEAR(s1.ranks[r].compute_time_s, s0.ranks[r].compute_time_s,
                  1e-9 * s0.ranks[r].compute_time_s);
    }
  EXPECT_EQ(servers, 1);
}

}  // namespace
}  // namespace convscale::plan
