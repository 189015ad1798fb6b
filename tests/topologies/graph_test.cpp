// Routes, rings, bisection and diameter against hand computation.
#include <gtest/gtest.h>

#include <set>

#include "tests/topologies/topo_test_util.h"
#include "topologies/analysis.h"

namespace convscale::topo {
namespace {

using testing::IsPath;
using testing::LoadJson;
using testing::SmallCluster;

int NvlinkHops(const Cluster& c, int a, int b) {
  const Route& r = c.route(a, b);
  if (r.hops.size() != 1) return 0;
  return c.links()[r.hops[0].link].level == "nvlink" ? 1 : 0;
}

// DGX-1 (P100): GPU0 -> GPU1 is one NVLink (20 GB/s, 0.7 us). GPU0 and GPU5 share no NVLink and
// GPUs do not forward, so the route is PCIe: gpu0 -> sw0 -> cpu0 -> QPI -> cpu1 -> sw2 -> gpu5,
// 5 hops, 0.5 + 0.5 + 0.2 + 0.5 + 0.5 = 2.2 us, bottleneck PCIe gen3 15.75 GB/s.
TEST(Routes, Dgx1P100) {
  auto c = LoadCluster("dgx1-p100", {});
  const Route& r01 = c->route(0, 1);
  ASSERT_EQ(r01.hops.size(), 1u);
  EXPECT_EQ(c->links()[r01.hops[0].link].name, "node0/nvlink/gpu0-gpu1");
  EXPECT_DOUBLE_EQ(r01.bandwidth_Bps, 20e9);
  EXPECT_NEAR(r01.latency_s, 0.7e-6, 1e-15);
  const Route& r05 = c->route(0, 5);
  ASSERT_EQ(r05.hops.size(), 5u);
  EXPECT_NEAR(r05.latency_s, 2.2e-6, 1e-15);
  EXPECT_DOUBLE_EQ(r05.bandwidth_Bps, 15.75e9);
  EXPECT_EQ(c->links()[r05.hops[2].link].level, "socket");
  EXPECT_TRUE(IsPath(*c, 0, 5));
  EXPECT_TRUE(IsPath(*c, 5, 0));
  // The host CPU: gpu0 -> sw0 -> cpu0 root -> host, 0.5 + 0.5 + 0.1 us.
  const Route& rh = c->route(0, c->host_cpu(0));
  EXPECT_EQ(rh.hops.size(), 3u);
  EXPECT_NEAR(rh.latency_s, 1.1e-6, 1e-15);
}

// DGX-1V: the doubled NVLinks (NV2) carry 2 x 25 GB/s.
TEST(Routes, Dgx1V100DoubleLinks) {
  auto c = LoadCluster("dgx1-v100", {});
  EXPECT_DOUBLE_EQ(c->route(0, 3).bandwidth_Bps, 50e9);
  EXPECT_DOUBLE_EQ(c->route(0, 1).bandwidth_Bps, 25e9);
  EXPECT_DOUBLE_EQ(c->route(0, 4).bandwidth_Bps, 50e9);
  // Every GPU has 6 NVLinks' worth of bandwidth.
  for (int g = 0; g < 8; ++g) {
    double total = 0;
    for (int h = 0; h < 8; ++h)
      if (h != g && NvlinkHops(*c, g, h)) total += c->route(g, h).bandwidth_Bps;
    EXPECT_DOUBLE_EQ(total, 150e9) << "gpu" << g;
  }
}

// PCIe tree: two switches of four P40s under one host bridge.
TEST(Routes, PcieTree) {
  auto c = LoadCluster("pcie8-p40", {});
  const Route& same = c->route(0, 1);  // gpu0 -> sw0 -> gpu1
  EXPECT_EQ(same.hops.size(), 2u);
  EXPECT_NEAR(same.latency_s, 1.0e-6, 1e-15);
  const Route& across = c->route(0, 4);  // gpu0 -> sw0 -> hostbridge -> sw1 -> gpu4
  EXPECT_EQ(across.hops.size(), 4u);
  EXPECT_NEAR(across.latency_s, 2.0e-6, 1e-15);
  EXPECT_DOUBLE_EQ(across.bandwidth_Bps, 15.75e9);
  EXPECT_TRUE(IsPath(*c, 0, 4));
  // Single node: the bisection is the switch-to-bridge link (both halves are one switch each).
  EXPECT_DOUBLE_EQ(c->bisection_bandwidth_Bps(), 15.75e9);
}

// A 2-level fat-tree: 16 single-device nodes, leaves of 4 down / 2 up (2:1), 2 spines.
Json FatTree2to1() {
  return Json::parse(R"({"type": "fat-tree", "levels": [
      {"down": 4, "up": 2, "bandwidth": "100Gbps", "latency": "1us"}, {"down": 4}]})");
}

