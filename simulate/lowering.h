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
//  - Parameter-server pushes and pulls: one flow each (exact), or coarse: the ones waiting on a
//    (worker, server) connection leave together as one flow (LoweringOptions::ps_coalesce_bytes).
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
  // Parameter-server pushes and pulls follow the same mode (docs/simulator.md, "Coarse
  // parameter-server messages"): coarse, the messages waiting on one (worker, server) connection
  // leave together as one flow of at most `ps_coalesce_bytes` (a message larger than that alone);
  // kAuto picks coarse when the iteration has more than `exact_message_limit` of them.
  double ps_coalesce_bytes = 1e6;
  int64_t exact_message_limit = 8192;
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
  bool coarse = false;           // collectives were lowered coarse
  int64_t exact_flows = 0;       // flows the exact lowering has (per iteration)
  int64_t flows = 0;             // flows actually in the Dag (per iteration)
  bool coarse_messages = false;  // parameter-server messages coalesced (Dag::ps_coalesce_bytes)
  int64_t ps_messages = 0;       // parameter-server pushes and pulls per iteration
};

// Seconds one compute task takes on `e`: cost::ComputeTime, the estimator's own formula (roofline
// or profile, calibrated), so that simulate and estimate time every kernel alike. A straggler's
// slow-down is folded into a copy of its endpoint's speed_factor.
double ComputeSeconds(const plan::Task& t, const topo::Endpoint& e, const std::string& precision,
                      const cost::Calibration& calibration = {});

// Number of flows the exact lowering of `plan` has per iteration (without building it).
int64_t ExactFlowCount(const plan::Plan& plan);

// Parameter-server pushes and pulls (sends between a server and a non-server rank) per iteration.
int64_t PsMessageCount(const plan::Plan& plan);

LoweredPlan LowerPlan(const plan::Plan& plan, const topo::Cluster& cluster,
                      const LoweringOptions& options);

}  // namespace convscale::sim
