// The strategy search on a built-in cluster, estimator only: one global batch for every
// candidate, what the facts state, and parameter-server labels and caveats.
#include <gtest/gtest.h>

#ifdef CONVSCALE_REPORTS_HAVE_SEARCH
#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "reports/search.h"

namespace convscale::reports {
namespace {

SearchSpec Spec() {
  SearchSpec s;
  s.model = "resnet18";
  s.cluster = "dgx-a100-hdr200";
  s.gpus = 16;
  s.batch = 32;
  return s;
}

TEST(Search, EveryCandidateTrainsTheHeadersGlobalBatch) {
  const SearchSpec spec = Spec();
  const graph::Network net = graph::LoadModel(spec.model, spec.batch);
  topo::ClusterOptions co;
  co.gpus = spec.gpus;
  const auto base = topo::LoadCluster(spec.cluster, co);
  int lowered = 0;
  for (const char* strategy : {"dp", "ps", "mp", "hybrid"})
    for (const plan::StrategyOptions& o : CandidateOptions(strategy, spec, *base)) {
      co.server_hosts = plan::DedicatedServerHosts(o, *base);
      const auto cl = topo::LoadCluster(spec.cluster, co);
      const plan::Plan p = plan::Lower(net, *cl, o);
      EXPECT_EQ(p.global_batch, 16 * 32) << strategy << " " << plan::OptionsToJson(o).dump();
      ++lowered;
    }
  EXPECT_EQ(lowered, 16 + 8 + 3 + 4);
}

TEST(Search, FactsStateThePrecisionAndPsRowsTheirPlacement) {
  const SelectionReport r = Select(Spec());
  EXPECT_EQ(r.facts.compute_precision, "bf16");  // A100: tensor cores, bf16 by default
  EXPECT_EQ(r.facts.grad_precision, "fp32");
  EXPECT_EQ(r.facts.global_batch, 512);
  EXPECT_EQ(r.facts.per_device_batch, 32);
  int found = 0;
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    const Candidate& c = r.candidates[i];
    if (i > 0) {
      EXPECT_NE(c.reason.rfind("fastest", 0), 0u) << c.label << ": " << c.reason;
    }
    if (c.label == "ps 2 servers, 1 per node, colocated, sync" ||
        c.label == "ps 4 servers, dedicated hosts, sync")
      ++found;
    if (c.label == "ps 2 servers, 1 per node, colocated, async (staleness unbounded)") {
      ++found;
      EXPECT_NE(c.reason.find("; asynchronous, staleness unbounded: stale gradients change "
                              "convergence, so its samples/s overstate training progress against "
                              "sync"),
                std::string::npos)
          << c.reason;
    }
  }
  EXPECT_EQ(found, 3);
}

}  // namespace
}  // namespace convscale::reports
#endif  // CONVSCALE_REPORTS_HAVE_SEARCH
