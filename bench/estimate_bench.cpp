// Plan estimates per second (the strategy-search budget): ResNet-50 data parallel on 64 GPUs.
//
//   estimate_bench [--model resnet50] [--cluster dgx-a100] [--gpus 64] [--batch 64]
//                  [--strategy dp] [--rounds 7] [--seconds 0.5]
//
// Three figures, each the median over `rounds` rounds of the rate in one round of at least
// `seconds` seconds:
//   lower+estimate   Lower() the strategy, then Estimate() it (what a search over options does)
//   lower+estimate/fast  cost::EstimateStrategy(): the same numbers, dp replicas lowered and
//                    walked once per class of identical devices
//   estimate         Estimate() an already lowered plan (prepare the estimator, then run it)
//   run              re-run a prepared estimator (what a search over calibrations does)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "topologies/cluster.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Calls per second of `f`, median over rounds.
double Rate(const std::function<void()>& f, int rounds, double seconds) {
  std::vector<double> rates;
  f();  // warm-up
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    long n = 0;
    double el = 0;
    do {
      f();
      ++n;
      el = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (el < seconds);
    rates.push_back(n / el);
  }
  return Median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "resnet50", cluster = "dgx-a100", strategy = "dp";
  int gpus = 64, rounds = 7;
  long batch = 64;
  double seconds = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model")
      model = v;
    else if (k == "--cluster")
      cluster = v;
    else if (k == "--gpus")
      gpus = std::atoi(v.c_str());
    else if (k == "--batch")
      batch = std::atol(v.c_str());
    else if (k == "--strategy")
      strategy = v;
    else if (k == "--rounds")
      rounds = std::atoi(v.c_str());
    else if (k == "--seconds")
      seconds = std::atof(v.c_str());
    else {
      std::fprintf(stderr, "estimate_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    convscale::topo::ClusterOptions co;
    co.gpus = gpus;
    auto cl = convscale::topo::LoadCluster(cluster, co);
    const auto net = convscale::graph::LoadModel(model, batch);
    convscale::plan::StrategyOptions o;
    o.strategy = strategy;
    o.model = model;
    o.batch = batch;
    const auto plan = convscale::plan::Lower(net, *cl, o);
    convscale::cost::Estimator prepared(plan, *cl);
    const auto s = prepared.Run();
    std::printf(
        "# %s, %s, %d GPUs, strategy %s, batch %ld per device: %zu ranks, %zu tasks, "
        "%d rank classes; iteration %.6f s\n",
        model.c_str(), cluster.c_str(), gpus, strategy.c_str(), batch, plan.ranks.size(),
        plan.num_tasks(), prepared.classes(), s.iteration_time_s);
    std::printf("# median over %d rounds of >= %.2f s\n", rounds, seconds);
    std::printf("%-20s %14s %14s\n", "measure", "per_second", "us_each");
    double sink = 0;
    auto report = [&](const char* name, double rate) {
      std::printf("%-20s %14.1f %14.2f\n", name, rate, 1e6 / rate);
    };
    report("lower+estimate", Rate(
                                 [&] {
                                   const auto p = convscale::plan::Lower(net, *cl, o);
                                   sink += convscale::cost::Estimate(p, *cl).iteration_time_s;
                                 },
                                 rounds, seconds));
    report("lower+estimate/fast",
           Rate([&] { sink += convscale::cost::EstimateStrategy(net, *cl, o).iteration_time_s; },
                rounds, seconds));
    report("estimate", Rate([&] { sink += convscale::cost::Estimate(plan, *cl).iteration_time_s; },
                            rounds, seconds));
    report("run", Rate([&] { sink += prepared.Run().iteration_time_s; }, rounds, seconds));
    if (sink < 0) std::printf("%f\n", sink);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "estimate_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
