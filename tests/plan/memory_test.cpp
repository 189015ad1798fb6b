// The memory model (docs/plan-format.md, "Memory model") against hand counts on the 3-layer
// network (tests/plan/tiny_net.h), and the refusal message of a plan that does not fit.
//
// Hand counts, per sample, fp32 (4 bytes per element):
//   parameters: conv1 2*9+2 = 20, fc 32*10+10 = 330; 350 in all.
//   activations kept for backward: the input (1x4x4 = 16 el., 64 B, conv1 reads it), conv1's
//   output (2x4x4 = 32 el., 128 B, fc reads it through the flatten view), the loss's softmax
//   probabilities (10 el., 40 B): 232 B per sample, charged 192 B to conv1 (input + output)
//   and 40 B to the loss.
//   activations: the memory plan's peak (tests/plan/memory_plan_test.cpp works it out: 1472 B for
//   4 samples in fp32; 768 B in fp16, where every tensor halves before rounding up to 64 B).
//   workspace: the largest of a backward task's input gradient (fc: 32 el. x 4 B per sample;
//   the loss: 10 x 4) and a weight gradient (fc: 330 x 4 = 1320 B, the largest at 4 samples).
#include <gtest/gtest.h>

#include "model/cost/estimate.h"
#include "model/plan/strategy.h"
#include "tests/plan/fake_cluster.h"
#include "tests/plan/plan_dump.h"
#include "tests/plan/tiny_net.h"

namespace convscale::plan {
namespace {

using testing::FakeCluster;
using testing::RankLine;
using testing::TinyNet;

Plan LowerTiny(const topo::Cluster& cl, StrategyOptions o) {
  if (o.batch == 0) o.batch = 4;
  return Lower(TinyNet(), cl, o);
}

TEST(MemoryModel, DataParallelPrecisionsAndOneDevice) {
  FakeCluster cl(1, 2);
  StrategyOptions o;
  Plan p = LowerTiny(cl, o);
  // weights, gradients 350 x 4; SGD momentum 1 copy; activations 1472; no buffers (the fp32
  // bucket is a view of the gradients); workspace 1320 (Adam: estimate_test.cpp).
  for (const Rank& r : p.ranks) {
    EXPECT_EQ(RankLine(r).substr(RankLine(r).find('|')), "| w1400 g1400 o1400 a1472 B0 ws1320");
    EXPECT_EQ(r.memory_peak(), 1400 * 3 + 1472 + 0 + 1320);
  }
  o.optimizer = "adam";
  o.precision = "fp16";  // + a 2-byte weight copy; activations halve (before rounding)
  p = LowerTiny(cl, o);
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 worker s-1 r0 | w2100 g1400 o2800 a768 B0 ws1320");
  o.precision = "fp32";
  o.optimizer = "sgd";
  o.grad_precision = CommPrecision::kFP16;  // the bucket is staged as fp16: 700 bytes
  p = LowerTiny(cl, o);
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 worker s-1 r0 | w1400 g1400 o1400 a1472 B700 ws1320");
  FakeCluster one(1, 1);  // a single device: no communication buffers
  p = LowerTiny(one, StrategyOptions{});
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 worker s-1 r0 | w1400 g1400 o1400 a1472 B0 ws1320");
}

TEST(MemoryModel, PipelineStageRefusalNamesTheStageDevice) {
  // mp, 2 stages: stage 1 (fc + loss) needs 1320 x 3 + 1472 + 0 + 1320 = 6752 bytes on gpu1
  // (activations: lower_strategies_test.cpp, LowerMp.SequentialTwoStages); stage 0 (conv1)
  // 80 x 3 + 1280 + 512 + 80 = 2112 fits.
  FakeCluster cl(1, 2);
  cl.gpu_type().memory_bytes = 6000;
  StrategyOptions o;
  o.strategy = "mp";
  const Plan p = LowerTiny(cl, o);
  try {
    cost::CheckMemory(p, cl);
    FAIL() << "stage 1 fits";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "endpoint node0/gpu1 needs 6.6 KiB but has 5.9 KiB (weights 1.3 KiB, gradients "
                 "1.3 KiB, optimizer 1.3 KiB, activations 1.4 KiB, buffers 0 B, workspace "
                 "1.3 KiB); use a smaller --batch, more --stages or --micro-batches, or "
                 "--allow-oversubscribe");
  }
}

}  // namespace
}  // namespace convscale::plan
