// Lowering a plan (model/plan/plan.h) to the simulator's Dag (simulate/dag.h).
//
//  - Compute task: a kernel on its rank's serial stream lasting
//      max(flops / (peak x efficiency x speed), bytes / memory bandwidth) + kernel overhead
//    (ComputeSeconds, the estimator's cost::ComputeTime). Consecutive compute tasks that nothing
//    else waits on are fused into one timer; each keeps its own span on the timeline.
//  - Send/Recv pair (matched by source, destination, tag): one flow that starts when both sides
//    have posted (rendezvous, like NCCL send/recv).
//  - Collective: the point-to-point schedule of its algorithm (plan::BuildSchedule), either
//      exact:  one flow per transfer, a member starting step s+1 when its own transfers of step s
//              are done (chunk by chunk, what NCCL does), or
//      coarse: a phase is a run of steps with the same pairs (a ring is one phase; a
//              hierarchical all-reduce three), cut into `coarse_split` sub-phases; in each, one
//              rate-bounded flow per (sender, receiver) pair carries its steps' bytes, and each
//              member then waits the rest of what the chunked sub-phase takes alone, so it ends
//              when the chunked sub-phase would (docs/simulator.md, "Coarse collectives", with
//              the measured errors).
//    kAuto picks exact when the whole iteration has at most `exact_flow_limit` exact flows.
#pragma once

#include <string>
#include <vector>

#include "model/cost/estimate.h"
#include "model/plan/plan.h"
#include "simulate/dag.h"
#include "simulate/platform.h"
#include "topologies/cluster.h"

namespace convscale::sim {

enum class CollectiveMode { kExact, kCoarse, kAuto };
const char* Name(CollectiveMode m);
CollectiveMode ParseCollectiveMode(const std::string& s);  // throws InputError with did-you-mean

struct LoweringOptions {
  CollectiveMode collectives = CollectiveMode::kAuto;
  int64_t exact_flow_limit = 200000;  // kAuto: exact up to this many flows per iteration
  int coarse_split = 4;               // coarse: sub-phases per phase (docs/simulator.md)
  // coarse: each flow's rate is bounded (docs/simulator.md, "Coarse collectives") by
  // `coarse_rate_headroom` times the mean rate of the chunked steps it stands for, and, when
  // `coarse_overlap` k > 0, by the mean-field rate of k chunked rings sharing its links with random
  // phases; never below that mean rate. 0 turns a term off; both 0 = no bound (full rate, then a
  // delay). The mean field is off by default: it is closer on average over plans whose rings
  // overlap at random phases, but 1.5% fast where identical jobs run in phase (TwoJobsTest).
  double coarse_overlap = 0;
  double coarse_rate_headroom = 1.25;
  // Per-rank compute slow-down: a rank's kernels take 1/factor as long (0.5 = half as fast).
  // Empty = every rank at its endpoint's speed factor only.
  std::vector<double> rank_speed;
  PlatformOptions platform;
  // Compute calibration (--single-gpu-throughput, --profile), as the estimator applies it. The
  // profile it points to must outlive the lowering.
  cost::Calibration calibration;
};

struct LoweredPlan {
  Dag dag;
  bool coarse = false;      // collectives were lowered coarse
  int64_t exact_flows = 0;  // flows the exact lowering has (per iteration)
  int64_t flows = 0;        // flows actually in the Dag (per iteration)
};

// Seconds one compute task takes on `e`: cost::ComputeTime, the estimator's own formula (roofline
// or profile, calibrated), so that simulate and estimate time every kernel alike. A straggler's
// slow-down is folded into a copy of its endpoint's speed_factor.
double ComputeSeconds(const plan::Task& t, const topo::Endpoint& e, const std::string& precision,
                      const cost::Calibration& calibration = {});

// Number of flows the exact lowering of `plan` has per iteration (without building it).
int64_t ExactFlowCount(const plan::Plan& plan);

LoweredPlan LowerPlan(const plan::Plan& plan, const topo::Cluster& cluster,
                      const LoweringOptions& options);

}  // namespace convscale::sim
