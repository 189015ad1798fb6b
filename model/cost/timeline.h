// The one reduction from a timeline to the summary's numbers, and the one Chrome trace writer.
// The estimator, the simulator and the executor each turn what they computed or measured into
// per-rank task intervals of one iteration and call Reduce, so a figure under one key is the same
// quantity whichever interpreter made it (docs/ARCHITECTURE.md, "Two interpreters, one rule").
//
// Definitions (seconds; bytes; per iteration):
//  - a rank's compute time: the union of its compute intervals (the compute stream busy);
//    communication time: the union of its communication intervals; exposed communication: the
//    part of the communication union not covered by the compute union; idle: the iteration (or
//    the rank's own span) minus the union of both.
//  - finish: the rank's last interval end (or its given end, if later) from the iteration start.
//  - critical rank: the worker or stage (not a server) that finishes last; the lowest on a tie.
//  - compute_time_s, comm_time_s: the largest over ranks; exposed_comm_time_s: the critical
//    rank's; bubble_time_s: the largest idle time of a worker or stage.
//  - bytes: a rank's comm_bytes_sent is the sum of its intervals' bytes (SentBytes: what the
//    plan's schedules make it send); comm_bytes_total is the sum over all ranks.
//
// Pure C++ on the plan: no SimGrid, MPI or CUDA.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "model/cost/summary.h"
#include "model/plan/plan.h"

namespace convscale::cost {

// One task's run on one rank, on a clock all ranks share.
struct Interval {
  int task = 0;  // id in the rank's task list
  plan::TaskKind kind = plan::TaskKind::kCompute;
  plan::Phase phase = plan::Phase::kForward;  // compute tasks
  double start_s = 0, end_s = 0;
  double bytes = 0;    // bytes this rank sends for the task (SentBytes)
  int iteration = -1;  // written to the trace when >= 0
};

struct RankTimeline {
  std::vector<Interval> intervals;
  // The rank's iteration end when the interpreter knows one later than its last interval.
  double end_s = -std::numeric_limits<double>::infinity();
  // The rank's own iteration length when ranks do not share one (asynchronous workers); < 0:
  // the common iteration time.
  double span_s = -1;
};

struct Timeline {
  double start_s = 0;  // the iteration's start (finish times and the trace count from here)
  // The steady iteration time the interpreter determined; < 0: the last interval end minus
  // start_s (one iteration walked in isolation, as the estimator does).
  double iteration_time_s = -1;
  std::vector<RankTimeline> ranks;
  // ranks[timeline_of[r]] is rank r's timeline (ranks with identical programs share one);
  // empty: rank r has ranks[r].
  std::vector<int> timeline_of;
};

// Bytes one rank sends for task `t`: a send's message, a collective's schedule total over its
// members shared evenly (plan::TotalBytesSent / members), nothing for compute and receives.
// `node_of_rank[r]` is plan rank r's node (hierarchical collectives); empty: each rank its own.
double SentBytes(const plan::Plan& p, const plan::Task& t,
                 const std::vector<int>& node_of_rank = {});

// Moves each communication interval's start to the time every party has posted it (a collective:
// its last member; a send or receive: the later of the pair, matched by source, destination and
// tag): waiting for a peer to post is idle time, not communication. `ranks` holds every rank of
// the plan, in order.
void StartWhenAllPosted(const plan::Plan& p, std::vector<RankTimeline>& ranks);

// Fills the summary's timing and byte figures (iteration_time_s, throughput_samples_per_s,
// compute/comm/exposed/bubble, critical_rank, comm_bytes_total) and each rank's finish, compute,
// comm, exposed, idle and comm_bytes_sent. `s.ranks` must already have one entry per plan rank
// (FillFromPlan).
void Reduce(const plan::Plan& p, const Timeline& t, Summary& s);

// The summary of several measured iterations: each figure the median over `iterations` (each
// made by Reduce on one iteration), the critical rank the one critical most often (lowest on a
// tie). Fields that Reduce does not fill are taken from the first.
Summary MedianOfIterations(const std::vector<Summary>& iterations);

// Median of `v` (the mean of the two middle values for an even count; 0 when empty).
double Median(std::vector<double> v);

// Length of the union of intervals (sorted in place).
double UnionLength(std::vector<std::pair<double, double>>& v);

// The Chrome trace (Perfetto, chrome://tracing) of a timeline: one process per rank named
// `process_names[r]`, compute on thread 0, communication on threads 1.. (each task in the first
// lane free when it starts, so the slices of one track nest as Perfetto requires); microseconds
// from t.start_s in whole nanoseconds. `other_data`, when not empty, is written as "otherData".
// Deterministic: the same timeline gives the same bytes.
std::string ChromeTrace(const plan::Plan& p, const Timeline& t,
                        const std::vector<std::string>& process_names,
                        const Json& other_data = Json::object());

}  // namespace convscale::cost
