// Chart markup: ticks, series and points counted, legends, escaping.
#include <gtest/gtest.h>

#include "reports/svg.h"

namespace convscale::reports {
namespace {

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

TEST(NiceTicks, CoverTheMaximumWithRoundSteps) {
  EXPECT_EQ(NiceTicks(64), (std::vector<double>{0, 20, 40, 60, 80}));
  EXPECT_EQ(NiceTicks(1.0), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0}));
  EXPECT_EQ(NiceTicks(230), (std::vector<double>{0, 50, 100, 150, 200, 250}));
  EXPECT_EQ(NiceTicks(0), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0}));
}

TEST(LineChart, SeriesPointsAxesLegend) {
  LineChart c;
  c.title = "Speedup";
  c.x_label = "GPUs";
  c.y_label = "speedup (x)";
  c.log2_x = true;
  c.series = {{"dp", {{1, 1}, {2, 1.9}, {4, 3.6}, {8, 6.5}}, false},
              {"<mp>", {{1, 1}, {2, 1.5}}, false},
              {"ideal", {{1, 1}, {8, 8}}, true}};
  const std::string s = RenderLineChart(c);
  EXPECT_EQ(s.rfind("<svg class=\"chart line-chart\"", 0), 0u);
  EXPECT_NE(s.find("data-series=\"3\""), std::string::npos);
  EXPECT_EQ(Count(s, "<g class=\"series\""), 3u);
  EXPECT_EQ(Count(s, "<polyline"), 3u);
  EXPECT_EQ(Count(s, "<circle class=\"point\""), 8u);
  EXPECT_EQ(Count(s, "stroke-dasharray"), 2u);  // the ideal line and its legend entry
  EXPECT_EQ(Count(s, "<g class=\"legend-entry\""), 3u);
  EXPECT_NE(s.find(">&lt;mp&gt;</text>"), std::string::npos);
  EXPECT_EQ(Count(s, "<mp>"), 0u);
  // x ticks at 1, 2, 4, 8; y ticks 0..8 by 2.
  EXPECT_EQ(Count(s, "class=\"tick\""), 4u + 5u);
  EXPECT_NE(s.find(">speedup (x)</text>"), std::string::npos);
}

TEST(LineChart, PercentTicks) {
  LineChart c;
  c.y_percent = true;
  c.series = {{"dp", {{1, 1.0}, {2, 0.9}}, false}};
  const std::string s = RenderLineChart(c);
  EXPECT_NE(s.find(">100%</text>"), std::string::npos);
  EXPECT_NE(s.find(">40%</text>"), std::string::npos);
}

TEST(StackedBars, OneRectPerRowAndSegment) {
  StackedBarChart c;
  c.title = "split";
  c.x_label = "iteration time (ms)";
  c.x_scale = 1e3;
  c.segment_names = {"compute", "exposed communication", "pipeline bubble"};
  c.rows = {"a", "b"};
  c.values = {{0.1, 0.02, 0}, {0.05, 0.05, 0.05}};
  c.notes = {"", "(does not fit)"};
  const std::string s = RenderStackedBars(c);
  EXPECT_EQ(Count(s, "<rect class=\"bar\""), 6u);
  EXPECT_EQ(Count(s, "<g class=\"legend-entry\""), 3u);
  EXPECT_NE(s.find(">150 (does not fit)</text>"), std::string::npos);
  EXPECT_NE(s.find(">120</text>"), std::string::npos);
  EXPECT_NE(s.find(">iteration time (ms)</text>"), std::string::npos);
}

TEST(GroupedBars, OneRectPerSeriesAndCategory) {
  GroupedBarChart c;
  c.series_names = {"predicted", "measured"};
  c.categories = {"iteration", "compute", "exposed"};
  c.values = {{1, 2, 3}, {1.5, 2.5, 0}};
  const std::string s = RenderGroupedBars(c);
  EXPECT_EQ(Count(s, "<rect class=\"bar\""), 6u);
  EXPECT_EQ(Count(s, "data-series=\"measured\""), 3u);
}

}  // namespace
}  // namespace convscale::reports
