// Parameter servers: one per node by default, whatever the placement, decided in one place
// (plan::DefaultServers); colocated servers spread over the nodes; labels say where they are.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace convscale::plan