TEST(Routes, FatTreeHopsAndSpreading) {
  auto c = LoadJson(SmallCluster(FatTree2to1(), 16));
  // Same leaf: dev -> bridge -> nic -> leaf -> nic -> bridge -> dev, 0.1+0.1+1+1+0.1+0.1 us.
  const Route& near = c->route(0, 1);
  EXPECT_EQ(near.hops.size(), 6u);
  EXPECT_NEAR(near.latency_s, 2.4e-6, 1e-15);
  // Other leaf: two more hops through a spine.
  const Route& far = c->route(0, 4);
  EXPECT_EQ(far.hops.size(), 8u);
  EXPECT_NEAR(far.latency_s, 4.4e-6, 1e-15);
  EXPECT_DOUBLE_EQ(far.bandwidth_Bps, 12.5e9);
  // D-mod-K: destinations 4 and 5 leave leaf 0 by different uplinks; 4 and 6 by the same.
  auto uplink = [&](int to) { return c->links()[c->route(0, to).hops[3].link].name; };
  EXPECT_EQ(uplink(4), "fabric/l1/s0/up0");
  EXPECT_EQ(uplink(5), "fabric/l1/s0/up1");
  EXPECT_EQ(uplink(6), "fabric/l1/s0/up0");
  for (int a = 0; a < 16; ++a)
    for (int b = 0; b < 16; ++b)
      if (a != b) ASSERT_TRUE(IsPath(*c, a, b));
}

// 2:1 oversubscription by hand: 16 terminals at 12.5 GB/s; the half cut crosses 8 NIC links
// (100 GB/s) but only half of the 4 x 2 leaf uplinks (4 x 12.5 = 50 GB/s): 50 GB/s.
TEST(Bisection, FatTreeTwoToOne) {
  auto c = LoadJson(SmallCluster(FatTree2to1(), 16));
  EXPECT_DOUBLE_EQ(c->bisection_bandwidth_Bps(), 50e9);
  EXPECT_DOUBLE_EQ(BruteForceBisection(*c), 50e9);
}

// The same tree without oversubscription (4 up): the NIC links bound it, 8 x 12.5 = 100 GB/s.
TEST(Bisection, FatTreeFull) {
  Json f = FatTree2to1();
  f["levels"][0]["up"] = 4;
  auto c = LoadJson(SmallCluster(f, 16));
  EXPECT_DOUBLE_EQ(c->bisection_bandwidth_Bps(), 100e9);
  EXPECT_DOUBLE_EQ(BruteForceBisection(*c), 100e9);
}

// A 4x4 torus of 50 Gbit/s links: the half cut crosses 2 x 4 links (wrap-around included):
// 8 x 6.25 = 50 GB/s (the NIC links would allow 8 x 12.5). Diameter: dev -> bridge -> nic ->
// router, 2 + 2 router hops, router -> nic -> bridge -> dev: 10 hops.
TEST(Bisection, Torus2D) {
  auto c = LoadJson(SmallCluster(
      Json::parse(R"({"type": "torus", "dims": [4, 4], "bandwidth": "50Gbps", "latency": "1us"})"),
      16));
  EXPECT_DOUBLE_EQ(c->bisection_bandwidth_Bps(), 50e9);
  EXPECT_DOUBLE_EQ(BruteForceBisection(*c), 50e9);
  EXPECT_EQ(c->diameter(), 10);
  // 0 (0,0) -> 10 (2,2): two hops in x, two in y.
  EXPECT_EQ(c->route(0, 10).hops.size(), 10u);
  EXPECT_EQ(c->route(0, 3).hops.size(), 7u);  // (0,0) -> (3,0): one hop the short way round
  for (int a = 0; a < 16; ++a)
    for (int b = 0; b < 16; ++b)
      if (a != b) ASSERT_TRUE(IsPath(*c, a, b));
}

