#include "reports/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "reports/analysis.h"
#include "reports/escape.h"

namespace convscale::reports {
namespace {

// Coordinates with one decimal: deterministic and compact.
std::string F(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s == "-0.0") s = "0.0";
  return s;
}

// Long labels are cut (by code point, never inside a UTF-8 sequence) before escaping.
std::string Cut(const std::string& s, size_t max_chars) {
  size_t chars = 0, i = 0;
  while (i < s.size()) {
    if (chars == max_chars) return s.substr(0, i) + "...";
    unsigned char c = s[i];
    i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    ++chars;
  }
  return s;
}

std::string Text(double x, double y, const std::string& text, const char* anchor,
                 const std::string& extra = "") {
  return "<text x=\"" + F(x) + "\" y=\"" + F(y) + "\" text-anchor=\"" + anchor + "\"" + extra +
         ">" + XmlEscape(text) + "</text>\n";
}

std::string Open(const char* cls, double w, double h, size_t series, const std::string& title) {
  std::string s = "<svg class=\"chart " + std::string(cls) +
                  "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + F(w) + "\" height=\"" +
                  F(h) + "\" viewBox=\"0 0 " + F(w) + " " + F(h) + "\" data-series=\"" +
                  std::to_string(series) + "\" role=\"img\" font-family=\"sans-serif\" " +
                  "font-size=\"12\">\n";
  s += "<title>" + XmlEscape(title) + "</title>\n";
  s += "<rect class=\"background\" x=\"0\" y=\"0\" width=\"" + F(w) + "\" height=\"" + F(h) +
       "\" fill=\"#ffffff\"/>\n";
  s += Text(w / 2, 22, title, "middle", " font-size=\"15\" font-weight=\"bold\"");
  return s;
}

// The legend's entries from (x, y): one per line, or left to right (`horizontal`), wrapping
// before an entry that would pass `max_x`. `right` and `bottom` get the furthest x and y its text
// reaches (at about 7.2 px per character of 12 px sans-serif), so a chart can size itself to hold
// it instead of clipping it.
std::string Legend(const std::vector<std::string>& names, const std::vector<bool>& dashed, double x,
                   double y, bool boxes, bool horizontal, double max_x, double& right,
                   double& bottom) {
  constexpr double kCharWidth = 7.2, kLine = 18;
  std::string s = "<g class=\"legend\">\n";
  double cx = x, cy = y;
  right = x;
  for (size_t i = 0; i < names.size(); ++i) {
    const double width = 26 + kCharWidth * std::min<size_t>(names[i].size(), 24);
    if (horizontal && cx > x && cx + width > max_x) {
      cx = x;
      cy += kLine;
    }
    right = std::max(right, cx + width);
    const char* color = SeriesColor(i);
    s += "<g class=\"legend-entry\">";
    if (boxes) {
      s += "<rect x=\"" + F(cx) + "\" y=\"" + F(cy - 9) + "\" width=\"14\" height=\"10\" fill=\"" +
           color + "\"/>";
    } else {
      const bool d = i < dashed.size() && dashed[i];
      s += "<line x1=\"" + F(cx) + "\" y1=\"" + F(cy - 4) + "\" x2=\"" + F(cx + 20) + "\" y2=\"" +
           F(cy - 4) + "\" stroke=\"" + (d ? "#555555" : color) + "\" stroke-width=\"2\"" +
           (d ? " stroke-dasharray=\"5,4\"" : "") + "/>";
    }
    s += Text(cx + 26, cy, Cut(names[i], 24), "start");
    s += "</g>\n";
    if (horizontal) {
      cx += width + 14;
    } else if (i + 1 < names.size()) {
      cy += kLine;
    }
  }
  bottom = cy + 5;
  return s + "</g>\n";
}

// Axis tick label for a value.
std::string TickLabel(double v, bool percent) {
  return percent ? Percent(v) : Num(v, 4);
}

}  // namespace

