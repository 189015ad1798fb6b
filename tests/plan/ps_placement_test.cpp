// Parameter servers: one per node by default, whatever the placement, decided in one place
// (plan::DefaultServers); colocated servers spread over the nodes; labels say where they are.
#include <gtest/gtest.h>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "topologies/cluster.h"

namespace convscale::plan {
namespace {

std::unique_ptr<topo::Cluster> Dgx(int gpus, int server_hosts = 0) {
  topo::ClusterOptions co;
  co.gpus = gpus;
  co.server_hosts = server_hosts;
  return topo::LoadCluster("dgx-a100-hdr200", co);
}

StrategyOptions Ps(int gpus, PsPlacement placement, int servers = 0) {
  StrategyOptions o;
  o.strategy = "ps";
  o.gpus = gpus;
  o.batch = 4;
  o.ps_placement = placement;
  o.servers = servers;
  return o;
}

TEST(PsPlacement, OneServerPerNodeByDefault) {
  const auto cl = Dgx(32);  // 4 nodes of 8
  for (auto placement : {PsPlacement::kDedicated, PsPlacement::kHost, PsPlacement::kColocated})
    EXPECT_EQ(DefaultServers(Ps(32, placement), *cl), 4) << Name(placement);
  EXPECT_EQ(DefaultServers(Ps(12, PsPlacement::kHost), *cl), 2);  // 8 + 4 devices
  // Dedicated hosts the cluster must hold: the servers, given or by default; none otherwise.
  EXPECT_EQ(DedicatedServerHosts(Ps(32, PsPlacement::kDedicated), *cl), 4);
  EXPECT_EQ(DedicatedServerHosts(Ps(32, PsPlacement::kDedicated, 3), *cl), 3);
  EXPECT_EQ(DedicatedServerHosts(Ps(32, PsPlacement::kColocated), *cl), 0);
  StrategyOptions dp = Ps(32, PsPlacement::kDedicated);
  dp.strategy = "dp";
  EXPECT_EQ(DedicatedServerHosts(dp, *cl), 0);
}

TEST(PsPlacement, LoweredPlanUsesTheDefaultAndSpreadsColocatedServers) {
  const graph::Network net = graph::LoadModel("resnet18", 4);
  const auto cl = Dgx(32);
  // 4 colocated servers: the first device of each node (devices 0, 8, 16, 24), not 0..3.
  Plan p = Lower(net, *cl, Ps(32, PsPlacement::kColocated));
  ASSERT_EQ(p.ranks.size(), 36u);
  EXPECT_EQ(p.context.options["servers"], 4);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(p.ranks[32 + k].endpoint, 8 * k) << k;
  // 8 colocated servers on 4 nodes: each node's first device, then each node's second.
  p = Lower(net, *cl, Ps(32, PsPlacement::kColocated, 8));
  const int expected[] = {0, 8, 16, 24, 1, 9, 17, 25};
  for (int k = 0; k < 8; ++k) EXPECT_EQ(p.ranks[32 + k].endpoint, expected[k]) << k;
  // Host CPUs: one per node.
  p = Lower(net, *cl, Ps(32, PsPlacement::kHost));
  for (int k = 0; k < 4; ++k) EXPECT_EQ(p.ranks[32 + k].endpoint, cl->host_cpu(k)) << k;
  // Dedicated: as many hosts as nodes, loaded into the cluster.
  const auto with_hosts = Dgx(32, 4);
  p = Lower(net, *with_hosts, Ps(32, PsPlacement::kDedicated));
  EXPECT_EQ(p.context.options["servers"], 4);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(p.ranks[32 + k].endpoint, with_hosts->server(k)) << k;
}

TEST(PsPlacement, LabelSaysWhereTheServersAre) {
  const auto cl = Dgx(64);  // 8 nodes
  EXPECT_EQ(ServerPlacement(Ps(64, PsPlacement::kColocated, 8), *cl),
            "8 servers, 1 per node, colocated");
  EXPECT_EQ(ServerPlacement(Ps(64, PsPlacement::kColocated), *cl),
            "8 servers, 1 per node, colocated");
  EXPECT_EQ(ServerPlacement(Ps(64, PsPlacement::kHost, 16), *cl),
            "16 servers, 2 per node, on host CPUs");
  EXPECT_EQ(ServerPlacement(Ps(64, PsPlacement::kColocated, 3), *cl),
            "3 servers, 0-1 per node, colocated");
  EXPECT_EQ(ServerPlacement(Ps(64, PsPlacement::kDedicated, 1), *cl), "1 server, dedicated hosts");
}

// The outline of a parameter-server plan (what select bounds before lowering it in full) gives
// the whole plan's lower bound: the same busiest link with the same bytes, the same busiest
// compute, the same memory per rank, the same bytes sent, for every option select tries.
TEST(PsOutline, BoundsLikeTheWholePlan) {
  const graph::Network net = graph::LoadModel("resnet50", 4);
  struct Case {
    PsPlacement placement;
    int servers;
    bool async;
    PsAggregation aggregation;
  };
  const Case cases[] = {
      {PsPlacement::kColocated, 0, false, PsAggregation::kNone},
      {PsPlacement::kColocated, 8, true, PsAggregation::kNone},
      {PsPlacement::kHost, 0, false, PsAggregation::kNone},
      {PsPlacement::kHost, 0, false, PsAggregation::kNode},
      {PsPlacement::kDedicated, 0, false, PsAggregation::kNone},
      {PsPlacement::kDedicated, 3, true, PsAggregation::kNone},
      {PsPlacement::kColocated, 1, false, PsAggregation::kNode},
  };
  for (const Case& k : cases) {
    StrategyOptions o = Ps(32, k.placement, k.servers);
    o.async = k.async;
    o.ps_aggregation = k.aggregation;
    o.losses.compute_cv = 0.1;  // a loss, so the header's factor is checked too
    const auto cl = Dgx(32, DedicatedServerHosts(o, *Dgx(32)));
    const std::string what = std::string(Name(k.placement)) + " " + std::to_string(k.servers) +
                             (k.async ? " async " : " sync ") + Name(k.aggregation);
    const Plan whole = Lower(net, *cl, o);
    const PsOutline outline = OutlineParameterServer(net, *cl, o);
    ASSERT_EQ(outline.plan.ranks.size(), whole.ranks.size()) << what;
    EXPECT_EQ(outline.plan.compute_factor, whole.compute_factor) << what;
    EXPECT_EQ(outline.plan.ranks[0].tasks.size(), whole.ranks[0].tasks.size()) << what;
    double sent = 0, outlined = 0;
    for (size_t r = 0; r < whole.ranks.size(); ++r) {
      EXPECT_EQ(outline.plan.ranks[r].endpoint, whole.ranks[r].endpoint) << what << " rank " << r;
      EXPECT_EQ(outline.plan.ranks[r].role, whole.ranks[r].role) << what << " rank " << r;
      EXPECT_DOUBLE_EQ(outline.plan.ranks[r].memory_peak(), whole.ranks[r].memory_peak())
          << what << " rank " << r;
      if (r > 0) EXPECT_TRUE(outline.plan.ranks[r].tasks.empty()) << what << " rank " << r;
      for (const Task& t : whole.ranks[r].tasks)
        if (t.kind == TaskKind::kSend) sent += t.comm_bytes;
    }
    for (const PsOutline::Traffic& t : outline.traffic) outlined += t.bytes;
    EXPECT_NEAR(outlined, sent, 1e-9 * sent) << what;
    const cost::IterationBound a = cost::LowerBound(whole, *cl);
    const cost::IterationBound b = cost::LowerBound(outline, *cl);
    EXPECT_NEAR(b.seconds, a.seconds, 1e-9 * a.seconds) << what;
    EXPECT_NEAR(b.compute_s, a.compute_s, 1e-9 * a.compute_s) << what;
    EXPECT_NEAR(b.link_bytes, a.link_bytes, 1e-9 * a.link_bytes) << what;
    EXPECT_EQ(b.link, a.link) << what;
    EXPECT_EQ(b.forward, a.forward) << what;
    EXPECT_GT(a.link_s, 0) << what;
  }
}

}  // namespace
}  // namespace convscale::plan
