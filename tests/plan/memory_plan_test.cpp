// The memory planner (model/plan/memory_plan.h) on the 3-layer network (tests/plan/tiny_net.h),
// by hand, and its reuse rule on a deeper pipelined plan.
//
// dp on one device, batch 4, fp32. The compute steps, in task order:
//   0 conv1 fwd, 1 flatten fwd, 2 fc fwd, 3 loss fwd, 4 loss bwd-data, 5 fc bwd-data,
//   6 fc bwd-weight, 7 flatten bwd-data (a view: no tensor), 8 conv1 bwd-weight, 9 update.
// Tensors (bytes for 4 samples, rounded up to 64):
//   input images   16 el. x 4 B x 4 = 256, pinned (steps 0-9)
//   conv1 output   32 el. x 4 B x 4 = 512, steps 0-6 (the flatten view and fc read it; fc's
//                  weight gradient at step 6 is its last reader)
//   fc output      10 x 4 x 4 = 160 -> 192, steps 2-3 (the loss reads it in forward only)
//   loss output    1 x 4 x 4 = 16 -> 64, step 3
//   loss saved     the probabilities, 160 -> 192, steps 3-4
//   fc output grad 192, steps 4-6 (written by the loss's backward, read by fc's)
//   conv1 output grad (through the flatten view) 512, steps 5-8
// Alive at each step: 0-1: 768; 2: 960; 3: 1216; 4: 1152; 5-6: 256 + 512 + 192 + 512 = 1472;
// 7-8: 768; 9: 256. Peak 1472 at steps 5-6.
// Offsets, in order of first step (ties: larger first), each in the smallest gap between the
// tensors alive during its steps that holds it, else above them: conv1 output 0, images 512, fc
// output 768, loss saved 960, loss output 1152; fc output grad (steps 4-6) 768, the gap 768-960
// between the images and the loss's saved probabilities (step 4) that the fc output (steps 2-3)
// left; conv1 output grad (steps 5-8) 960, above conv1 output, images and fc output grad. Arena
// 1472: no byte more than the peak.
#include <gtest/gtest.h>

#include "model/graph/zoo.h"
#include "model/plan/memory_plan.h"
#include "model/plan/strategy.h"
#include "tests/plan/fake_cluster.h"
#include "tests/plan/tiny_net.h"

namespace convscale::plan {
namespace {

using testing::FakeCluster;
using testing::TinyNet;

TEST(MemoryPlan, TinyNetByHand) {
  FakeCluster cl(1, 1);
  StrategyOptions o;
  o.batch = 4;
  const graph::Network net = TinyNet();
  const Plan p = Lower(net, cl, o);
  const MemoryPlan mp = PlanRankMemory(net, p.ranks[0], 4, 4, true);
  EXPECT_TRUE(mp.reuse);
  EXPECT_EQ(mp.steps, 10);
  struct Want {
    int layer;
    TensorKind kind;
    int64_t bytes;
    int first, last;
    int64_t offset;
  };
  const std::vector<Want> want = {
      {0, TensorKind::kOutput, 256, 0, 9, 512},     {1, TensorKind::kOutput, 512, 0, 6, 0},
      {1, TensorKind::kOutputGrad, 512, 5, 8, 960}, {3, TensorKind::kOutput, 192, 2, 3, 768},
      {3, TensorKind::kOutputGrad, 192, 4, 6, 768}, {4, TensorKind::kOutput, 64, 3, 3, 1152},
      {4, TensorKind::kSaved, 192, 3, 4, 960}};
  ASSERT_EQ(mp.tensors.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const PlannedTensor& t = mp.tensors[i];
    SCOPED_TRACE(std::to_string(i));
    EXPECT_EQ(t.layer, want[i].layer);
    EXPECT_EQ(t.kind, want[i].kind);
    EXPECT_EQ(t.bytes, want[i].bytes);
    EXPECT_EQ(t.first_step, want[i].first);
    EXPECT_EQ(t.last_step, want[i].last);
    EXPECT_EQ(t.offset, want[i].offset);
  }
  EXPECT_EQ(mp.tensors[0].pinned, true);
  EXPECT_EQ(mp.peak_live_bytes, 1472);
  EXPECT_EQ(mp.arena_bytes, 1472);
  // The flatten view names its input's tensors.
  EXPECT_EQ(mp.Find(2, 0, TensorKind::kOutput), mp.Find(1, 0, TensorKind::kOutput));
  EXPECT_EQ(mp.Find(2, 0, TensorKind::kOutputGrad)->offset, 960);
  EXPECT_EQ(mp.Find(1, 1, TensorKind::kOutput), nullptr);  // one micro-batch only
}

// Without the compute chain (a hand-written plan) nothing is reused: the peak is the sum.
TEST(MemoryPlan, UnchainedComputeTasksPinEveryTensor) {
  FakeCluster cl(1, 1);
  StrategyOptions o;
  o.batch = 4;
  const graph::Network net = TinyNet();
  Plan p = Lower(net, cl, o);
  for (Task& t : p.ranks[0].tasks) t.deps.clear();
  const MemoryPlan mp = PlanRankMemory(net, p.ranks[0], 4, 4, true);
  EXPECT_FALSE(mp.reuse);
  EXPECT_EQ(mp.peak_live_bytes, 256 + 512 + 512 + 192 + 192 + 64 + 192);
  EXPECT_EQ(mp.arena_bytes, mp.peak_live_bytes);
}

// ResNet-18 as a 2-stage 1F1B pipeline with 4 micro-batches: no two tensors alive at the same
// step share a byte, the stage-boundary tensors are pinned, and greedy offsets stay within 10%
// of the peak.
TEST(MemoryPlan, ResNet18PipelineNeverSharesLiveBytes) {
  graph::Network net = graph::BuildZooModel("resnet18");
  net.Infer(8);
  FakeCluster cl(1, 2);
  StrategyOptions o;
  o.strategy = "mp";
  o.batch = 8;
  o.micro_batches = 4;
  o.schedule = PipelineSchedule::k1F1B;
  o.precision = "fp32";
  const Plan p = Lower(net, cl, o);
  for (const Rank& r : p.ranks) {
    const MemoryPlan mp = PlanRankMemory(net, r, 2, 4, true);
    ASSERT_TRUE(mp.reuse);
    int pinned = 0;
    for (size_t i = 0; i < mp.tensors.size(); ++i) {
      const PlannedTensor& a = mp.tensors[i];
      pinned += a.pinned;
      ASSERT_LE(a.offset + a.bytes, mp.arena_bytes);
      for (size_t j = i + 1; j < mp.tensors.size(); ++j) {
        const PlannedTensor& b = mp.tensors[j];
        const bool together = a.first_step <= b.last_step && b.first_step <= a.last_step;
        const bool share = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
        ASSERT_FALSE(together && share) << "rank " << r.stage << ": tensors " << i << ", " << j;
      }
    }
    EXPECT_GE(pinned, 4 * 2) << "4 micro-batches: the crossing activation and its gradient";
    EXPECT_GE(mp.arena_bytes, mp.peak_live_bytes);
    EXPECT_LE(double(mp.arena_bytes), 1.01 * double(mp.peak_live_bytes));
  }
}

}  // namespace
}  // namespace convscale::plan