TEST(Bisection, SingleSwitch) {
  auto c = LoadCluster("cpu-minicluster", {});
  EXPECT_DOUBLE_EQ(c->bisection_bandwidth_Bps(), 2 * 25e6);
  EXPECT_DOUBLE_EQ(BruteForceBisection(*c), 2 * 25e6);
}

// One DGX A100, cut {0,1,2,3} | {4,5,6,7}: 4 x 300 GB/s into the NVSwitch, plus PCIe: the far
// half's four GPU links (4 x 31.5 GB/s) are fed by cpu1's two switch uplinks (63 GB/s over
// xGMI) and by NICs 0-3 through the fabric switch (100 GB/s), so they fill: 1200 + 126 GB/s.
TEST(Bisection, NvSwitchNode) {
  auto c = LoadCluster("dgx-a100", {});
  EXPECT_DOUBLE_EQ(CutBandwidth(*c, {0, 1, 2, 3}), 1326e9);
  EXPECT_DOUBLE_EQ(c->bisection_bandwidth_Bps(), BruteForceBisection(*c));
  EXPECT_LE(c->bisection_bandwidth_Bps(), 1326e9);
  EXPECT_GE(c->bisection_bandwidth_Bps(), 1200e9);
}

// DGX-1V: the cut {0,1,2,3} | {4,5,6,7} crosses 0-4 (2), 1-5 (2), 2-6 (1), 3-7 (1) NVLinks at
// 25 GB/s = 150 GB/s. Over PCIe the far half's switches sw2, sw3 are fed by cpu1's uplinks
// (2 x 15.75 GB/s, QPI 38.4 GB/s suffices) and by NICs 0,1 through the switch (2 x 12.5 GB/s):
// 56.5 GB/s, below their four GPU links (63 GB/s). Total 206.5 GB/s.
TEST(Bisection, Dgx1) {
  auto c = LoadCluster("dgx1-v100", {});
  EXPECT_DOUBLE_EQ(CutBandwidth(*c, {0, 1, 2, 3}), 206.5e9);
  EXPECT_LE(c->bisection_bandwidth_Bps(), 206.5e9);
  EXPECT_DOUBLE_EQ(c->bisection_bandwidth_Bps(), BruteForceBisection(*c));
}

void ExpectNvlinkRing(const Cluster& c, const std::vector<int>& devices) {
  const auto ring = c.Ring(devices);
  ASSERT_EQ(ring.size(), devices.size());
  EXPECT_EQ(std::set<int>(ring.begin(), ring.end()), std::set<int>(devices.begin(), devices.end()));
  for (size_t i = 0; i < ring.size(); ++i)
    EXPECT_EQ(NvlinkHops(c, ring[i], ring[(i + 1) % ring.size()]), 1)
        << ring[i] << " -> " << ring[(i + 1) % ring.size()];
}

TEST(Ring, Dgx1IsHamiltonianOverNvlink) {
  for (const char* name : {"dgx1-p100", "dgx1-v100", "p3.16xlarge"}) {
    SCOPED_TRACE(name);
    auto c = LoadCluster(name, {});
    ExpectNvlinkRing(*c, {0, 1, 2, 3, 4, 5, 6, 7});
    ExpectNvlinkRing(*c, {0, 1, 2, 3});
    ExpectNvlinkRing(*c, {0, 1, 4, 5});
    ExpectNvlinkRing(*c, {7, 2, 3, 6});
  }
  auto c = LoadCluster("dgx1-v100", {});
  EXPECT_EQ(c->Ring({0, 1, 2, 3, 4, 5, 6, 7}), (std::vector<int>{0, 1, 2, 3, 7, 5, 6, 4}))
      << "deterministic";
}

// Across nodes each node's devices stay together, and inside a node consecutive devices are
// NVLink neighbours.
TEST(Ring, MultiNodeKeepsNodesContiguous) {
  ClusterOptions o;
  o.nodes = 3;
  auto c = LoadCluster("dgx1-v100", o);
  std::vector<int> all(24);
  for (int i = 0; i < 24; ++i) all[i] = 23 - i;
  const auto ring = c->Ring(all);
  ASSERT_EQ(ring.size(), 24u);
  for (int i = 0; i < 24; ++i) {
    EXPECT_EQ(c->endpoint(ring[i]).node, i / 8);
    if (i % 8 != 7) EXPECT_EQ(NvlinkHops(*c, ring[i], ring[i + 1]), 1);
  }
}

