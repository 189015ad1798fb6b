// Inline SVG charts for the HTML reports: axes with tick labels and units, a legend, no scripts,
// no external fonts ("sans-serif" is the generic family). Every text is HTML-escaped here.
//
// The markup is stable so tests can count what is drawn: each chart is
// <svg class="chart ..." data-series="N">, each series a <g class="series" data-name="...">
// holding one <polyline> and one <circle class="point"> per point; each bar a
// <rect class="bar" data-series="...">; the legend a <g class="legend"> with one entry per series.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace convscale::reports {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the order given
  bool dashed = false;                            // reference lines such as "ideal"
};

struct LineChart {
  std::string title;
  std::string x_label;     // with unit: "GPUs"
  std::string y_label;     // with unit: "speedup over 1 GPU (x)"
  bool log2_x = false;     // x ticks at powers of two
  bool y_percent = false;  // y values are fractions, ticks read "50%"
  std::vector<Series> series;
};

// Horizontal bars, one per row, each split into stacked segments (iteration time split).
struct StackedBarChart {
  std::string title;
  std::string x_label;                      // with unit: "iteration time (ms)"
  double x_scale = 1;                       // values are multiplied by this for display
  std::vector<std::string> segment_names;   // the legend
  std::vector<std::string> rows;            // one label per bar
  std::vector<std::vector<double>> values;  // [row][segment], in the record's unit
  std::vector<std::string> notes;  // per row, drawn after the bar ("does not fit"); may be empty
};

// Horizontal grouped bars: for each category one bar per series (predicted, measured).
struct GroupedBarChart {
  std::string title;
  std::string x_label;
  double x_scale = 1;
  std::vector<std::string> series_names;
  std::vector<std::string> categories;
  std::vector<std::vector<double>> values;  // [series][category]
};

std::string RenderLineChart(const LineChart& chart);
std::string RenderStackedBars(const StackedBarChart& chart);
std::string RenderGroupedBars(const GroupedBarChart& chart);

// "Nice" tick values covering [0, max] (1, 2, 2.5, 5 x 10^k steps); at least two ticks.
std::vector<double> NiceTicks(double max, int target = 5);

// The colour of series i (a colour-blind-safe palette, repeating).
const char* SeriesColor(size_t i);

}  // namespace convscale::reports
