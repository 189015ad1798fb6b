// Predicted against measured: rows, error percent, located errors, sweeps matched by point.
#include <gtest/gtest.h>

#include "reports/compare.h"

namespace convscale::reports {
namespace {

Json Summary(double iter, double compute, double exposed, double x) {
  Json j = Json::object();
  j["context"] = {{"tool", "convscale"}, {"kind", "simulate"}};
  j["iteration_time_s"] = iter;
  j["compute_time_s"] = compute;
  j["exposed_comm_time_s"] = exposed;
  j["bubble_time_s"] = 0.0;
  j["throughput_samples_per_s"] = x;
  return j;
}

TEST(Compare, PhasesAndErrorPercent) {
  Json m = Summary(0.2, 0.16, 0.04, 1280);
  m["context"]["kind"] = "execute";
  const ComparisonReport r =
      BuildComparison(Summary(0.25, 0.15, 0.1, 1024), "p.json", m, "dir/m.json");
  EXPECT_EQ(r.title, "p.json against m.json");
  EXPECT_EQ(r.predicted_source, "simulate");
  EXPECT_EQ(r.measured_source, "execute");
  ASSERT_EQ(r.phases.size(), 5u);
  EXPECT_EQ(r.phases[0].item, "iteration");
  EXPECT_DOUBLE_EQ(*r.phases[0].error_pct(), 25.0);
  EXPECT_EQ(r.phases[1].item, "compute");
  EXPECT_NEAR(*r.phases[1].error_pct(), -6.25, 1e-12);
  EXPECT_EQ(r.phases[2].item, "exposed communication");
  EXPECT_NEAR(*r.phases[2].error_pct(), 150.0, 1e-9);
  EXPECT_EQ(r.phases[3].item, "idle (pipeline bubble, waiting)");
  EXPECT_FALSE(r.phases[3].error_pct().has_value());
  EXPECT_EQ(r.phases[4].item, "throughput");
  EXPECT_DOUBLE_EQ(*r.phases[4].error_pct(), -20.0);
}

// Byte totals: the summary key comm_bytes_total, read as comm_bytes in summaries written before
// it, on either side.
TEST(Compare, ByteTotalsUnderTheCurrentOrTheOldKey) {
  Json p = Summary(0.2, 0.1, 0, 100), m = Summary(0.2, 0.1, 0, 100);
  p["comm_bytes_total"] = 2000.0;
  m["comm_bytes"] = 1000.0;
  const ComparisonReport r = BuildComparison(p, "p.json", m, "m.json");
  ASSERT_EQ(r.phases.size(), 6u);
  EXPECT_EQ(r.phases[5].item, "bytes over the network, all ranks");
  EXPECT_EQ(r.phases[5].unit, "B");
  EXPECT_EQ(r.phases[5].predicted, 2000);
  EXPECT_EQ(r.phases[5].measured, 1000);
  m["comm_bytes_total"] = 2000.0;  // the current key wins over the old one
  EXPECT_EQ(BuildComparison(p, "p.json", m, "m.json").phases[5].measured, 2000);
}

TEST(Compare, LocatedErrors) {
  Json bad = Summary(0.2, 0.1, 0, 100);
  bad.erase("compute_time_s");
  try {
    BuildComparison(Summary(0.2, 0.1, 0, 100), "p.json", bad, "m.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "m.json: missing \"compute_time_s\"; expected a summary written by convscale "
                 "estimate --json, simulate or execute");
  }
  bad = Summary(0.2, 0.1, 0, 100);
  bad["iteration_time_s"] = "fast";
  try {
    BuildComparison(bad, "p.json", Summary(0.2, 0.1, 0, 100), "m.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "p.json: /iteration_time_s: expected a number, found a string");
  }
}

TEST(Compare, SweepsMatchedByStrategyAndGpus) {
  Json p = {{"points", Json::array()}}, m = {{"points", Json::array()}};
  for (int g : {1, 2, 4}) {
    p["points"].push_back(
        {{"strategy", "dp"}, {"gpus", g}, {"throughput_samples_per_s", 100.0 * g}});
    if (g != 2)
      m["points"].push_back(
          {{"strategy", "dp"}, {"gpus", g}, {"throughput_samples_per_s", 80.0 * g}});
  }
  const ComparisonReport r = BuildComparison(p, "p.json", m, "m.json");
  ASSERT_EQ(r.points.size(), 2u);
  EXPECT_EQ(r.points[1].gpus, 4);
  EXPECT_EQ(r.points[1].item, "dp throughput");
  EXPECT_DOUBLE_EQ(*r.points[1].error_pct(), 25.0);
  try {
    BuildComparison(p, "p.json", Summary(1, 1, 0, 1), "m.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "m.json: is a single summary but p.json is a sweep; compare a summary with a "
                 "summary or a sweep with a sweep");
  }
}

}  // namespace
}  // namespace convscale::reports
