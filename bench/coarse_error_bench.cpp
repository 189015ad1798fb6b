// Coarse against chunk-exact collectives when bucket all-reduces overlap (see
// docs/simulator.md, "Coarse collectives"). The chunk-exact time of one plan is chaotic there
// (rings that start in phase stay in phase), so each case is simulated over an ensemble: the
// compute per layer (or the bucket size) scaled by 0.90 ... 1.30 in `--points` steps. Prints, per
// case and bound, the mean, smallest and largest relative iteration-time error of coarse against
// exact over the ensemble.
//   coarse_error_bench [--points N] [--scale compute|bytes]
// The plans are those of tests/simulate/collectives_test.cpp (CoarseVsExactEnsembleTest).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "simulate/simulator.h"
#include "tests/simulate/fake_cluster.h"
#include "tests/simulate/plans.h"

using namespace convscale;
using namespace convscale::sim;

namespace {

struct Case {
  const char* name;
  int n;
  bool tree;
  double bucket_bytes, flops;
};

struct Bound {
  const char* name;
  double overlap, headroom;  // LoweringOptions::coarse_overlap, coarse_rate_headroom
};

}  // namespace

int main(int argc, char** argv) {
  int points = 41;
  bool bytes = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--points") && i + 1 < argc) {
      points = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--scale") && i + 1 < argc) {
      bytes = !std::strcmp(argv[++i], "bytes");
    } else {
      std::fprintf(stderr, "usage: coarse_error_bench [--points N] [--scale compute|bytes]\n");
      return 2;
    }
  }
  const Case cases[] = {{"star 32, 4 MB buckets, 10 us", 32, false, 4e6, 1e7},
                        {"2:1 tree 32, scattered, 4 MB, 10 us", 32, true, 4e6, 1e7},
                        {"star 64, 1 MB buckets, 1 us", 64, false, 1e6, 1e6},
                        {"2:1 tree 64, scattered, 1 MB, 1 us", 64, true, 1e6, 1e6}};
  const Bound bounds[] = {{"headroom 1.25 (default)", 0, 1.25},
                          {"mean field k=4, headroom 1.25", 4, 1.25}};
  std::printf("# %d points, %s scaled by %s; error = coarse / exact - 1\n", points,
              bytes ? "bucket bytes" : "compute per layer",
              points == 1 ? "1.00 (the test plans)" : "0.90 ... 1.30");
  std::printf("| case | bound | mean | min | max |\n|---|---|---|---|---|\n");
  for (const Case& c : cases) {
    std::unique_ptr<testing::FakeCluster> cl;
    std::vector<int> eps;
    if (c.tree) {
      cl = testing::FakeCluster::Tree(4, c.n / 4, 12.5e9, 12.5e9 * c.n / 4 / 2, 1e-6);
      for (int r = 0; r < c.n; ++r) eps.push_back((r * 5) % c.n);
    } else {
      cl = testing::FakeCluster::Star(c.n, 12.5e9, 1e-6);
    }
    std::vector<std::vector<double>> err(std::size(bounds));
    for (int k = 0; k < points; ++k) {
      const double s = points == 1 ? 1.0 : 0.90 + 0.40 * k / (points - 1);
      const plan::Plan p =
          testing::BucketPlan(c.n, 16, bytes ? c.flops : c.flops * s, 4,
                              bytes ? c.bucket_bytes * s : c.bucket_bytes, false, eps);
      SimulateOptions o;
      o.warmup = 0;
      o.iterations = 1;
      o.lowering.collectives = CollectiveMode::kExact;
      const double exact = Simulate(p, *cl, o).iteration_time_s;
      o.lowering.collectives = CollectiveMode::kCoarse;
      for (size_t b = 0; b < std::size(bounds); ++b) {
        o.lowering.coarse_overlap = bounds[b].overlap;
        o.lowering.coarse_rate_headroom = bounds[b].headroom;
        err[b].push_back(Simulate(p, *cl, o).iteration_time_s / exact - 1);
      }
    }
    for (size_t b = 0; b < std::size(bounds); ++b) {
      double mean = 0;
      for (double e : err[b]) mean += e / err[b].size();
      std::printf("| %s | %s | %+.2f%% | %+.1f%% | %+.1f%% |\n", c.name, bounds[b].name, 100 * mean,
                  100 * *std::min_element(err[b].begin(), err[b].end()),
                  100 * *std::max_element(err[b].begin(), err[b].end()));
    }
  }
}
