// Ranking, explanations and knees against hand-computed values (tests/reports/sample_report.h).
#include <gtest/gtest.h>

#include "reports/analysis.h"
#include "sample_report.h"

namespace convscale::reports {
namespace {

// A baseline "dp" series of (gpus, samples/s) points, X(1) = `single`.
SweepReport DpSeries(const std::vector<std::pair<int, double>>& points, double single) {
  SweepReport s;
  s.facts.single_device_throughput = single;
  for (const auto& [g, x] : points) {
    SweepPoint p;
    p.strategy = "dp";
    p.variant = "baseline";
    p.gpus = g;
    p.throughput_samples_per_s = x;
    s.points.push_back(p);
  }
  return s;
}

TEST(Num, SignificantDigitsWithoutExponent) {
  EXPECT_EQ(Num(0), "0");
  EXPECT_EQ(Num(1234.6), "1235");
  EXPECT_EQ(Num(2.5), "2.5");
  EXPECT_EQ(Num(0.012345), "0.01235");
  EXPECT_EQ(Num(-3.0), "-3");
  EXPECT_EQ(Num(2.22222, 3), "2.22");
  EXPECT_EQ(Percent(0.413), "41%");
  EXPECT_EQ(Percent(0.0625), "6%");
  EXPECT_EQ(Percent(1.0), "100%");
}

TEST(Rank, FittingByThroughputThenNotFittingThenFailures) {
  const Report r = testing::SampleReport();
  const auto& c = r.selections[0].candidates;
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0].label, "hybrid owt");
  EXPECT_EQ(c[1].label, "dp ring fp32");
  EXPECT_EQ(c[2].label, "mp stages=16 micro_batches=4 gpipe");
  EXPECT_EQ(c[3].strategy, "dp");
  EXPECT_FALSE(c[3].fits);
  EXPECT_EQ(c[4].label, "ps servers=3");
}

TEST(Explain, SentencesDerivedFromTheNumbers) {
  const Report r = testing::SampleReport();
  const auto& c = r.selections[0].candidates;
  EXPECT_EQ(c[0].reason,
            "fastest: VGG-16's fully connected layers hold 90% of the parameters: one weird "
            "trick keeps them off the network");
  // 512 / 0.09 over 512 / 0.2 = 2.22; 0.12 / 0.2 = 60% exposed.
  EXPECT_EQ(c[1].reason,
            "2.22x slower than hybrid owt: exposed communication is 60% of the iteration on 200 "
            "Gbit/s InfiniBand; 90% of the gradients it moves belong to the fully connected "
            "layers");
  // 0.3 / 0.39 = 77% bubble; 0.39 / 0.09 = 4.33x.
  EXPECT_EQ(c[2].reason,
            "4.33x slower than hybrid owt: the pipeline bubble idles devices for 77% of the "
            "iteration");
  EXPECT_EQ(c[3].reason,
            "does not fit: needs 94.1 GiB per device, the A100-SXM4-80GB has 80.0 GiB");
  EXPECT_EQ(c[4].reason, "cannot run here: --servers 3: more servers than nodes (2)");
}

TEST(Explain, SingleNodeDoesNotBlameTheNetwork) {
  Facts f;
  f.model = "resnet50";
  f.gpus = 8;
  f.devices_per_node = 8;
  f.network = "25 Gbit/s Ethernet";
  f.inter_node_bandwidth_Bps = 3.125e9;
  Candidate c = testing::MakeCandidate("dp", {{"algorithm", "ring"}}, 0.059, 0.041, 0, 256, 8, 300);
  EXPECT_EQ(Explain(f, c, c), "fastest: exposed communication is 41% of the iteration");
  f.gpus = 16;
  EXPECT_EQ(Explain(f, c, c),
            "fastest: exposed communication is 41% of the iteration on 25 Gbit/s Ethernet");
}

TEST(Knees, MarginalEfficiencyOfEachStep) {
  const Report r = testing::SampleReport();
  const auto knees = FindKnees(r.sweeps[0]);
  ASSERT_EQ(knees.size(), 3u);
  // dp: 1->2 0.95, 2->4 0.9, 4->8 0.5625, 8->16 (2600-2400)/(8*400) = 0.0625.
  EXPECT_EQ(knees[0].strategy, "dp");
  EXPECT_EQ(knees[0].variant, "baseline");
  EXPECT_EQ(knees[0].gpus, 8);
  EXPECT_TRUE(knees[0].stops_paying);
  EXPECT_EQ(knees[0].next_gpus, 16);
  EXPECT_DOUBLE_EQ(knees[0].next_marginal_efficiency, 0.0625);
  EXPECT_EQ(DescribeKnee(knees[0]),
            "dp: adding GPUs pays up to 8; going to 16 adds 6% of a GPU's worth per added GPU");
  // dp with 2x network: 4->8 is (3120-1500)/1600 = 1.01, 8->16 is 260/3200.
  EXPECT_EQ(knees[1].variant, "network.bandwidth=2x");
  EXPECT_EQ(knees[1].gpus, 8);
  EXPECT_DOUBLE_EQ(knees[1].next_marginal_efficiency, 0.08125);
  // mp: 1->2 is exactly 0.5 (pays), 2->4 is 300/800 = 0.375.
  EXPECT_EQ(knees[2].strategy, "mp");
  EXPECT_EQ(knees[2].gpus, 2);
  EXPECT_EQ(knees[2].next_gpus, 4);
  EXPECT_DOUBLE_EQ(knees[2].next_marginal_efficiency, 0.375);
}

