// The per-collective tables against the textbook formulas (MPICH headers, NCCL trees,
// nccl-tests PERFORMANCE.md).
#include <gtest/gtest.h>

#include <cmath>

#include "model/plan/collectives.h"

namespace convscale::plan {
namespace {

double Sent(const Schedule& s, int member) {
  double b = 0;
  for (const auto& st : s.steps)
    for (const auto& t : st.transfers)
      if (t.src == member) b += t.bytes;
  return b;
}

TEST(Collectives, RingAllReduceIsReduceScatterThenAllGather) {
  const Schedule s = BuildSchedule(Collective::kAllReduce, Algorithm::kRing, 4, 400);
  ASSERT_EQ(s.steps.size(), 6u);  // 2(n-1)
  for (size_t k = 0; k < 6; ++k) {
    ASSERT_EQ(s.steps[k].transfers.size(), 4u);
    for (const auto& t : s.steps[k].transfers) {
      EXPECT_EQ(t.bytes, 100);  // bytes/n
      EXPECT_EQ(t.dst, (t.src + 1) % 4);
      EXPECT_EQ(t.reduce, k < 3);
    }
  }
  EXPECT_EQ(Sent(s, 2), 600);  // 2(n-1)/n bytes
  EXPECT_EQ(BytesSentPerRank(Collective::kAllReduce, Algorithm::kRing, 4, 400), 600);
  EXPECT_EQ(TotalBytesSent(Collective::kAllReduce, Algorithm::kRing, 4, 400), 2400);
}

TEST(Collectives, BusBandwidthFactors) {
  EXPECT_DOUBLE_EQ(BusBwFactor(Collective::kAllReduce, 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(BusBwFactor(Collective::kReduceScatter, 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(BusBwFactor(Collective::kAllGather, 4), 3.0 / 4);
  EXPECT_DOUBLE_EQ(BusBwFactor(Collective::kBroadcast, 4), 1);
  EXPECT_DOUBLE_EQ(BusBwFactor(Collective::kReduce, 16), 1);
}

TEST(Collectives, ClosedFormsMatchTheAlphaBetaTable) {
  const double a = 1e-6, B = 1e9, S = 1e6;
  // Ring all-reduce: 2(p-1) a + 2 (p-1)/p S/B.
  EXPECT_DOUBLE_EQ(ClosedFormTime(Collective::kAllReduce, Algorithm::kRing, 4, S, a, B),
                   6e-6 + 1.5e-3);
  // Ring all-gather: (p-1) a + (p-1)/p S/B.
  EXPECT_DOUBLE_EQ(ClosedFormTime(Collective::kAllGather, Algorithm::kRing, 8, S, a, B),
                   7e-6 + 7.0 / 8 * 1e-3);
  // Rabenseifner, p = 8: 2 lg p a + 2 (p-1)/p S/B.
  EXPECT_DOUBLE_EQ(ClosedFormTime(Collective::kAllReduce, Algorithm::kHalvingDoubling, 8, S, a, B),
                   6e-6 + 2 * 7.0 / 8 * 1e-3);
  // MPICH, p = 6: (2 floor(lg p) + 2) a + (2 (p-1)/p + 2) S/B.
  EXPECT_DOUBLE_EQ(ClosedFormTime(Collective::kAllReduce, Algorithm::kHalvingDoubling, 6, S, a, B),
                   6e-6 + (2 * 5.0 / 6 + 2) * 1e-3);
  // Double binary tree: 2 ceil(lg p) a + 2 S/B.
  EXPECT_DOUBLE_EQ(ClosedFormTime(Collective::kAllReduce, Algorithm::kTree, 5, S, a, B),
                   6e-6 + 2e-3);
  // Hierarchical, 2 nodes x 4: 2(g-1) a + 2(g-1)/g S/B + 2(N-1) a + 2(N-1)/N (S/g)/B.
  EXPECT_DOUBLE_EQ(ClosedFormTime(Collective::kAllReduce, Algorithm::kHierarchical, 8, S, a, B, 4),
                   6e-6 + 1.5e-3 + 2e-6 + 0.25e-3);
  // Direct broadcast: the root's link carries (p-1) S.
  EXPECT_DOUBLE_EQ(ClosedFormTime(Collective::kBroadcast, Algorithm::kDirect, 4, S, a, B),
                   1e-6 + 3e-3);
  EXPECT_EQ(ClosedFormTime(Collective::kAllReduce, Algorithm::kRing, 1, S, a, B), 0);
}

TEST(Collectives, HalvingDoublingPowerOfTwo) {
  const Schedule s = BuildSchedule(Collective::kAllReduce, Algorithm::kHalvingDoubling, 8, 800);
  ASSERT_EQ(s.steps.size(), 6u);  // lg p halving + lg p doubling
  EXPECT_EQ(s.steps[0].transfers[0].bytes, 400);
  EXPECT_EQ(s.steps[0].transfers[0].dst, 4);  // partner at distance p/2
  EXPECT_EQ(s.steps[2].transfers[0].bytes, 100);
  EXPECT_EQ(s.steps[3].transfers[0].bytes, 100);
  EXPECT_EQ(s.steps[5].transfers[0].bytes, 400);
  EXPECT_EQ(Sent(s, 3), 2 * 7.0 / 8 * 800);
}

TEST(Collectives, HalvingDoublingNonPowerOfTwoHasPreAndPostSteps) {
  const Schedule s = BuildSchedule(Collective::kAllReduce, Algorithm::kHalvingDoubling, 6, 600);
  ASSERT_EQ(s.steps.size(), 6u);  // pre + 2 + 2 + post
  ASSERT_EQ(s.steps[0].transfers.size(), 2u);
  EXPECT_EQ(s.steps[0].transfers[0].src, 0);
  EXPECT_EQ(s.steps[0].transfers[0].dst, 1);
  EXPECT_EQ(s.steps[0].transfers[0].bytes, 600);
  EXPECT_EQ(s.steps[5].transfers[1].src, 3);
  EXPECT_EQ(s.steps[5].transfers[1].dst, 2);
  EXPECT_EQ(Sent(s, 0), 600);              // only the pre step
  EXPECT_EQ(Sent(s, 1), 1.5 * 600 + 600);  // p'=4 halving-doubling, then the post step
  EXPECT_EQ(Sent(s, 4), 1.5 * 600);
}

TEST(Collectives, DoubleBinaryTreeAsNccl) {
  // n = 4: tree 1 is 0 <- 2 <- {1, 3}; tree 2 mirrors it: 3 <- 1 <- {0, 2}.
  const Schedule s = BuildSchedule(Collective::kAllReduce, Algorithm::kTree, 4, 1000);
  ASSERT_EQ(s.steps.size(), 4u);
  ASSERT_EQ(s.steps[0].transfers.size(), 4u);  // the leaves of both trees send up
  EXPECT_EQ(s.steps[0].transfers[0].src, 1);
  EXPECT_EQ(s.steps[0].transfers[0].dst, 2);
  EXPECT_EQ(s.steps[1].transfers[0].src, 2);
  EXPECT_EQ(s.steps[1].transfers[0].dst, 0);
  EXPECT_EQ(s.steps[1].transfers[1].src, 1);
  EXPECT_EQ(s.steps[1].transfers[1].dst, 3);
  EXPECT_EQ(Sent(s, 1), 2000);  // leaf of tree 1 (500), inner node of tree 2 (500 + 2 x 500)
  EXPECT_EQ(BytesSentPerRank(Collective::kAllReduce, Algorithm::kTree, 4, 1000), 2000);
  EXPECT_THROW(BuildSchedule(Collective::kReduceScatter, Algorithm::kTree, 4, 1000),
               std::invalid_argument);
}

TEST(Collectives, HierarchicalIsIntraReduceScatterInterAllReduceIntraAllGather) {
  const Schedule s =
      BuildSchedule(Collective::kAllReduce, Algorithm::kHierarchical, 4, 400, {0, 0, 1, 1});
  ASSERT_EQ(s.steps.size(), 4u);
  EXPECT_EQ(s.steps[0].transfers.size(), 4u);  // two nodes, two members each
  EXPECT_EQ(s.steps[0].transfers[0].bytes, 200);
  EXPECT_EQ(s.steps[0].transfers[0].dst, 1);
  EXPECT_EQ(s.steps[1].transfers[0].bytes, 100);  // shard of 1/g, split over N nodes
  EXPECT_EQ(s.steps[1].transfers[0].src, 0);
  EXPECT_EQ(s.steps[1].transfers[0].dst, 2);
  EXPECT_EQ(Sent(s, 0), 200 + 100 + 100 + 200);
  EXPECT_THROW(
      BuildSchedule(Collective::kAllReduce, Algorithm::kHierarchical, 4, 400, {0, 0, 0, 1}),
      std::invalid_argument);
}

TEST(Collectives, DirectAndChain) {
  Schedule s = BuildSchedule(Collective::kBroadcast, Algorithm::kDirect, 4, 100);
  ASSERT_EQ(s.steps.size(), 1u);
  EXPECT_EQ(s.steps[0].transfers.size(), 3u);
  EXPECT_EQ(Sent(s, 0), 300);
  s = BuildSchedule(Collective::kBroadcast, Algorithm::kRing, 4, 400);
  EXPECT_EQ(s.steps.size(), 6u);  // 4 chunks through a 3-hop chain
  EXPECT_EQ(Sent(s, 0), 400);
  EXPECT_EQ(Sent(s, 3), 0);
  s = BuildSchedule(Collective::kReduceScatter, Algorithm::kDirect, 4, 400);
  EXPECT_EQ(Sent(s, 1), 300);
}

}  // namespace
}  // namespace convscale::plan
