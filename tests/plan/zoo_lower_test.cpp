// Every strategy lowers, validates and estimates for every zoo model on a built-in cluster.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "topologies/cluster.h"

namespace convscale::plan {
namespace {

bool HasCluster(const std::string& name) {
  const auto names = topo::BuiltinClusterNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

struct Case {
  const char* label;
  StrategyOptions o;
};

std::vector<Case> Cases() {
  std::vector<Case> v;
  auto add = [&](const char* label, auto edit) {
    StrategyOptions o;
    o.batch = 8;
    edit(o);
    v.push_back({label, o});
  };
  add("dp ring", [](StrategyOptions&) {});
  add("dp tree fp16", [](StrategyOptions& o) {
    o.algorithm = Algorithm::kTree;
    o.grad_precision = CommPrecision::kFP16;
  });
  add("dp hierarchical", [](StrategyOptions& o) { o.algorithm = Algorithm::kHierarchical; });
  add("dp halving-doubling adam", [](StrategyOptions& o) {
    o.algorithm = Algorithm::kHalvingDoubling;
    o.optimizer = "adam";
  });
  add("mp 4 stages 1f1b", [](StrategyOptions& o) {
    o.strategy = "mp";
    o.gpus = 4;
    o.stages = 4;
    o.micro_batches = 4;
    o.schedule = PipelineSchedule::k1F1B;
  });
  add("ps host", [](StrategyOptions& o) {
    o.strategy = "ps";
    o.ps_placement = PsPlacement::kHost;
  });
  add("ps colocated async", [](StrategyOptions& o) {
    o.strategy = "ps";
    o.ps_placement = PsPlacement::kColocated;
    o.servers = 4;
    o.async = true;
    o.staleness = 2;
  });
  add("hybrid dp-pp", [](StrategyOptions& o) {
    o.strategy = "hybrid";
    o.stages = 2;
    o.micro_batches = 2;
  });
  add("hybrid owt", [](StrategyOptions& o) {
    o.strategy = "hybrid";
    o.hybrid = HybridKind::kOneWeirdTrick;
  });
  return v;
}

TEST(ZooLowering, EveryStrategyForEveryModel) {
  if (!HasCluster("dgx-a100")) GTEST_SKIP() << "built-in cluster dgx-a100 is absent";
  topo::ClusterOptions co;
  co.gpus = 16;  // two nodes
  auto cl = topo::LoadCluster("dgx-a100", co);
  for (const auto& m : graph::ZooModels()) {
    const graph::Network net = graph::LoadModel(m.name, 8);
    for (const auto& c : Cases()) {
      SCOPED_TRACE(m.name + " " + c.label);
      StrategyOptions o = c.o;
      o.model = m.name;
      Plan p;
      try {
        p = Lower(net, *cl, o);
      } catch (const InputError& e) {
        // The only allowed refusal: a model with too few single-tensor boundaries for 4 stages.
        EXPECT_NE(std::string(e.what()).find("points where exactly one tensor crosses"),
                  std::string::npos)
            << e.what();
        continue;
      }
      EXPECT_NO_THROW(Validate(p));
      const cost::Summary s = cost::Estimate(p, *cl);
      EXPECT_GT(s.iteration_time_s, 0);
      EXPECT_GT(s.memory_peak_bytes, 0);
      const Json j = ToJson(p);
      EXPECT_EQ(ToJson(FromJson(j, "p")).dump(), j.dump());
    }
  }
}

}  // namespace
}  // namespace convscale::plan
