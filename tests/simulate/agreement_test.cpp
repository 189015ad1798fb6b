// `simulate` and `estimate` agree within 2% where no contention exists.
//
// The estimator (model/cost/estimate.h) times every compute task with the same formula as the
// simulator (ComputeSeconds is cost::ComputeTime) and every communication with its closed form on
// the route bottleneck, assuming no two transfers share a link. The simulator shares links among
// the flows that are really on them. So the two must agree where no link carries two flows at
// once in the same direction:
//  - dp, ring all-reduce, one bucket, 8 GPUs of one DGX-2 on its NVSwitch: each GPU has its own
//    link to the switch, a ring step sends one chunk from every GPU to the next, so every link
//    direction carries exactly one flow; with a single bucket only one all-reduce is in flight;
//  - mp, 2 stages without micro-batches: the stages run one after the other, so at most one
//    activation (forward) or activation gradient (backward) message is in flight at a time.
#include <gtest/gtest.h>

#include <string>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "simulate/simulator.h"
#include "topologies/cluster.h"

namespace convscale::sim {
namespace {

struct Pair {
  plan::Plan plan;
  SimulationResult sim;
  cost::Summary est;
};

// ResNet-18 at 32 samples per device.
plan::StrategyOptions ResNet18(const std::string& strategy, int gpus) {
  plan::StrategyOptions o;
  o.strategy = strategy;
  o.model = "resnet18";
  o.gpus = gpus;
  o.batch = 32;
  return o;
}

Pair Both(const std::string& cluster, const plan::StrategyOptions& o) {
  const int64_t batch = o.batch;
  topo::ClusterOptions co;
  co.gpus = o.gpus;
  auto cl = topo::LoadCluster(cluster, co);
  const graph::Network net = graph::LoadModel(o.model, batch);
  const plan::Plan p = plan::Lower(net, *cl, o);
  SimulateOptions so;
  so.warmup = 1;
  so.iterations = 2;
  so.lowering.collectives = CollectiveMode::kExact;
  return {p, Simulate(p, *cl, so), cost::Estimate(p, *cl)};
}

void ExpectWithin2Percent(const Pair& x) {
  const double it = x.est.iteration_time_s;
  ASSERT_GT(it, 0);
  EXPECT_NEAR(x.sim.iteration_time_s, it, 0.02 * it);
  EXPECT_NEAR(x.sim.compute_time_s, x.est.compute_time_s, 0.02 * x.est.compute_time_s);
  // Exposed communication, as a share of the iteration (it can be small in absolute terms).
  EXPECT_NEAR(x.sim.exposed_comm_time_s, x.est.exposed_comm_time_s, 0.02 * it);
  EXPECT_GT(x.est.exposed_comm_time_s, 0);
}

TEST(AgreementTest, DataParallelRingOneBucketOnOneSwitch) {
  plan::StrategyOptions o = ResNet18("dp", 8);
  o.bucket_bytes = 1e12;  // every gradient in one bucket
  const Pair x = Both("dgx2", o);
  int collectives = 0;
  for (const plan::Task& t : x.plan.ranks[0].tasks)
    collectives += t.kind == plan::TaskKind::kCollective;
  ASSERT_EQ(collectives, 1);
  ExpectWithin2Percent(x);
  EXPECT_EQ(x.sim.collectives, "exact");
}

TEST(AgreementTest, ModelParallelSequentialOnTwoDevices) {
  plan::StrategyOptions o = ResNet18("mp", 2);
  o.stages = 2;
  o.micro_batches = 1;
  const Pair x = Both("dgx2", o);
  ExpectWithin2Percent(x);
}

}  // namespace
}  // namespace convscale::sim