const char* SeriesColor(size_t i) {
  static const char* palette[] = {"#4477aa", "#ee6677", "#228833", "#ccbb44",
                                  "#66ccee", "#aa3377", "#bbbbbb", "#000000"};
  return palette[i % 8];
}

std::vector<double> NiceTicks(double max, int target) {
  if (!(max > 0) || !std::isfinite(max)) max = 1;
  const double raw = max / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (int i = 0;; ++i) {
    const double v = i * step;
    ticks.push_back(v);
    if (v >= max * (1 - 1e-9)) break;
  }
  if (ticks.size() < 2) ticks.push_back(step);
  return ticks;
}

std::string RenderLineChart(const LineChart& chart) {
  const double L = 70, T = 40, B = 55, pw = 470, ph = 285;
  std::vector<std::string> names;
  std::vector<bool> dashed;
  for (const auto& ser : chart.series) names.push_back(ser.name), dashed.push_back(ser.dashed);
  double right = 0, bottom = 0;
  const std::string legend =
      Legend(names, dashed, L + pw + 16, T + 12, false, false, 0, right, bottom);
  const double W = std::max(720.0, right + 10), H = std::max(T + ph + B, bottom + 10);
  double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
  for (const auto& s : chart.series)
    for (const auto& [x, y] : s.points) {
      if (chart.log2_x && x <= 0) continue;
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      if (std::isfinite(y)) ymax = std::max(ymax, y);
    }
  if (!std::isfinite(xmin)) xmin = chart.log2_x ? 1 : 0, xmax = xmin + 1;
  if (chart.y_percent) ymax = std::max(ymax, 1.0);
  const std::vector<double> yt = NiceTicks(ymax);
  const double ytop = yt.back();
  std::vector<double> xt;
  double x0, x1;
  if (chart.log2_x) {
    const int k0 = static_cast<int>(std::floor(std::log2(xmin) + 1e-9));
    const int k1 = static_cast<int>(std::ceil(std::log2(xmax) - 1e-9));
    x0 = k0;
    x1 = std::max(k1, k0 + 1);
    const int every = (x1 - x0) > 12 ? 2 : 1;
    for (int k = k0; k <= x1; k += every) xt.push_back(std::ldexp(1.0, k));
  } else {
    xt = NiceTicks(xmax);
    x0 = 0;
    x1 = xt.back();
  }
  auto px = [&](double x) {
    const double v = chart.log2_x ? std::log2(x) : x;
    return L + (v - x0) / (x1 - x0) * pw;
  };
  auto py = [&](double y) { return T + ph - std::clamp(y / ytop, 0.0, 1.05) * ph; };

  std::string s = Open("line-chart", W, H, chart.series.size(), chart.title);
  s += "<g class=\"grid\" stroke=\"#e5e5e5\">\n";
  for (double y : yt)
    s += "<line x1=\"" + F(L) + "\" y1=\"" + F(py(y)) + "\" x2=\"" + F(L + pw) + "\" y2=\"" +
         F(py(y)) + "\"/>\n";
  s += "</g>\n<g class=\"axis y\">\n";
  s += "<line x1=\"" + F(L) + "\" y1=\"" + F(T) + "\" x2=\"" + F(L) + "\" y2=\"" + F(T + ph) +
       "\" stroke=\"#333333\"/>\n";
  for (double y : yt)
    s += Text(L - 6, py(y) + 4, TickLabel(y, chart.y_percent), "end", " class=\"tick\"");
  s += Text(16, T + ph / 2, chart.y_label, "middle",
            " class=\"label\" transform=\"rotate(-90 16 " + F(T + ph / 2) + ")\"");
  s += "</g>\n<g class=\"axis x\">\n";
  s += "<line x1=\"" + F(L) + "\" y1=\"" + F(T + ph) + "\" x2=\"" + F(L + pw) + "\" y2=\"" +
       F(T + ph) + "\" stroke=\"#333333\"/>\n";
  for (double x : xt) {
    s += "<line x1=\"" + F(px(x)) + "\" y1=\"" + F(T + ph) + "\" x2=\"" + F(px(x)) + "\" y2=\"" +
         F(T + ph + 5) + "\" stroke=\"#333333\"/>\n";
    s += Text(px(x), T + ph + 18, Num(x, 4), "middle", " class=\"tick\"");
  }
  s += Text(L + pw / 2, H - 12, chart.x_label, "middle", " class=\"label\"");
  s += "</g>\n";
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& ser = chart.series[i];
    const std::string color = ser.dashed ? "#555555" : SeriesColor(i);
    s += "<g class=\"series\" data-name=\"" + XmlEscape(ser.name) +
         "\">\n<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" +
         (ser.dashed ? " stroke-dasharray=\"5,4\"" : "") + " points=\"";
    bool first = true;
    for (const auto& [x, y] : ser.points) {
      if ((chart.log2_x && x <= 0) || !std::isfinite(y)) continue;
      s += (first ? "" : " ") + F(px(x)) + "," + F(py(y));
      first = false;
    }
    s += "\"/>\n";
    for (const auto& [x, y] : ser.points) {
      if ((chart.log2_x && x <= 0) || !std::isfinite(y)) continue;
      s += "<circle class=\"point\" cx=\"" + F(px(x)) + "\" cy=\"" + F(py(y)) + "\" r=\"" +
           (ser.dashed ? "2" : "3.5") + "\" fill=\"" + color + "\"><title>" +
           XmlEscape(ser.name + ": " + Num(x, 4) + ", " + TickLabel(y, chart.y_percent)) +
           "</title></circle>\n";
    }
    s += "</g>\n";
  }
  return s + legend + "</svg>\n";
}