// Within the 3% tie margin the simpler candidate ranks first and sync beats async; a faster row
// that lost a tie says so and never claims to win; an async row states its staleness and that
// it changes convergence.
TEST(Rank, TiesGoToTheSimplerCandidateAndSyncBeatsAsync) {
  Facts f;
  f.model = "resnet50";
  f.gpus = 16;
  f.devices_per_node = 8;
  // 512 samples: async 0.1 s (5120/s), sync 0.1005 s (0.5% slower), dp 0.102 s (2% slower than
  // async), mp 0.2 s (outside the margin).
  std::vector<Candidate> c = {
      testing::MakeCandidate("ps", {{"mode", "async"}, {"staleness", -1}}, 0.099, 0.001, 0, 512, 16,
                             400),
      testing::MakeCandidate("ps", {{"mode", "sync"}}, 0.1, 0.0005, 0, 512, 16, 400),
      testing::MakeCandidate("dp", {{"algorithm", "hierarchical"}, {"grad_precision", "fp32"}}, 0.1,
                             0.002, 0, 512, 16, 400),
      testing::MakeCandidate("mp", {{"stages", 16}}, 0.1, 0, 0.1, 512, 16, 400)};
  Rank(c);
  ExplainAll(f, c);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].label, "dp hierarchical fp32");
  EXPECT_EQ(c[1].label, "ps sync");
  EXPECT_EQ(c[2].label, "ps async staleness=-1");
  EXPECT_EQ(c[3].label, "mp stages=16");
  // 5120 / 5019.6 = 1.020; the dp row communicates 0.004 s of 0.102 s (4%).
  EXPECT_EQ(c[0].reason,
            "first: within 2.0% of ps async staleness=-1 (a tie) and simpler: communication (4% "
            "of the iteration) hides behind compute");
  // 0.102 / 0.1005 = 1.015.
  EXPECT_EQ(c[1].reason,
            "1.5% faster than dp hierarchical fp32, a tie (within 3%), and dp hierarchical fp32 "
            "is simpler: communication (1% of the iteration) hides behind compute");
  EXPECT_EQ(c[2].reason,
            "2.0% faster than dp hierarchical fp32, a tie (within 3%), and dp hierarchical fp32 "
            "is simpler: communication (2% of the iteration) hides behind compute; asynchronous, "
            "staleness unbounded: stale gradients change convergence, so its samples/s overstate "
            "training progress against sync");
  // 0.2 / 0.102 = 1.96; bubble 0.1 of 0.2.
  EXPECT_EQ(c[3].reason,
            "1.96x slower than dp hierarchical fp32: the pipeline bubble idles devices for 50% of "
            "the iteration");
  for (size_t i = 1; i < c.size(); ++i) {
    EXPECT_EQ(c[i].reason.find("fastest"), std::string::npos) << c[i].reason;
    EXPECT_EQ(c[i].reason.find("first"), std::string::npos) << c[i].reason;
  }
}

TEST(Explain, ParameterServerIdleTimeIsWaitingNotABubble) {
  Facts f;
  f.model = "resnet50";
  Candidate c = testing::MakeCandidate("ps", {{"mode", "sync"}}, 0.1, 0, 0.3, 512, 16, 400);
  EXPECT_EQ(Explain(f, c, c),
            "fastest: workers wait for the parameter servers for 75% of the "
            "iteration");
}

// A step that loses throughput says so, instead of "adds 0%".
TEST(Knees, AStepThatLosesThroughputSaysHowMuch) {
  // 1 -> 8: 2000 / (7 x 400) = 0.71 pays; 8 -> 16: 2016 / 2400 - 1 = -16%.
  const auto knees = FindKnees(DpSeries({{1, 400}, {8, 2400}, {16, 2016}}, 400));
  ASSERT_EQ(knees.size(), 1u);
  EXPECT_DOUBLE_EQ(knees[0].next_throughput_change, 2016.0 / 2400 - 1);
  EXPECT_EQ(DescribeKnee(knees[0]),
            "dp: adding GPUs pays up to 8; going to 16 lowers throughput by 16%");
}

TEST(Knees, SeriesThatAlwaysPays) {
  const auto knees = FindKnees(DpSeries({{2, 190}, {4, 380}, {8, 760}}, 100));
  ASSERT_EQ(knees.size(), 1u);
  EXPECT_FALSE(knees[0].stops_paying);
  EXPECT_EQ(knees[0].gpus, 8);
  EXPECT_EQ(DescribeKnee(knees[0]), "dp: every step up to 8 GPUs pays");
}

TEST(Dollars, SamplesPerDollar) {
  // 1000 samples/s on 4 GPUs at $2.5 per GPU-hour: 3.6e6 samples per $10.
  EXPECT_DOUBLE_EQ(SamplesPerDollar(1000, 4, 2.5), 360000.0);
  EXPECT_DOUBLE_EQ(SamplesPerDollar(1000, 4, 0), 0.0);
}

TEST(Label, FromStrategyAndOptions) {
  EXPECT_EQ(CandidateLabel("dp", {{"algorithm", "ring"}, {"bucket_MB", 25}}),
            "dp ring bucket_MB=25");
  EXPECT_EQ(CandidateLabel("ps", {{"async", true}}), "ps async");
  EXPECT_EQ(CandidateLabel("ps", {{"async", false}}), "ps no-async");
}

}  // namespace
}  // namespace convscale::reports
