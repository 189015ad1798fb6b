// The engine on hand-built Dags: flows take latency + size / bandwidth, compute kernels of a rank
// run one at a time, iterations chain per rank.
#include <gtest/gtest.h>

#include "simulate/engine.h"
#include "tests/simulate/fake_cluster.h"

namespace convscale::sim {
namespace {

using testing::FakeCluster;

Node Compute(int rank, double seconds, int32_t task) {
  Node n;
  n.kind = NodeKind::kCompute;
  n.rank = rank;
  n.amount = seconds;
  (void)task;
  return n;
}

Node Flow(int src, int dst, double bytes) {
  Node n;
  n.kind = NodeKind::kFlow;
  n.rank = src;
  n.peer = dst;
  n.src = src;
  n.dst = dst;
  n.amount = bytes;
  return n;
}

Dag Finish(DagBuilder& b, int tasks_per_rank = 0) {
  Dag& d = b.dag();
  d.task_offset.assign(d.iter_start.size() + 1, 0);
  for (size_t r = 0; r < d.iter_start.size(); ++r)
    d.task_offset[r + 1] = d.task_offset[r] + tasks_per_rank;
  return b.Finish();
}

TEST(EngineTest, OneFlowTakesRouteLatencyPlusSizeOverBandwidth) {
  auto c = FakeCluster::Star(2, 12.5e9, 1e-6);
  DagBuilder b(2);
  b.Add(Flow(0, 1, 25e6));
  const RawResult r = RunDagInChild(Finish(b), *c, {}, {});
  EXPECT_DOUBLE_EQ(r.iteration_end[0], 2e-6 + 25e6 / 12.5e9);
  EXPECT_EQ(r.activities, 1);
}

// A flow's rate bound (coarse collectives) holds, and the link's rest goes to the other flows:
// 0->1 bounded at 2.5 GB/s and 2->1 unbounded share rank 1's 12.5 GB/s link, 2.5 + 10 GB/s.
TEST(EngineTest, BoundedFlowLeavesTheRestOfTheLinkToOthers) {
  auto c = FakeCluster::Star(3, 12.5e9, 1e-6);
  DagBuilder b(3);
  Node bounded = Flow(0, 1, 25e6);
  bounded.rate_Bps = 2.5e9;
  b.Add(bounded);
  b.Add(Flow(2, 1, 100e6));
  const RawResult r = RunDagInChild(Finish(b), *c, {}, {});
  EXPECT_NEAR(r.rank_end[0], 2e-6 + 25e6 / 2.5e9, 1e-12);
  EXPECT_NEAR(r.rank_end[2], 2e-6 + 100e6 / 10e9, 1e-12);
}

TEST(EngineTest, KernelsOfOneRankRunOneAtATime) {
  auto c = FakeCluster::Star(2, 1e9, 1e-6);
  DagBuilder b(2);
  b.Add(Compute(0, 1e-3, 0));
  b.Add(Compute(0, 2e-3, 1));
  b.Add(Compute(1, 1e-3, 0));
  const RawResult r = RunDagInChild(Finish(b), *c, {}, {});
  EXPECT_DOUBLE_EQ(r.rank_end[0], 3e-3);
  EXPECT_DOUBLE_EQ(r.rank_end[1], 1e-3);
}

TEST(EngineTest, IterationsChainPerRank) {
  auto c = FakeCluster::Star(2, 1e9, 1e-6);
  DagBuilder b(2);
  const int32_t k = b.Add(Compute(0, 1e-3, 0));
  const int32_t f = b.Add(Flow(0, 1, 1e6));
  b.Edge(k, f);
  EngineOptions o;
  o.iterations = 3;
  o.record_iteration = 2;
  const RawResult r = RunDagInChild(Finish(b), *c, {}, o);
  // Rank 0 computes 1 ms then sends 1 ms + 2 us; its next iteration starts after the send.
  const double it = 1e-3 + 2e-6 + 1e-3;
  ASSERT_EQ(r.iteration_end.size(), 3u);
  EXPECT_NEAR(r.iteration_end[0], it, 1e-12);
  EXPECT_NEAR(r.iteration_end[2], 3 * it, 1e-12);
  EXPECT_NEAR(r.rank_start[0], 2 * it, 1e-12);
}

}  // namespace
}  // namespace convscale::sim