std::string RenderStackedBars(const StackedBarChart& chart) {
  const double W = 760, L = 250, R = 140, T = 40, row = 26, B = 75;
  const double pw = W - L - R;
  double right = 0, bottom = 0;
  const std::string legend = Legend(chart.segment_names, {}, L, T + row * chart.rows.size() + 62,
                                    true, true, W - 10, right, bottom);
  const double H = std::max(T + row * std::max<size_t>(chart.rows.size(), 1) + B, bottom + 10);
  double xmax = 0;
  for (const auto& r : chart.values) {
    double sum = 0;
    for (double v : r) sum += std::max(0.0, v) * chart.x_scale;
    xmax = std::max(xmax, sum);
  }
  const std::vector<double> xt = NiceTicks(xmax);
  const double xtop = xt.back();
  auto px = [&](double v) { return L + v / xtop * pw; };
  const double ph = row * chart.rows.size();
  std::string s = Open("bar-chart", W, H, chart.segment_names.size(), chart.title);
  s += "<g class=\"grid\" stroke=\"#e5e5e5\">\n";
  for (double x : xt)
    s += "<line x1=\"" + F(px(x)) + "\" y1=\"" + F(T) + "\" x2=\"" + F(px(x)) + "\" y2=\"" +
         F(T + ph) + "\"/>\n";
  s += "</g>\n";
  for (size_t r = 0; r < chart.rows.size(); ++r) {
    const double y = T + r * row + 4;
    s += "<g class=\"row\">\n" + Text(L - 8, y + 13, Cut(chart.rows[r], 38), "end");
    double at = 0;
    for (size_t k = 0; k < chart.segment_names.size(); ++k) {
      const double v = r < chart.values.size() && k < chart.values[r].size()
                           ? std::max(0.0, chart.values[r][k]) * chart.x_scale
                           : 0;
      s += "<rect class=\"bar\" data-series=\"" + XmlEscape(chart.segment_names[k]) + "\" x=\"" +
           F(px(at)) + "\" y=\"" + F(y) + "\" width=\"" + F(px(at + v) - px(at)) +
           "\" height=\"18\" fill=\"" + SeriesColor(k) + "\"><title>" +
           XmlEscape(chart.rows[r] + ": " + chart.segment_names[k] + " " + Num(v, 4)) +
           "</title></rect>\n";
      at += v;
    }
    const std::string note = r < chart.notes.size() ? chart.notes[r] : "";
    s += Text(px(at) + 6, y + 13, note.empty() ? Num(at, 4) : Num(at, 4) + " " + note, "start",
              " class=\"value\"");
    s += "</g>\n";
  }
  s += "<g class=\"axis x\">\n<line x1=\"" + F(L) + "\" y1=\"" + F(T + ph) + "\" x2=\"" +
       F(L + pw) + "\" y2=\"" + F(T + ph) + "\" stroke=\"#333333\"/>\n";
  for (double x : xt) s += Text(px(x), T + ph + 16, Num(x, 4), "middle", " class=\"tick\"");
  s += Text(L + pw / 2, T + ph + 36, chart.x_label, "middle", " class=\"label\"");
  s += "</g>\n";
  return s + legend + "</svg>\n";
}