TEST(Ring, SwitchNodesInIndexOrder) {
  auto c = LoadCluster("pcie8-p40", {});
  EXPECT_EQ(c->Ring({5, 1, 0, 4}), (std::vector<int>{0, 1, 4, 5}));
}

TEST(Endpoints, Layout) {
  ClusterOptions o;
  o.gpus = 12;
  o.server_hosts = 2;
  auto c = LoadCluster("dgx-a100", o);
  EXPECT_EQ(c->num_devices(), 12);
  EXPECT_EQ(c->num_nodes(), 2);
  EXPECT_EQ(c->num_endpoints(), 12 + 2 + 2);
  EXPECT_EQ(c->endpoint(11).name, "node1/gpu3");
  EXPECT_EQ(c->endpoint(c->host_cpu(1)).name, "node1/cpu");
  EXPECT_EQ(c->endpoint(c->server(1)).name, "server1");
  EXPECT_EQ(c->endpoint(c->server(1)).kind, EndpointKind::kServer);
  EXPECT_DOUBLE_EQ(c->endpoint(c->host_cpu(0)).type->peak_flops[0], 9.2e12);
  for (int a = 0; a < c->num_endpoints(); ++a)
    for (int b = 0; b < c->num_endpoints(); ++b)
      if (a != b) ASSERT_TRUE(testing::IsPath(*c, a, b));
  // A GPU leaves through a NIC on its own PCIe switch (sw1 holds NICs 2 and 3), the choice
  // spread by destination: to endpoint 8 (even) nic2, to 9 (odd) nic3.
  const Route& r = c->route(3, 8);
  EXPECT_EQ(c->links()[r.hops[0].link].name, "node0/pcie/gpu3");
  EXPECT_EQ(c->links()[r.hops[1].link].name, "node0/pcie/nic2");
  EXPECT_EQ(c->links()[c->route(3, 9).hops[1].link].name, "node0/pcie/nic3");
}

TEST(Endpoints, StragglerAndDeviceOverride) {
  Json j = SmallCluster(Json{{"type", "switch"}}, 3);
  j["device_types"]["slow"] = j["device_types"]["d"];
  j["device_types"]["slow"]["peak"]["fp32"] = "5TFlops";
  j["node_overrides"] = Json::parse(R"([{"node": 1, "speed_factor": 0.5},
                                        {"node": 2, "device_type": "slow"}])");
  auto c = LoadJson(j);
  EXPECT_DOUBLE_EQ(c->endpoint(0).speed_factor, 1.0);
  EXPECT_DOUBLE_EQ(c->endpoint(1).speed_factor, 0.5);
  EXPECT_EQ(c->endpoint(2).type->name, "slow");
  EXPECT_DOUBLE_EQ(c->endpoint(2).type->peak_flops[0], 5e12);
}

TEST(Routes, DragonflyMinimal) {
  Json f = Json::parse(R"({"type": "dragonfly", "routers_per_group": 2, "terminals_per_router": 2,
      "global_links_per_router": 1, "local": {"bandwidth": "100Gbps", "latency": "1us"},
      "global": {"bandwidth": "50Gbps", "latency": "2us"}})");
  auto c = LoadJson(SmallCluster(f, 12));  // 6 routers, 3 groups
  for (int a = 0; a < 12; ++a)
    for (int b = 0; b < 12; ++b)
      if (a != b) ASSERT_TRUE(IsPath(*c, a, b));
  // Same router: 6 hops; other group: at most local + global + local between the routers.
  EXPECT_EQ(c->route(0, 1).hops.size(), 6u);
  EXPECT_LE(c->route(0, 11).hops.size(), 9u);
  EXPECT_DOUBLE_EQ(c->route(0, 11).bandwidth_Bps, 6.25e9);
}

TEST(Summary, MinPairAndLatency) {
  auto c = LoadJson(SmallCluster(FatTree2to1(), 16));
  const auto& s = Summarize(*c);
  EXPECT_EQ(s.devices, 16);
  EXPECT_DOUBLE_EQ(s.min_pair_bandwidth_Bps, 12.5e9);
  EXPECT_NEAR(s.max_pair_latency_s, 4.4e-6, 1e-15);
  EXPECT_EQ(s.diameter, 8);
}

}  // namespace
}  // namespace convscale::topo
