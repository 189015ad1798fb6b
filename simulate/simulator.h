// Simulating a plan on a cluster: lower (lowering.h), run on SimGrid (engine.h) and reduce the
// timeline to a summary with the schema the executor writes too (docs/simulator.md, "Outputs").
//
// SimGrid 3.32 allows one engine per process, so Simulate() runs the engine in a forked child
// that sends the raw timings back over a pipe; the caller's process never holds SimGrid state and
// may call Simulate() any number of times (tests, sweeps).
//
// Definitions (all per steady iteration, seconds unless named otherwise):
//  - iteration_time_s: mean of the measured iterations (after `warmup`), each measured from the
//    end of the previous iteration to the time the last rank finished. Asynchronous parameter
//    servers: global batch / the workers' summed rates (each worker's share of the batch times
//    its measured iterations over the time they took), so fast workers count at their speed.
//  - Everything else comes from the one reducer (model/cost/timeline.h, cost::Reduce) on the
//    recorded (last) iteration, as for the estimator and the executor: per rank, busy = compute
//    union; communicating = union of the active spans of its collectives and sends/receives
//    (from the time every party has posted the task to its end: waiting for a peer to post is
//    idle time); exposed = communicating and not busy; idle = iteration time - busy - exposed.
//    exposed_comm_time_s is the critical rank's (the worker or stage finishing last);
//    compute_time_s / comm_time_s the largest over ranks; bubble_time_s the largest idle time of
//    a worker or stage; comm_bytes the bytes the plan's schedules make all ranks send in one
//    iteration (per-link bytes, `links`, come from the simulated flows).
//  - single_device_time_s: one device doing its share (global batch / devices) of all ranks'
//    compute alone, plus one optimizer update; speedup = throughput over that device's.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/cost/summary.h"
#include "model/cost/timeline.h"
#include "model/plan/jobs.h"
#include "model/plan/plan.h"
#include "model/util/json.h"
#include "simulate/engine.h"
#include "simulate/lowering.h"
#include "topologies/cluster.h"

namespace convscale::sim {

struct SimulateOptions {
  int warmup = 1;
  int iterations = 3;  // measured iterations
  LoweringOptions lowering;
  std::vector<std::pair<int, double>> stragglers;  // rank, speed factor (0.5 = half as fast)
  int top_links = 10;                              // links listed in the summary
  // Flows run in worker actors from this many ranks on (EngineOptions::flow_actor_ranks).
  int flow_actor_ranks = kFlowActorRanks;
  // Jobs side by side in the plan (plan::PlaceJobs): each gets its own iteration time.
  std::vector<plan::PlacedJob> jobs;
};

// One job of several simulated together (SimulateOptions::jobs).
struct JobResult {
  std::string name;
  int ranks = 0, devices = 0;
  double iteration_time_s = 0;  // its own steady iteration: its ranks' last end, per iteration
  double throughput_samples_per_s = 0;
};

struct RankStats {
  int rank = 0;
  std::string role;
  std::string endpoint;
  double busy_s = 0, communicating_s = 0, exposed_comm_s = 0, idle_s = 0;
  double bytes_sent = 0;
  double finish_s = 0;  // end of the rank's recorded iteration, from the iteration's start
};

struct LinkStats {
  int link = 0;
  std::string name, level;
  double bandwidth_Bps = 0;  // as simulated (after background load)
  double bytes_forward = 0, bytes_backward = 0;
  double utilization = 0;  // busiest direction's bytes / (bandwidth x iteration time)
};

struct SimulationResult {
  double iteration_time_s = 0;
  std::vector<double> iteration_times_s;  // every iteration, warm-up included
  double throughput_samples_per_s = 0;
  double single_device_throughput = 0;
  double single_device_time_s = 0;
  double speedup = 0;
  double scaling_efficiency = 0;
  double compute_time_s = 0, comm_time_s = 0, exposed_comm_time_s = 0, bubble_time_s = 0;
  double comm_bytes = 0;
  double memory_peak_bytes = 0;
  int devices = 0;
  int critical_rank = 0;  // whose exposed communication exposed_comm_time_s is
  std::vector<RankStats> ranks;
  std::vector<LinkStats> links;  // links that carried bytes, busiest first
  // Parameter servers: staleness per gradient push of the measured iterations, in iterations
  // (at most staleness_bound when it is >= 0; -1 = unbounded) and in updates (engine.cpp).
  bool has_staleness = false;
  double staleness_mean = 0, staleness_max = 0;
  double staleness_updates_mean = 0, staleness_updates_max = 0;
  int64_t staleness_samples = 0;
  int staleness_bound = 0;
  std::string collectives;  // "exact" or "coarse" (what was used)
  // Parameter-server pushes and pulls: "exact", "coarse" (docs/simulator.md, "Coarse
  // parameter-server messages"), or empty when the plan has none; and how many per iteration.
  std::string ps_messages;
  int64_t ps_messages_per_iteration = 0;
  double ps_coalesce_bytes = 0;  // coarse: the most bytes one coalesced flow carries
  int64_t flows_per_iteration = 0;
  int64_t exact_flows_per_iteration = 0;
  int64_t activities = 0;
  int warmup = 0, iterations = 0, top_links = 10;
  std::vector<JobResult> jobs;  // with SimulateOptions::jobs; the figures above span all ranks
  // The recorded iteration: every task's interval (communication from when all parties posted
  // it), on the simulated clock; timeline.start_s is its start.
  cost::Timeline timeline;
};

// Throws InputError for bad options (a straggler rank out of range, ...), RuntimeError when the
// simulation fails (deadlock, SimGrid abort).
SimulationResult Simulate(const plan::Plan& plan, const topo::Cluster& cluster,
                          const SimulateOptions& options);

// Whether each collective of `plan` runs alone on the network with all its members starting it
// at once (one synchronous program on identical devices, collectives ordered on every rank):
// Simulate then lowers coarse phases without sub-phases, which changes no result there and
// saves 3 of every 4 coarse flows (docs/simulator.md, "Coarse collectives").
bool CollectivesRunAlone(const plan::Plan& plan, const topo::Cluster& cluster,
                         const LoweringOptions& lowering);

// Parses "RANK:FACTOR" (--straggler).
std::pair<int, double> ParseStraggler(const std::string& text);

// Outputs. Deterministic: the same result gives the same bytes (the context's timestamp aside,
// which CONVSCALE_FIXED_TIMESTAMP pins).
cost::Summary ToSummary(const SimulationResult& r, const plan::Plan& plan,
                        const topo::Cluster& cluster);
Json SummaryJson(const SimulationResult& r, const plan::Plan& plan, const topo::Cluster& cluster);
std::string SummaryCsv(const SimulationResult& r, const plan::Plan& plan);
std::string ChromeTrace(const SimulationResult& r, const plan::Plan& plan,
                        const topo::Cluster& cluster);

}  // namespace convscale::sim