std::string RenderGroupedBars(const GroupedBarChart& chart) {
  const size_t ns = std::max<size_t>(chart.series_names.size(), 1);
  const double W = 760, L = 220, R = 120, T = 40, bar = 14, gap = 12, B = 75;
  const double group = ns * bar + gap;
  const double pw = W - L - R;
  const double ph = group * chart.categories.size();
  double right = 0, bottom = 0;
  const std::string legend =
      Legend(chart.series_names, {}, L, T + ph + 62, true, true, W - 10, right, bottom);
  const double H = std::max(T + ph + B, bottom + 10);
  double xmax = 0;
  for (const auto& ser : chart.values)
    for (double v : ser) xmax = std::max(xmax, v * chart.x_scale);
  const std::vector<double> xt = NiceTicks(xmax);
  auto px = [&](double v) { return L + std::max(0.0, v) / xt.back() * pw; };
  std::string s = Open("bar-chart grouped", W, H, chart.series_names.size(), chart.title);
  s += "<g class=\"grid\" stroke=\"#e5e5e5\">\n";
  for (double x : xt)
    s += "<line x1=\"" + F(px(x)) + "\" y1=\"" + F(T) + "\" x2=\"" + F(px(x)) + "\" y2=\"" +
         F(T + ph) + "\"/>\n";
  s += "</g>\n";
  for (size_t c = 0; c < chart.categories.size(); ++c) {
    const double y0 = T + c * group + gap / 2;
    s += "<g class=\"row\">\n" +
         Text(L - 8, y0 + ns * bar / 2 + 4, Cut(chart.categories[c], 34), "end");
    for (size_t k = 0; k < chart.series_names.size(); ++k) {
      const double v = k < chart.values.size() && c < chart.values[k].size()
                           ? chart.values[k][c] * chart.x_scale
                           : 0;
      const double y = y0 + k * bar;
      s += "<rect class=\"bar\" data-series=\"" + XmlEscape(chart.series_names[k]) + "\" x=\"" +
           F(L) + "\" y=\"" + F(y) + "\" width=\"" + F(px(v) - L) + "\" height=\"" + F(bar - 2) +
           "\" fill=\"" + SeriesColor(k) + "\"><title>" +
           XmlEscape(chart.categories[c] + ", " + chart.series_names[k] + ": " + Num(v, 4)) +
           "</title></rect>\n";
      s += Text(px(v) + 4, y + bar - 4, Num(v, 4), "start", " class=\"value\" font-size=\"10\"");
    }
    s += "</g>\n";
  }
  s += "<g class=\"axis x\">\n<line x1=\"" + F(L) + "\" y1=\"" + F(T + ph) + "\" x2=\"" +
       F(L + pw) + "\" y2=\"" + F(T + ph) + "\" stroke=\"#333333\"/>\n";
  for (double x : xt) s += Text(px(x), T + ph + 16, Num(x, 4), "middle", " class=\"tick\"");
  s += Text(L + pw / 2, T + ph + 36, chart.x_label, "middle", " class=\"label\"");
  s += "</g>\n";
  return s + legend + "</svg>\n";
}

}  // namespace convscale::reports
