// dp lowering of the 3-layer network: exact task lists, dependencies and buckets.
#include <gtest/gtest.h>

#include <utility>

#include "model/plan/plan.h"
#include "model/plan/strategy.h"
#include "model/util/json.h"
#include "tests/plan/fake_cluster.h"
#include "tests/plan/tiny_net.h"

namespace convscale::plan {
namespace {

using testing::FakeCluster;
using testing::TinyNet;

std::string Line(const Task& t) {
  std::string s = std::to_string(t.id) + " " + t.name + " [";
  for (size_t i = 0; i < t.deps.size(); ++i) s += (i ? "," : "") + std::to_string(t.deps[i]);
  return s + "]";
}

std::vector<std::string> Lines(const Rank& r) {
  std::vector<std::string> v;
  for (const auto& t : r.tasks) v.push_back(Line(t));
  return v;
}

TEST(LowerDp, TwoDevicesOneBucket) {
  FakeCluster cl(1, 2);
  StrategyOptions o;
  o.batch = 4;
  Plan p = Lower(TinyNet(), cl, o);
  ASSERT_EQ(p.ranks.size(), 2u);
  EXPECT_EQ(p.global_batch, 8);
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(p.groups[0].ranks, (std::vector<int>{0, 1}));
  const std::vector<std::string> want = {"0 conv1/fwd []",         "1 flatten/fwd [0]",
                                         "2 fc/fwd [1]",           "3 loss/fwd [2]",
                                         "4 loss/bwd-data [3]",    "5 fc/bwd-data [4]",
                                         "6 fc/bwd-weight [4,5]",  "7 flatten/bwd-data [5,6]",
                                         "8 conv1/bwd-weight [7]", "9 bucket0/all-reduce [6,8]",
                                         "10 update [8,9]"};
  for (int r = 0; r < 2; ++r) EXPECT_EQ(Lines(p.ranks[r]), want) << "rank " << r;
  const Task& ar = p.ranks[1].tasks[9];
  EXPECT_EQ(ar.kind, TaskKind::kCollective);
  EXPECT_EQ(ar.collective, Collective::kAllReduce);
  EXPECT_EQ(ar.comm_bytes, 350 * 4);
  EXPECT_EQ(ar.layers, (std::vector<int>{3, 1}));
  EXPECT_EQ(ar.collective_id, 0);
  EXPECT_EQ(ar.group, 0);
  // conv1 forward: 2*9 MACs per output element x 32 outputs (+ bias) per sample, 4 samples.
  const auto& conv = p.ranks[0].tasks[0];
  EXPECT_EQ(conv.samples, 4);
  EXPECT_EQ(conv.layer, 1);
  const Task& up = p.ranks[0].tasks[10];
  EXPECT_EQ(up.phase, Phase::kUpdate);
  EXPECT_DOUBLE_EQ(up.flops, 350 * 4);  // SGD with momentum: 4 FLOPs per parameter
  EXPECT_DOUBLE_EQ(up.bytes, 350 * 20);
}

TEST(LowerDp, SmallCapSplitsBucketsInReverseLayerOrder) {
  FakeCluster cl(2, 2);
  StrategyOptions o;
  o.batch = 4;
  o.bucket_bytes = 1000;  // fc's 1320 bytes close bucket 0; conv1's 80 bytes form bucket 1
  Plan p = Lower(TinyNet(), cl, o);
  ASSERT_EQ(p.ranks.size(), 4u);
  const auto& t = p.ranks[3].tasks;
  ASSERT_EQ(t.size(), 12u);
  EXPECT_EQ(Line(t[9]), "9 bucket0/all-reduce [6]");
  EXPECT_EQ(Line(t[10]), "10 bucket1/all-reduce [8,9]");
  EXPECT_EQ(t[9].layers, (std::vector<int>{3}));
  EXPECT_EQ(t[10].layers, (std::vector<int>{1}));
  EXPECT_EQ(t[9].comm_bytes, 1320);
  EXPECT_EQ(t[10].comm_bytes, 80);
  EXPECT_EQ(Line(t[11]), "11 update [8,10]");
  EXPECT_EQ(p.global_batch, 16);
}

TEST(LowerDp, HalfPrecisionGradientsHalveBucketBytes) {
  FakeCluster cl(1, 2);
  StrategyOptions o;
  o.grad_precision = CommPrecision::kFP16;
  Plan p = Lower(TinyNet(), cl, o);
  EXPECT_EQ(p.ranks[0].tasks[9].comm_bytes, 350 * 2);
  EXPECT_EQ(p.ranks[0].tasks[9].precision, CommPrecision::kFP16);
  EXPECT_EQ(p.context.options["grad_precision"], "fp16");
  EXPECT_EQ(p.context.options["batch"], 32);  // the default per-device batch
  EXPECT_EQ(p.context.options["bucket_bytes"], 25.0 * 1024 * 1024);
}

TEST(LowerDp, GlobalBatchIsSplitAcrossDevices) {
  FakeCluster cl(1, 4);
  StrategyOptions o;
  o.global_batch = 64;
  Plan p = Lower(TinyNet(), cl, o);
  EXPECT_EQ(p.ranks[0].tasks[0].samples, 16);
  o.global_batch = 30;
  EXPECT_THROW(Lower(TinyNet(), cl, o), InputError);
}

// Copies of a TaskList share one list until one of them is changed; reads through a const list
// never copy.
TEST(TaskList, CopiesShareUntilOneChanges) {
  TaskList a;
  Task t;
  t.name = "x";
  a.push_back(t);
  TaskList b = a;
  EXPECT_TRUE(b.SharesWith(a));
  for (const Task& x : std::as_const(b)) EXPECT_EQ(x.name, "x");
  EXPECT_EQ(std::as_const(b)[0].name, "x");
  EXPECT_TRUE(b.SharesWith(a));
  b.push_back(t);
  EXPECT_FALSE(b.SharesWith(a));
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 2u);
  TaskList c = a;
  c[0].name = "y";
  EXPECT_EQ(std::as_const(a)[0].name, "x");
  EXPECT_EQ(std::as_const(c)[0].name, "y");
  EXPECT_FALSE(TaskList().SharesWith(TaskList()));
}

// dp replicas share rank 0's list (a 16,384-rank ResNet-50 plan holds one list, not 7.6 M
// tasks); changing one rank's task gives that rank its own list and leaves the others as they
// were; the JSON still lists every rank's tasks and reads back to the same plan.
TEST(LowerDp, ReplicasShareOneTaskListUntilOneChanges) {
  FakeCluster cl(2, 4);
  StrategyOptions o;
  o.batch = 4;
  Plan p = Lower(TinyNet(), cl, o);
  const Plan& cp = p;
  ASSERT_EQ(cp.ranks.size(), 8u);
  for (int r = 1; r < 8; ++r) EXPECT_TRUE(cp.ranks[r].tasks.SharesWith(cp.ranks[0].tasks)) << r;
  EXPECT_EQ(cp.num_tasks(), 8u * 11);
  const std::string json = ToJson(cp).dump();
  p.ranks[3].tasks[10].flops = 7;  // a non-const access: rank 3 gets its own list first
  EXPECT_FALSE(cp.ranks[3].tasks.SharesWith(cp.ranks[0].tasks));
  EXPECT_TRUE(cp.ranks[4].tasks.SharesWith(cp.ranks[0].tasks));
  EXPECT_DOUBLE_EQ(cp.ranks[0].tasks[10].flops, 350 * 4);
  EXPECT_DOUBLE_EQ(cp.ranks[4].tasks[10].flops, 350 * 4);
  EXPECT_DOUBLE_EQ(cp.ranks[3].tasks[10].flops, 7);
  EXPECT_EQ(Lines(cp.ranks[3]), Lines(cp.ranks[0]));
  const Plan back = FromJson(ParseJson(json, "p.json"), "p.json");
  EXPECT_EQ(back.num_tasks(), 8u * 11);
  EXPECT_EQ(ToJson(back).dump(), json);
}

}  // namespace
}  // namespace convscale::plan
