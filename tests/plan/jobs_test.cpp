// Jobs placed side by side on one cluster (model/plan/jobs.h).
#include <gtest/gtest.h>

#include "model/graph/zoo.h"
#include "model/plan/jobs.h"
#include "model/plan/strategy.h"
#include "model/util/error.h"

namespace convscale::plan {
namespace {

struct Planned {
  std::unique_ptr<topo::Cluster> cluster;
  Plan plan;
};

Planned Make(const std::string& model, int gpus, const std::string& strategy = "dp",
             int servers = 0) {
  topo::ClusterOptions co;
  co.gpus = gpus;
  co.server_hosts = servers;
  Planned p;
  p.cluster = topo::LoadCluster("dgx-a100", co);
  StrategyOptions o;
  o.strategy = strategy;
  o.gpus = gpus;
  o.batch = 8;
  o.cluster = "dgx-a100";
  p.plan = Lower(graph::LoadModel(model, 8), *p.cluster, o);
  p.plan.context.cluster = "dgx-a100";
  return p;
}

std::string ErrorOf(const std::vector<Job>& jobs, const topo::Cluster& shared) {
  try {
    PlaceJobs(jobs, shared, nullptr);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(PlaceJobsTest, SecondJobMovesToTheDevicesAfterTheFirst) {
  const Planned a = Make("resnet18", 8), b = Make("vgg11", 16);
  topo::ClusterOptions co;
  co.gpus = 24;
  const auto shared = topo::LoadCluster("dgx-a100", co);
  std::vector<PlacedJob> placed;
  const Plan j =
      PlaceJobs({{&a.plan, a.cluster.get(), "a.json"}, {&b.plan, b.cluster.get(), "b.json"}},
                *shared, &placed);
  ASSERT_EQ(j.ranks.size(), 24u);
  ASSERT_EQ(placed.size(), 2u);
  EXPECT_EQ(placed[1].name, "b.json");
  EXPECT_EQ(placed[1].first_rank, 8);
  EXPECT_EQ(placed[1].ranks, 16);
  EXPECT_EQ(placed[1].first_device, 8);
  EXPECT_EQ(placed[1].devices, 16);
  EXPECT_EQ(placed[1].global_batch, 16 * 8);
  EXPECT_EQ(j.ranks[8].endpoint, 8);  // b's device 0
  EXPECT_EQ(j.ranks[23].endpoint, 23);
  ASSERT_EQ(j.groups.size(), a.plan.groups.size() + b.plan.groups.size());
  EXPECT_EQ(j.groups.back().ranks.front(), 8 + b.plan.groups.back().ranks.front());
  // b's collectives follow a's: no id is on both jobs' ranks, and b's groups are b's.
  int64_t a_max = -1;
  for (const Task& t : j.ranks[0].tasks) a_max = std::max(a_max, t.collective_id);
  for (const Task& t : j.ranks[8].tasks) {
    if (t.kind != TaskKind::kCollective) continue;
    EXPECT_GT(t.collective_id, a_max);
    EXPECT_GE(t.group, static_cast<int>(a.plan.groups.size()));
  }
  // b's replicas still share one task list.
  EXPECT_TRUE(j.ranks[9].tasks.SharesWith(j.ranks[8].tasks));
  EXPECT_FALSE(j.ranks[8].tasks.SharesWith(j.ranks[0].tasks));
}

TEST(PlaceJobsTest, JobsThatCannotShareAClusterAreRefusedNamingTheJob) {
  const Planned a = Make("resnet18", 8), b = Make("resnet18", 8);
  topo::ClusterOptions co;
  co.gpus = 8;
  const auto small = topo::LoadCluster("dgx-a100", co);
  EXPECT_EQ(
      ErrorOf({{&a.plan, a.cluster.get(), "a.json"}, {&b.plan, b.cluster.get(), "b.json"}}, *small),
      "b.json: needs devices 8..15 but cluster \"dgx-a100\" has 8");
  co.gpus = 16;
  const auto shared = topo::LoadCluster("dgx-a100", co);
  const Planned ps = Make("resnet18", 8, "ps", 1);
  EXPECT_EQ(ErrorOf({{&a.plan, a.cluster.get(), "a.json"}, {&ps.plan, ps.cluster.get(), "ps.json"}},
                    *shared),
            "ps.json: /ranks/8: runs on server0, not on a device; only jobs whose ranks all run on "
            "devices can share a cluster with another job");
  Plan other = b.plan;
  other.context.cluster = "dgx-h100";
  EXPECT_EQ(
      ErrorOf({{&a.plan, a.cluster.get(), "a.json"}, {&other, b.cluster.get(), "b.json"}}, *shared),
      "b.json: /context/cluster: lowered for cluster \"dgx-h100\", a.json for "
      "\"dgx-a100\"; jobs must share one cluster description");
  Plan fp32 = b.plan;  // A100s compute in bf16 by default
  fp32.precision = "fp32";
  EXPECT_EQ(
      ErrorOf({{&a.plan, a.cluster.get(), "a.json"}, {&fp32, b.cluster.get(), "b.json"}}, *shared),
      "b.json: /precision: computes in fp32, a.json in bf16; jobs simulated together must "
      "share the compute precision");
}

}  // namespace
}  // namespace convscale::plan
