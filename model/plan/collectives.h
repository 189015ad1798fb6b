// One small table per collective algorithm, shared by the cost model, the simulator and the
// executor (like nccl-tests' per-collective files):
//   - the point-to-point schedule (who sends how many bytes to whom, step by step),
//   - the bytes each rank sends,
//   - the alpha-beta closed-form time on uniform links,
//   - the nccl-tests bus-bandwidth factor (busbw = algbw * factor, algbw = size / time,
//     size in bytes as nccl-tests defines it for that collective; G = 1e9).
//
// Members are indexed 0..n-1 in group order (ring order for ring algorithms).
#pragma once

#include <vector>

#include "model/plan/plan.h"

namespace convscale::plan {

struct Transfer {
  int src = 0;  // member index
  int dst = 0;  // member index
  double bytes = 0;
  bool reduce = false;  // the receiver reduces (sums) what it gets into its buffer
};

// Transfers in one step run concurrently; a member starts step s+1 when its own transfers of step
// s (sent and received) are done.
struct Step {
  std::vector<Transfer> transfers;
};

struct Schedule {
  std::vector<Step> steps;
};

// `node_of` gives each member's node (used by kHierarchical; may be empty for other algorithms).
// `bytes` is the collective's size as nccl-tests defines it (all-reduce: the buffer; all-gather and
// reduce-scatter: the whole gathered array; broadcast/reduce: the buffer). Throws
// std::invalid_argument for a combination that does not exist (e.g. tree reduce-scatter).
Schedule BuildSchedule(Collective c, Algorithm a, int n, double bytes,
                       const std::vector<int>& node_of = {});

// nccl-tests bus-bandwidth factor: all-reduce 2(n-1)/n, reduce-scatter and all-gather (n-1)/n,
// broadcast and reduce 1.
double BusBwFactor(Collective c, int n);

// Closed-form time on n ranks with per-message latency alpha_s and per-rank link bandwidth
// bandwidth_Bps (every rank has its own full-duplex link; no contention). Ring all-reduce:
// 2(n-1) alpha + 2 (n-1)/n bytes / B. `local_size` is the members per node for kHierarchical
// (n/local_size nodes). The table of formulas and their sources: docs/plan-format.md.
double ClosedFormTime(Collective c, Algorithm a, int n, double bytes, double alpha_s,
                      double bandwidth_Bps, int local_size = 1);

// Bytes one member sends in the whole collective (max over members).
double BytesSentPerRank(Collective c, Algorithm a, int n, double bytes);

// Bytes all members send together in the whole collective (the schedule's sum).
double TotalBytesSent(Collective c, Algorithm a, int n, double bytes,
                      const std::vector<int>& node_of = {});

}  // namespace convscale::plan
