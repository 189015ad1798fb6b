// Simulator scale benchmark: one ResNet-50 sync-DP iteration with buckets,
// every layer's tasks included, on N GPUs.
//
//   simulate_bench [--gpus N] [--cluster NAME] [--collectives exact|coarse|auto]
//                  [--iterations I] [--warmup W] [--model M] [--breakdown 1]
//                  [--flow-actor-ranks R] [--coarse-split K]
//
// Prints one line of `key=value` fields: the simulated iteration time, the wall time of planning
// (model, cluster, plan::Lower) and of Simulate(), the peak RSS of this process (plan + lowered
// graph) and of the SimGrid child process, and the flow and activity counts. With --breakdown 1
// it first times Simulate()'s parts on their own (lowering to the Dag, the SimGrid run in its
// child process; the rest of Simulate() is the reduction to the summary). Run by
// bench/simulate.sh.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "simulate/engine.h"
#include "simulate/lowering.h"
#include "simulate/simulator.h"

using namespace convscale;

int main(int argc, char** argv) {
  int gpus = 1024, iterations = 1, warmup = 0, breakdown = 0;
  int flow_actor_ranks = sim::kFlowActorRanks;
  int coarse_split = sim::LoweringOptions{}.coarse_split;
  std::string cluster_name = "dgx-a100-hdr200", mode = "auto", model = "resnet50";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--gpus")
      gpus = std::stoi(v);
    else if (k == "--cluster")
      cluster_name = v;
    else if (k == "--collectives")
      mode = v;
    else if (k == "--iterations")
      iterations = std::stoi(v);
    else if (k == "--warmup")
      warmup = std::stoi(v);
    else if (k == "--model")
      model = v;
    else if (k == "--breakdown")
      breakdown = std::stoi(v);
    else if (k == "--coarse-split")
      coarse_split = std::stoi(v);
    else if (k == "--flow-actor-ranks")
      flow_actor_ranks = std::stoi(v);
    else {
      std::fprintf(stderr, "simulate_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    topo::ClusterOptions co;
    co.gpus = gpus;
    auto cluster = topo::LoadCluster(cluster_name, co);
    auto net = graph::LoadModel(model, 1);
    plan::StrategyOptions so;
    so.strategy = "dp";
    so.model = model;
    so.cluster = cluster_name;
    so.gpus = gpus;
    so.batch = 32;
    const plan::Plan p = plan::Lower(net, *cluster, so);
    const auto plan_done = Clock::now();
    sim::SimulateOptions o;
    o.iterations = iterations;
    o.warmup = warmup;
    o.lowering.collectives = sim::ParseCollectiveMode(mode);
    o.flow_actor_ranks = flow_actor_ranks;
    o.lowering.coarse_split = coarse_split;
    auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    if (breakdown) {
      const auto b0 = Clock::now();
      const sim::LoweredPlan lp = sim::LowerPlan(p, *cluster, o.lowering);
      const auto b1 = Clock::now();
      sim::EngineOptions eo;
      eo.iterations = warmup + iterations;
      eo.record_iteration = eo.iterations - 1;
      eo.first_measured = warmup;
      eo.flow_actor_ranks = flow_actor_ranks;
      auto child_cpu = [] {
        rusage c{};
        getrusage(RUSAGE_CHILDREN, &c);
        return c.ru_utime.tv_sec + c.ru_utime.tv_usec * 1e-6 + c.ru_stime.tv_sec +
               c.ru_stime.tv_usec * 1e-6;
      };
      const double c1 = child_cpu();
      const sim::RawResult raw = sim::RunDagInChild(lp.dag, *cluster, o.lowering.platform, eo);
      (void)raw;
      const auto b2 = Clock::now();
      std::printf(
          "breakdown: lower_wall_s=%.3f engine_wall_s=%.3f engine_cpu_s=%.3f nodes=%zu "
          "edges=%zu\n",
          secs(b0, b1), secs(b1, b2), child_cpu() - c1, lp.dag.nodes.size(), lp.dag.succ.size());
    }
    // CPU seconds (user + system) of this process and its finished children: on a loaded
    // machine they are closer to the quiet wall time than the wall time is.
    auto cpu = [] {
      rusage s{}, c{};
      getrusage(RUSAGE_SELF, &s);
      getrusage(RUSAGE_CHILDREN, &c);
      auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
      return sec(s.ru_utime) + sec(s.ru_stime) + sec(c.ru_utime) + sec(c.ru_stime);
    };
    const double cpu1 = cpu();
    const auto t1 = Clock::now();
    const sim::SimulationResult r = sim::Simulate(p, *cluster, o);
    const auto t2 = Clock::now();
    const double cpu2 = cpu();
    rusage self{}, child{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &child);
    std::printf(
        "gpus=%d tasks=%zu collectives=%s iteration_s=%.9f plan_wall_s=%.3f simulate_wall_s=%.3f "
        "simulate_cpu_s=%.3f "
        "rss_parent_MiB=%.1f rss_simgrid_MiB=%.1f flows=%lld exact_flows=%lld activities=%lld "
        "flow_actors=%d\n",
        gpus, p.num_tasks(), r.collectives.c_str(), r.iteration_time_s, secs(t0, plan_done),
        secs(t1, t2), cpu2 - cpu1, self.ru_maxrss / 1024.0, child.ru_maxrss / 1024.0,
        static_cast<long long>(r.flows_per_iteration),
        static_cast<long long>(r.exact_flows_per_iteration), static_cast<long long>(r.activities),
        gpus >= flow_actor_ranks ? 1 : 0);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "simulate_bench: %s\n", e.what());
    return 1;
  }
}
