// The one reducer (model/cost/timeline.h): hand-computed figures, the posting rule, ranks that
// share a timeline, the median over iterations and the trace writer.
#include "model/cost/timeline.h"

#include <gtest/gtest.h>

#include "model/util/json.h"
#include "tests/common/trace_schema.h"
#include "tests/common/two_rank_timeline.h"

namespace convscale::cost {
namespace {

Timeline FromCase(const testing::TwoRankCase& c) {
  Timeline t;
  for (size_t r = 0; r < c.times.size(); ++r) {
    RankTimeline rt;
    for (const testing::TimedTask& x : c.times[r]) {
      const plan::Task& task = c.plan.ranks[r].tasks[static_cast<size_t>(x.task)];
      rt.intervals.push_back(
          {x.task, task.kind, task.phase, x.start_s, x.end_s, SentBytes(c.plan, task)});
    }
    t.ranks.push_back(rt);
  }
  return t;
}

Summary Reduced(const plan::Plan& p, const Timeline& t) {
  Summary s;
  FillFromPlan(s, p);
  Reduce(p, t, s);
  return s;
}

// The figures of tests/common/two_rank_timeline.h, worked out there by hand.
TEST(Reduce, TwoRanksWithOverlapAndABubble) {
  const testing::TwoRankCase c = testing::TwoRankTimeline();
  Timeline t = FromCase(c);
  StartWhenAllPosted(c.plan, t.ranks);
  EXPECT_EQ(t.ranks[1].intervals[2].start_s, 6);  // the all-reduce waits for rank 0's post
  const Summary s = Reduced(c.plan, t);
  EXPECT_EQ(s.iteration_time_s, 12);
  EXPECT_EQ(s.throughput_samples_per_s, 2);  // 24 samples in 12 s
  EXPECT_EQ(s.critical_rank, 1);
  EXPECT_EQ(s.compute_time_s, 9);
  EXPECT_EQ(s.comm_time_s, 4);
  EXPECT_EQ(s.exposed_comm_time_s, 4);
  EXPECT_EQ(s.bubble_time_s, 1);
  EXPECT_EQ(s.comm_bytes_total, 2000);
  ASSERT_EQ(s.ranks.size(), 2u);
  EXPECT_EQ(s.ranks[0].finish_s, 11);
  EXPECT_EQ(s.ranks[0].compute_time_s, 9);
  EXPECT_EQ(s.ranks[0].comm_time_s, 4);
  EXPECT_EQ(s.ranks[0].exposed_comm_time_s, 2);
  EXPECT_EQ(s.ranks[0].idle_time_s, 1);
  EXPECT_EQ(s.ranks[0].comm_bytes_sent, 1000);
  EXPECT_EQ(s.ranks[1].finish_s, 12);
  EXPECT_EQ(s.ranks[1].compute_time_s, 7);
  EXPECT_EQ(s.ranks[1].exposed_comm_time_s, 4);
  EXPECT_EQ(s.ranks[1].idle_time_s, 1);
  // Exposed communication never exceeds communication, on any rank.
  for (const RankSummary& r : s.ranks) EXPECT_LE(r.exposed_comm_time_s, r.comm_time_s);
}

// Without the posting rule rank 1's wait for its peer would count as communication: exposed 5,
// no idle time. The rule is what makes the executor's figures those of the simulator.
TEST(Reduce, WaitingForAPeerIsIdleNotCommunication) {
  const testing::TwoRankCase c = testing::TwoRankTimeline();
  const Summary raw = Reduced(c.plan, FromCase(c));
  EXPECT_EQ(raw.ranks[1].comm_time_s, 5);
  EXPECT_EQ(raw.ranks[1].exposed_comm_time_s, 5);
  EXPECT_EQ(raw.ranks[1].idle_time_s, 0);
}

// The estimator walks one rank per class of identical programs: rank 1 sharing rank 0's timeline
// gets rank 0's figures, and the byte total still counts both ranks.
TEST(Reduce, RanksThatShareATimeline) {
  const testing::TwoRankCase c = testing::TwoRankTimeline();
  Timeline t = FromCase(c);
  StartWhenAllPosted(c.plan, t.ranks);
  t.ranks.resize(1);
  t.timeline_of = {0, 0};
  const Summary s = Reduced(c.plan, t);
  EXPECT_EQ(s.iteration_time_s, 11);  // from the intervals: rank 0's last end
  EXPECT_EQ(s.critical_rank, 0);      // a tie: the lowest rank
  EXPECT_EQ(s.ranks[1].compute_time_s, 9);
  EXPECT_EQ(s.comm_bytes_total, 2000);
}

// A server neither is the critical rank nor contributes a bubble, however late it finishes.
TEST(Reduce, ServersAreNeverCritical) {
  testing::TwoRankCase c = testing::TwoRankTimeline();
  c.plan.ranks[1].role = plan::Role::kServer;
  Timeline t = FromCase(c);
  StartWhenAllPosted(c.plan, t.ranks);
  const Summary s = Reduced(c.plan, t);
  EXPECT_EQ(s.critical_rank, 0);
  EXPECT_EQ(s.exposed_comm_time_s, 2);
  EXPECT_EQ(s.compute_time_s, 9);
}

TEST(Reduce, MedianOfIterationsTakesEachFiguresMedianAndTheMostFrequentCriticalRank) {
  std::vector<Summary> its(3);
  const double iteration[] = {3, 1, 2}, exposed[] = {0.5, 0.1, 0.3};
  const int critical[] = {1, 0, 1};
  for (int i = 0; i < 3; ++i) {
    its[i].global_batch = 10;
    its[i].iteration_time_s = iteration[i];
    its[i].exposed_comm_time_s = exposed[i];
    its[i].critical_rank = critical[i];
  }
  const Summary s = MedianOfIterations(its);
  EXPECT_EQ(s.iteration_time_s, 2);
  EXPECT_EQ(s.throughput_samples_per_s, 5);
  EXPECT_EQ(s.exposed_comm_time_s, 0.3);
  EXPECT_EQ(s.critical_rank, 1);
}

TEST(UnionLength, MergesOverlapsAndSkipsEmptyIntervals) {
  std::vector<std::pair<double, double>> v = {{5, 7}, {0, 2}, {1, 3}, {4, 4}, {6, 9}};
  EXPECT_EQ(UnionLength(v), 3 + 4);
  std::vector<std::pair<double, double>> none;
  EXPECT_EQ(UnionLength(none), 0);
}

TEST(ChromeTrace, ValidWithCommunicationOnItsOwnLane) {
  const testing::TwoRankCase c = testing::TwoRankTimeline();
  Timeline t = FromCase(c);
  const std::string text = ChromeTrace(c.plan, t, {"rank 0", "rank 1"}, Json{{"measured", true}});
  const Json j = Json::parse(text);
  EXPECT_EQ(convscale::testing::CheckChromeTrace(j), std::vector<std::string>{});
  EXPECT_EQ(j["otherData"]["measured"], true);
  int slices = 0;
  for (const Json& e : j["traceEvents"]) {
    if (e["ph"] != "X") continue;
    ++slices;
    if (e["name"] == "bucket0/allreduce") {
      EXPECT_EQ(e["tid"], 1);
      EXPECT_EQ(e["args"]["bytes"], 1000);
    } else {
      EXPECT_EQ(e["tid"], 0);
    }
  }
  EXPECT_EQ(slices, 8);
  EXPECT_EQ(text, ChromeTrace(c.plan, t, {"rank 0", "rank 1"}, Json{{"measured", true}}));
}

}  // namespace
}  // namespace convscale::cost
