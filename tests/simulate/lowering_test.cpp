// Lowering a plan to the simulator's Dag (simulate/lowering.h): compute fusion.
#include <gtest/gtest.h>

#include "simulate/lowering.h"
#include "tests/simulate/fake_cluster.h"
#include "tests/simulate/plans.h"

namespace convscale::sim {
namespace {

using testing::BucketPlan;
using testing::FakeCluster;

// A data-parallel rank: 16 forward and 16 backward tasks, a bucket all-reduce after every 4th
// backward task, each bucket waiting on the backward tasks of its layers (as `convscale plan`
// writes it). The compute stream is cut only where a collective starts: four timers per rank,
// holding all 32 tasks in order, each lasting its tasks' sum.
TEST(LoweringTest, ComputeChainsAreCutOnlyWhereSomethingElseWaits) {
  const int n = 4, layers = 16;
  auto cl = FakeCluster::Star(n, 12.5e9, 1e-6);
  plan::Plan p = BucketPlan(n, layers, 1e9, 4, 1e6, true);
  for (plan::Rank& rk : p.ranks)
    for (plan::Task& t : rk.tasks)
      if (t.kind == plan::TaskKind::kCollective) {  // every backward task since the last bucket
        const int last = t.deps[0];
        for (int k = last - 1; k >= 0 && rk.tasks[k].kind == plan::TaskKind::kCompute &&
                               rk.tasks[k].phase == plan::Phase::kBackwardData;
             --k)
          t.deps.push_back(k);
      }
  const LoweredPlan lp = LowerPlan(p, *cl, LoweringOptions{});
  const Dag& d = lp.dag;
  std::vector<std::vector<const Node*>> compute(n);
  for (const Node& nd : d.nodes)
    if (nd.kind == NodeKind::kCompute) compute[nd.rank].push_back(&nd);
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(compute[r].size(), 4u) << "rank " << r;
    // Forward + 4 backward, then 4 backward each.
    const int want_tasks[] = {20, 4, 4, 4};
    int64_t task = d.task_offset[r];
    for (int c = 0; c < 4; ++c) {
      const Node& nd = *compute[r][c];
      ASSERT_EQ(nd.chain_end - nd.chain_begin, want_tasks[c]) << "rank " << r << " chain " << c;
      EXPECT_DOUBLE_EQ(nd.amount, want_tasks[c] * 1e9 / 1e12);
      for (int k = nd.chain_begin; k < nd.chain_end; ++k) {
        // Chains hold the compute tasks in plan order, skipping the collectives.
        const plan::Task* t = &p.ranks[r].tasks[d.chain_task[k] - d.task_offset[r]];
        EXPECT_EQ(t->kind, plan::TaskKind::kCompute);
        EXPECT_GE(d.chain_task[k], task);
        task = d.chain_task[k] + 1;
      }
    }
  }
}

}  // namespace
}  // namespace convscale::sim
