// Plan estimates per second (the strategy-search budget): ResNet-50 data parallel on 64 GPUs.
//
//   estimate_bench [--model resnet50] [--cluster dgx-a100] [--gpus 64] [--batch 64]
//                  [--strategy dp] [--rounds 7] [--seconds 0.5] [--only MEASURE]
//
// Each figure is the median over `rounds` rounds of the rate in one round of at least `seconds`
// seconds, by wall clock and by the process's CPU time:
//   lower+estimate   Lower() the strategy, then Estimate() it (what a search over options does)
//   lower+estimate/fast  cost::EstimateStrategy(): the same numbers, dp replicas lowered and
//                    walked once per class of identical devices
//   search           cost::StrategyEstimator::Estimate(), the same numbers again, with what does
//                    not depend on the options (layer costs, alpha-beta terms) and the buffers
//                    kept between calls (what `select` and `whatif` use)
//   search/16-options  the same, cycling through the 16 dp options `select` tries
//   estimate         Estimate() an already lowered plan (prepare the estimator, then run it)
//   run              re-run a prepared estimator (what a search over calibrations does)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
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

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Rates {
  double wall = 0, cpu = 0;  // calls per second of wall-clock time and of process CPU time
};

// Calls per second of `f`, median over rounds, by wall clock and by CPU time (the CPU figure is
// what a loaded machine does not take away).
Rates Rate(const std::function<void()>& f, int rounds, double seconds) {
  std::vector<double> wall, cpu;
  f();  // warm-up
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    long n = 0;
    double el = 0;
    do {
      f();
      ++n;
      el = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (el < seconds);
    wall.push_back(n / el);
    cpu.push_back(n / std::max(1e-9, CpuSeconds() - c0));
  }
  return {Median(wall), Median(cpu)};
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "resnet50", cluster = "dgx-a100", strategy = "dp", only;
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
    else if (k == "--only")
      only = v;
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
    std::printf("%-22s %12s %10s %14s %10s\n", "measure", "per_second", "us_each", "per_cpu_second",
                "cpu_us");
    double sink = 0;
    // Measures one figure unless --only names another.
    auto measure = [&](const char* name, const std::function<void()>& f) {
      if (!only.empty() && only != name) return;
      const Rates r = Rate(f, rounds, seconds);
      std::printf("%-22s %12.1f %10.2f %14.1f %10.2f\n", name, r.wall, 1e6 / r.wall, r.cpu,
                  1e6 / r.cpu);
    };
    measure("lower+estimate", [&] {
      const auto p = convscale::plan::Lower(net, *cl, o);
      sink += convscale::cost::Estimate(p, *cl).iteration_time_s;
    });
    measure("lower+estimate/fast",
            [&] { sink += convscale::cost::EstimateStrategy(net, *cl, o).iteration_time_s; });
    convscale::cost::StrategyEstimator search(net, *cl);
    measure("search", [&] { sink += search.Estimate(o).iteration_time_s; });
    // The options `select` tries for dp: 4 algorithms x fp32/fp16 gradients x 2 bucket sizes,
    // one after the other, so that nothing is reused that depends on the options.
    std::vector<convscale::plan::StrategyOptions> options;
    for (auto a :
         {convscale::plan::Algorithm::kRing, convscale::plan::Algorithm::kTree,
          convscale::plan::Algorithm::kHierarchical, convscale::plan::Algorithm::kHalvingDoubling})
      for (auto g : {convscale::plan::CommPrecision::kFP32, convscale::plan::CommPrecision::kFP16})
        for (double bucket : {25.0 * 1024 * 1024, 100.0 * 1024 * 1024}) {
          convscale::plan::StrategyOptions x = o;
          x.algorithm = a;
          x.grad_precision = g;
          x.bucket_bytes = bucket;
          options.push_back(x);
        }
    size_t next = 0;
    measure("search/16-options", [&] {
      sink += search.Estimate(options[next]).iteration_time_s;
      next = (next + 1) % options.size();
    });
    measure("estimate", [&] { sink += convscale::cost::Estimate(plan, *cl).iteration_time_s; });
    measure("run", [&] { sink += prepared.Run().iteration_time_s; });
    if (sink < 0) std::printf("%f\n", sink);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "estimate_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
