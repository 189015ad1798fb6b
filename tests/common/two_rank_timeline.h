// A hand-computed timeline of two data-parallel ranks, shared by the reducer's tests on each
// side (model/cost/timeline.h directly, the executor's measured summary), so that the same
// intervals go through every path.
//
// Seconds from the iteration start. Each rank: forward, backward, a ring all-reduce of 1000 bytes
// over both ranks, the update.
//   rank 0: fwd [0,4]  bwd [4,8]  all-reduce posted at 6, ends 10  update [10,11]
//   rank 1: fwd [0,3]  bwd [3,5]  all-reduce posted at 5, ends 10  update [10,12]
// The all-reduce is active from 6 (when its last member posts it) on both ranks. The iteration
// ends at 12, when rank 1 finishes.
//   rank 0: compute [0,8]+[10,11] = 9, communication [6,10] = 4 (2 of them under the backward
//           pass), busy [0,11] = 11, exposed 11 - 9 = 2, idle 12 - 11 = 1, finish 11
//   rank 1: compute [0,5]+[10,12] = 7, communication [6,10] = 4, busy [0,5]+[6,12] = 11,
//           exposed 4, idle 1 (the wait from 5 to 6 for rank 0's post), finish 12
//   critical rank 1 (finishes last): exposed_comm_time_s 4; compute_time_s max 9; comm 4;
//   bubble max idle 1; a ring all-reduce on 2 ranks sends 2 (n-1)/n x 1000 = 1000 bytes from each
//   rank, 2000 in all.
#pragma once

#include <vector>

#include "model/plan/plan.h"

namespace convscale::testing {

struct TimedTask {
  int task;
  double start_s, end_s;
};

struct TwoRankCase {
  plan::Plan plan;
  std::vector<std::vector<TimedTask>> times;  // per rank, in task order
};

inline TwoRankCase TwoRankTimeline() {
  TwoRankCase c;
  plan::Plan& p = c.plan;
  p.context.strategy = "dp";
  p.global_batch = 24;
  p.groups.push_back({{0, 1}});
  for (int r = 0; r < 2; ++r) {
    plan::Rank rank;
    rank.endpoint = r;
    rank.role = plan::Role::kWorker;
    rank.replica = r;
    auto compute = [&](int id, plan::Phase ph, std::vector<int> deps) {
      plan::Task t;
      t.id = id;
      t.kind = plan::TaskKind::kCompute;
      t.phase = ph;
      t.deps = std::move(deps);
      t.flops = 1e9;
      return t;
    };
    rank.tasks.push_back(compute(0, plan::Phase::kForward, {}));
    rank.tasks.push_back(compute(1, plan::Phase::kBackwardData, {0}));
    plan::Task ar;
    ar.id = 2;
    ar.kind = plan::TaskKind::kCollective;
    ar.collective = plan::Collective::kAllReduce;
    ar.algorithm = plan::Algorithm::kRing;
    ar.group = 0;
    ar.collective_id = 0;
    ar.comm_bytes = 1000;
    ar.name = "bucket0/allreduce";
    rank.tasks.push_back(ar);
    rank.tasks.push_back(compute(3, plan::Phase::kUpdate, {1, 2}));
    p.ranks.push_back(rank);
  }
  c.times = {{{0, 0, 4}, {1, 4, 8}, {2, 6, 10}, {3, 10, 11}},
             {{0, 0, 3}, {1, 3, 5}, {2, 5, 10}, {3, 10, 12}}};
  return c;
}

}  // namespace convscale::testing
