// The estimator against the simulator, candidate by candidate: for each model, cluster and device
// count, every candidate `select` generates (reports::CandidateOptions, all strategies) is
// estimated in closed form and simulated with SimGrid (reports::Select with no pruning), and the
// relative difference estimate / simulate - 1 of the iteration time is printed per candidate, with
// per-case and overall medians and maxima, and whether the top 5 by estimate are the top 5 by
// simulation in the same order; and every simulated candidate against its plan's lower bound
// (cost::LowerBound), which no simulation may beat.
//   agreement_bench [--models a,b] [--clusters a,b] [--gpus 8,64] [--strategies dp,ps,mp,hybrid]
//                   [--batch B] [--jobs J] [--rows]
// Cases the cluster cannot hold (more devices than it can have) are skipped with its message.
// Output: Markdown (bench/agreement-results.md keeps the runs).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "model/util/error.h"
#include "reports/search.h"
#include "simulate/simulator.h"
#include "topologies/cluster.h"

using namespace convscale;

namespace {

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Labels of the `k` fastest candidates by `time` (simulated or estimated iteration time).
std::vector<std::string> Top(std::vector<const reports::Candidate*> c, int k, bool estimate) {
  auto t = [&](const reports::Candidate* x) {
    return estimate ? *x->estimate_iteration_time_s : x->iteration_time_s;
  };
  std::stable_sort(
      c.begin(), c.end(),
      [&](const reports::Candidate* a, const reports::Candidate* b) { return t(a) < t(b); });
  std::vector<std::string> out;
  for (int i = 0; i < k && i < static_cast<int>(c.size()); ++i) out.push_back(c[i]->label);
  return out;
}

std::string Pct(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", x * 100);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models = {"resnet50",     "resnet152", "vgg16",
                                     "inception_v3", "alexnet",   "mobilenet_v2"};
  std::vector<std::string> clusters = {"dgx1-v100", "dgx-a100-hdr200", "p3.16xlarge", "p2.8xlarge",
                                       "dgx-a100-hdr200-2to1"};
  std::vector<int> gpus = {8, 64, 512};
  std::vector<std::string> strategies = {"dp", "ps", "mp", "hybrid"};
  int64_t batch = plan::kDefaultBatchPerDevice;
  int jobs = 0;
  bool rows = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--models" && more) {
      models = Split(argv[++i]);
    } else if (a == "--clusters" && more) {
      clusters = Split(argv[++i]);
    } else if (a == "--gpus" && more) {
      gpus.clear();
      for (const std::string& g : Split(argv[++i])) gpus.push_back(std::atoi(g.c_str()));
    } else if (a == "--strategies" && more) {
      strategies = Split(argv[++i]);
    } else if (a == "--batch" && more) {
      batch = std::atoll(argv[++i]);
    } else if (a == "--jobs" && more) {
      jobs = std::atoi(argv[++i]);
    } else if (a == "--rows") {
      rows = true;
    } else {
      std::fprintf(stderr,
                   "usage: agreement_bench [--models a,b] [--clusters a,b] [--gpus 8,64,512] "
                   "[--strategies dp,ps,mp,hybrid] [--batch B] [--jobs J] [--rows]\n");
      return 2;
    }
  }
  const reports::Evaluator simulate = [](const plan::Plan& p, const topo::Cluster& c, double) {
    return sim::ToSummary(sim::Simulate(p, c, sim::SimulateOptions{}), p, c);
  };
  std::vector<double> all;
  int cases = 0, same_top5 = 0, failed = 0;
  // Simulated candidates against their plans' lower bounds (cost::LowerBound): the smallest
  // simulate / bound ratio seen, and how many simulations came out below their bound.
  double tightest = std::numeric_limits<double>::infinity();
  std::string tightest_label;
  int below_bound = 0, bounded = 0;
  std::printf(
      "| model | cluster | GPUs | candidates | median abs diff | max abs diff (candidate) | "
      "> 10%% | top 5 same order | wall s |\n|---|---|---|---|---|---|---|---|---|\n");
  std::string detail;
  for (const std::string& cluster : clusters)
    for (int g : gpus)
      for (const std::string& model : models) {
        try {
          topo::ClusterOptions co;
          co.gpus = g;
          topo::LoadCluster(cluster, co);
        } catch (const InputError& e) {
          std::printf("| %s | %s | %d | skipped: %s | | | | | |\n", model.c_str(), cluster.c_str(),
                      g, e.what());
          continue;
        }
        reports::SearchSpec spec;
        spec.model = model;
        spec.cluster = cluster;
        spec.gpus = g;
        spec.batch = batch;
        spec.strategies = strategies;
        spec.prune_margin = -1;
        spec.jobs = jobs;
        const auto t0 = std::chrono::steady_clock::now();
        reports::SelectionReport r;
        try {
          r = reports::Select(spec, simulate);
        } catch (const std::exception& e) {
          std::printf("| %s | %s | %d | failed: %s | | | | | |\n", model.c_str(), cluster.c_str(),
                      g, e.what());
          ++failed;
          continue;
        }
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::vector<double> diffs;
        std::vector<const reports::Candidate*> both;
        double worst = 0;
        std::string worst_label;
        for (const reports::Candidate& c : r.candidates) {
          if (!c.error.empty() || !c.estimate_iteration_time_s || c.iteration_time_s <= 0) continue;
          if (c.lower_bound_s && *c.lower_bound_s > 0) {
            const double ratio = c.iteration_time_s / *c.lower_bound_s;
            ++bounded;
            below_bound += ratio < 1 - 1e-9 ? 1 : 0;
            if (ratio < tightest) {
              tightest = ratio;
              tightest_label = model + " " + cluster + " " + std::to_string(g) + " " + c.label;
            }
          }
          const double d = *c.estimate_iteration_time_s / c.iteration_time_s - 1;
          diffs.push_back(std::fabs(d));
          both.push_back(&c);
          if (std::fabs(d) > std::fabs(worst)) {
            worst = d;
            worst_label = c.label;
          }
          if (rows) {
            char buf[512];
            std::snprintf(buf, sizeof buf, "| %s | %s | %d | %s | %.6f | %.6f | %s |\n",
                          model.c_str(), cluster.c_str(), g, c.label.c_str(),
                          *c.estimate_iteration_time_s, c.iteration_time_s, Pct(d).c_str());
            detail += buf;
          }
        }
        const int over = static_cast<int>(
            std::count_if(diffs.begin(), diffs.end(), [](double d) { return d > 0.10; }));
        const bool same = Top(both, 5, true) == Top(both, 5, false);
        ++cases;
        same_top5 += same ? 1 : 0;
        all.insert(all.end(), diffs.begin(), diffs.end());
        std::printf("| %s | %s | %d | %zu | %.1f%% | %s (%s) | %d | %s | %.1f |\n", model.c_str(),
                    cluster.c_str(), g, diffs.size(), Median(diffs) * 100, Pct(worst).c_str(),
                    worst_label.c_str(), over, same ? "yes" : "no", wall);
        std::fflush(stdout);
      }
  const double max = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  const int over =
      static_cast<int>(std::count_if(all.begin(), all.end(), [](double d) { return d > 0.10; }));
  std::printf(
      "\nOverall: %zu candidates in %d cases (%d failed); median |estimate / simulate - 1| "
      "%.2f%%, largest %.1f%%, %d above 10%%; top 5 in the same order in %d of %d cases.\n",
      all.size(), cases, failed, Median(all) * 100, max * 100, over, same_top5, cases);
  std::printf(
      "Lower bound: %d simulated candidates with a bound, %d simulated below it; smallest "
      "simulate / bound %.4f (%s).\n",
      bounded, below_bound, bounded ? tightest : 0.0, tightest_label.c_str());
  if (rows)
    std::printf(
        "\n| model | cluster | GPUs | candidate | estimate s | simulate s | diff |\n"
        "|---|---|---|---|---|---|---|\n%s",
        detail.c_str());
  return 0;
}
