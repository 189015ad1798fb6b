// index.html: one self-contained file. Inline CSS and inline SVG charts only; a
// Content-Security-Policy forbids scripts and every network fetch, so the page renders the same
// offline, from a mail attachment or a CI artifact. Every user-supplied string is HTML-escaped.
#include <algorithm>
#include <map>
#include <set>

#include "model/util/units.h"
#include "reports/analysis.h"
#include "reports/escape.h"
#include "reports/svg.h"
#include "reports/writer.h"

namespace convscale::reports {
namespace {

using units::FormatBytes;
using units::FormatMemory;
using units::FormatTime;

std::string H(const std::string& s) {
  return XmlEscape(s);
}

const char kStyle[] =
    R"(body{font-family:sans-serif;margin:24px auto;max-width:1100px;color:#222;line-height:1.4;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.context{color:#666;font-size:13px}.answer{font-size:16px;background:#f2f7fc;border-left:4px solid #4477aa;padding:8px 12px}
table{border-collapse:collapse;font-size:13px;margin:12px 0}th,td{border:1px solid #ddd;padding:4px 7px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.text,th.text{text-align:left}tr.nofit td{color:#999}tr.nofit td.fits{color:#c00;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:12px}svg.chart{border:1px solid #eee;max-width:100%;height:auto}
ul.knees li{margin:3px 0}pre{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto}
.err-high{color:#c00}.err-low{color:#228833}
)";

// A link to a local file: relative paths and http(s)/file URLs only (no "javascript:").
std::string Link(const std::string& path) {
  if (path.empty()) return "-";
  std::string href = path;
  const size_t colon = href.find(':');
  const size_t slash = href.find('/');
  const bool scheme = colon != std::string::npos && (slash == std::string::npos || colon < slash);
  if (scheme && href.rfind("http://", 0) != 0 && href.rfind("https://", 0) != 0 &&
      href.rfind("file://", 0) != 0)
    href = "./" + href;
  return "<a href=\"" + H(href) + "\">" + H(path) + "</a>";
}

std::string Td(const std::string& html, const char* cls = nullptr) {
  return cls ? "<td class=\"" + std::string(cls) + "\">" + html + "</td>" : "<td>" + html + "</td>";
}

std::string Selection(const SelectionReport& sel, int index) {
  const Facts& f = sel.facts;
  std::string s = "<section class=\"selection\" id=\"selection-" + std::to_string(index) + "\">\n";
  s += "<h2>Strategy selection: " + H(f.model) + " on " + H(f.cluster) + ", " +
       std::to_string(f.gpus) + " GPUs</h2>\n";
  if (!sel.candidates.empty() && sel.candidates[0].error.empty() && sel.candidates[0].fits)
    s += "<p class=\"answer\"><strong>Use " + H(sel.candidates[0].label) +
         "</strong>: " + H(sel.candidates[0].reason) + ".</p>\n";
  else
    s += "<p class=\"answer\"><strong>No candidate runs and fits on this cluster.</strong></p>\n";
  s += "<p>Assumed: " + H(Assumptions(f)) + ", on " + H(f.device) + ". Predicted by " +
       H(PredictedBy(sel.candidates)) + ". One device trains " + Num(f.single_device_throughput) +
       " samples/s. " + H(units::FormatCount(f.parameters)) + " parameters, " +
       Percent(f.fc_parameter_fraction) + " of them in fully connected layers." +
       (f.network.empty() ? "" : " Network: " + H(f.network) + ".") + "</p>\n";
  StackedBarChart chart;
  chart.title = "Iteration time split, " + std::to_string(f.gpus) + " GPUs";
  chart.x_label = "iteration time (ms)";
  chart.x_scale = 1e3;
  chart.segment_names = {"compute", "exposed communication", "idle (bubble, waiting)"};
  for (const Candidate& c : sel.candidates) {
    if (!c.error.empty()) continue;
    if (chart.rows.size() == 16) break;
    chart.rows.push_back(c.label);
    chart.values.push_back({c.compute_time_s, c.exposed_comm_time_s, c.bubble_time_s});
    chart.notes.push_back(c.fits ? "" : "(does not fit)");
  }
  s += "<div class=\"charts\">\n" + RenderStackedBars(chart) + "</div>\n";
  s += "<table class=\"candidates\">\n<tr><th>#</th><th class=\"text\">candidate</th>"
       "<th>throughput (samples/s)</th><th>speedup</th><th>efficiency</th><th>iteration</th>"
       "<th>compute</th><th>exposed comm</th><th>idle</th><th>network bytes</th>"
       "<th>peak memory</th><th class=\"text\">fits</th><th class=\"text\">predicted by</th>";
  if (f.gpu_hour_price_usd) s += "<th>samples/$</th>";
  s += "<th class=\"text\">why</th></tr>\n";
  int rank = 0;
  for (const Candidate& c : sel.candidates) {
    ++rank;
    const bool bad = !c.error.empty() || !c.fits;
    s += std::string("<tr") + (bad ? " class=\"nofit\"" : "") + ">" + Td(std::to_string(rank)) +
         Td(H(c.label), "text");
    if (!c.error.empty()) {
      for (int i = 0; i < 9; ++i) s += Td("-");
      s += Td("no", "text fits") + Td("-", "text");
      if (f.gpu_hour_price_usd) s += Td("-");
    } else {
      s += Td(Num(c.throughput_samples_per_s)) + Td(Num(c.speedup, 3) + "x") +
           Td(Percent(c.scaling_efficiency)) + Td(H(FormatTime(c.iteration_time_s))) +
           Td(H(FormatTime(c.compute_time_s))) + Td(H(FormatTime(c.exposed_comm_time_s))) +
           Td(H(FormatTime(c.bubble_time_s))) + Td(H(FormatBytes(c.comm_bytes_total))) +
           Td(H(FormatMemory(c.memory_peak_bytes))) + Td(c.fits ? "yes" : "no", "text fits") +
           Td(H(c.predicted_by), "text");
      if (f.gpu_hour_price_usd)
        s += Td(Num(SamplesPerDollar(c.throughput_samples_per_s, f.gpus, *f.gpu_hour_price_usd)));
    }
    s += Td(H(c.reason), "text") + "</tr>\n";
  }
  return s + "</table>\n</section>\n";
}

std::string Sweep(const SweepReport& sw, int index) {
  std::vector<SweepPoint> pts = sw.points;
  SortPoints(pts);
  std::string s = "<section class=\"sweep\" id=\"sweep-" + std::to_string(index) + "\">\n";
  s += "<h2>What-if: " + H(sw.facts.model) + " on " + H(sw.facts.cluster) + "</h2>\n";
  s += "<p>Assumed: " + H(Assumptions(sw.facts)) + ". Predicted by " + H(PredictedBy(sw.points)) +
       ".</p>\n";
  // The reference variant: "baseline" when present, else the first one.
  std::set<std::string> variants;
  std::vector<std::string> strategies;
  for (const auto& p : pts) {
    variants.insert(p.variant);
    if (std::find(strategies.begin(), strategies.end(), p.strategy) == strategies.end())
      strategies.push_back(p.strategy);
  }
  const std::string base =
      variants.count("baseline") || variants.empty() ? "baseline" : *variants.begin();
  std::set<int> gpus;
  for (const auto& p : pts) gpus.insert(p.gpus);

  s += "<p>How many GPUs before adding more stops paying: a step from N to M GPUs pays while each "
       "added GPU brings at least " +
       Percent(sw.threshold) + " of what one GPU trains alone.</p>\n<ul class=\"knees\">\n";
  for (const Knee& k : FindKnees(sw)) s += "<li>" + H(DescribeKnee(k)) + "</li>\n";
  s += "</ul>\n";

  LineChart speed, eff, dollars;
  speed.title = "Speedup against GPUs (" + base + ")";
  speed.x_label = "GPUs";
  speed.y_label = "speedup over 1 GPU (x)";
  speed.log2_x = true;
  eff.title = "Scaling efficiency against GPUs (" + base + ")";
  eff.x_label = "GPUs";
  eff.y_label = "scaling efficiency (%)";
  eff.log2_x = true;
  eff.y_percent = true;
  dollars.title = "Throughput per dollar (" + base + ")";
  dollars.x_label = "GPUs";
  dollars.y_label = "samples per US dollar";
  dollars.log2_x = true;
  bool any_dollars = false;
  for (const std::string& st : strategies) {
    Series a{st, {}, false}, b{st, {}, false}, d{st, {}, false};
    for (const auto& p : pts) {
      if (p.strategy != st || p.variant != base || !p.fits) continue;
      a.points.push_back({double(p.gpus), p.speedup});
      b.points.push_back({double(p.gpus), p.scaling_efficiency});
      if (p.samples_per_dollar) d.points.push_back({double(p.gpus), *p.samples_per_dollar});
    }
    any_dollars = any_dollars || !d.points.empty();
    speed.series.push_back(a);
    eff.series.push_back(b);
    dollars.series.push_back(d);
  }
  Series ideal{"ideal", {}, true}, ideal_eff{"ideal", {}, true};
  for (int g : gpus) {
    ideal.points.push_back({double(g), double(g)});
    ideal_eff.points.push_back({double(g), 1.0});
  }
  speed.series.push_back(ideal);
  eff.series.push_back(ideal_eff);
  s += "<div class=\"charts\">\n" + RenderLineChart(speed) + RenderLineChart(eff);
  if (variants.size() > 1) {
    // What each change buys: the best throughput over all strategies at each size.
    LineChart what;
    what.title = "Best throughput with each what-if change";
    what.x_label = "GPUs";
    what.y_label = "throughput (samples/s)";
    what.log2_x = true;
    std::vector<std::string> order = {base};
    for (const auto& v : variants)
      if (v != base) order.push_back(v);
    for (const auto& v : order) {
      std::map<int, double> best;
      for (const auto& p : pts)
        if (p.variant == v && p.fits)
          best[p.gpus] = std::max(best[p.gpus], p.throughput_samples_per_s);
      Series ser{v, {}, false};
      for (const auto& [g, x] : best) ser.points.push_back({double(g), x});
      what.series.push_back(ser);
    }
    s += RenderLineChart(what);
  }
  if (any_dollars) s += RenderLineChart(dollars);
  s += "</div>\n";
  bool has_dollars = false;
  for (const auto& p : pts) has_dollars = has_dollars || p.samples_per_dollar.has_value();
  s += "<table class=\"points\">\n<tr><th class=\"text\">strategy</th><th "
       "class=\"text\">variant</th>"
       "<th>GPUs</th><th>throughput (samples/s)</th><th>speedup</th><th>ideal</th>"
       "<th>efficiency</th><th class=\"text\">fits</th><th class=\"text\">predicted by</th>"
       "<th class=\"text\">best options</th>";
  if (has_dollars) s += "<th>samples/$</th>";
  s += "</tr>\n";
  for (const auto& p : pts) {
    s += std::string("<tr") + (p.fits ? "" : " class=\"nofit\"") + ">" + Td(H(p.strategy), "text") +
         Td(H(p.variant), "text") + Td(std::to_string(p.gpus)) +
         Td(Num(p.throughput_samples_per_s)) + Td(Num(p.speedup, 3) + "x") +
         Td(std::to_string(p.gpus) + "x") + Td(Percent(p.scaling_efficiency)) +
         Td(p.fits ? "yes" : "no", "text fits") + Td(H(p.predicted_by), "text") +
         Td(H(p.label), "text");
    if (has_dollars) s += Td(p.samples_per_dollar ? Num(*p.samples_per_dollar) : "-");
    s += "</tr>\n";
  }
  return s + "</table>\n</section>\n";
}

std::string ErrorCell(const ComparisonRow& r) {
  auto e = r.error_pct();
  if (!e) return Td("-");
  const char* cls = std::abs(*e) > 10 ? "err-high" : "err-low";
  return std::string("<td class=\"") + cls + "\">" + (*e >= 0 ? "+" : "") + Num(*e, 3) + "%</td>";
}

std::string Comparison(const ComparisonReport& c, int index) {
  std::string s =
      "<section class=\"comparison\" id=\"comparison-" + std::to_string(index) + "\">\n";
  s += "<h2>Predicted against measured: " + H(c.title) + "</h2>\n";
  s += "<p>Predicted (" + H(c.predicted_source) + "): " + Link(c.predicted_file) + "; measured (" +
       H(c.measured_source) + "): " + Link(c.measured_file) + ".</p>\n";
  s += "<p>Timelines side by side (Chrome trace JSON; open in Perfetto or chrome://tracing): "
       "predicted " +
       Link(c.predicted_trace) + ", measured " + Link(c.measured_trace) + ".</p>\n";
  GroupedBarChart phases;
  phases.title = "Iteration phases, predicted and measured";
  phases.x_label = "time per iteration (ms)";
  phases.x_scale = 1e3;
  phases.series_names = {"predicted", "measured"};
  phases.values.resize(2);
  for (const auto& r : c.phases) {
    if (r.unit != "s") continue;
    phases.categories.push_back(r.item);
    phases.values[0].push_back(r.predicted);
    phases.values[1].push_back(r.measured);
  }
  s += "<div class=\"charts\">\n";
  if (!phases.categories.empty()) s += RenderGroupedBars(phases);
  if (c.points.size() >= 2) {
    LineChart scale;
    scale.title = "Scaling, predicted and measured";
    scale.x_label = "GPUs";
    scale.y_label = "throughput (samples/s)";
    scale.log2_x = true;
    Series p{"predicted", {}, false}, m{"measured", {}, false};
    for (const auto& r : c.points) {
      p.points.push_back({double(r.gpus), r.predicted});
      m.points.push_back({double(r.gpus), r.measured});
    }
    scale.series = {p, m};
    s += RenderLineChart(scale);
  }
  s +=
      "</div>\n<table class=\"comparison\">\n<tr><th class=\"text\">quantity</th><th>predicted</th>"
      "<th>measured</th><th>error</th></tr>\n";
  auto row = [&](const ComparisonRow& r) {
    auto fmt = [&](double v) { return r.unit == "s" ? FormatTime(v) : Num(v) + " " + r.unit; };
    const std::string item =
        r.gpus > 0 ? r.item + " (" + std::to_string(r.gpus) + " GPUs)" : r.item;
    s += "<tr>" + Td(H(item), "text") + Td(H(fmt(r.predicted))) + Td(H(fmt(r.measured))) +
         ErrorCell(r) + "</tr>\n";
  };
  for (const auto& r : c.phases) row(r);
  for (const auto& r : c.points) row(r);
  return s + "</table>\n</section>\n";
}

class HtmlWriter : public Writer {
 public:
  const char* format() const override { return "html"; }
  std::vector<OutputFile> Write(const Report& r) const override {
    std::string s =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
        H(r.title) + "</title>\n<style>\n" + kStyle + "</style>\n</head>\n<body>\n";
    s += "<h1>" + H(r.title) + "</h1>\n";
    const Json& c = r.context;
    s += "<p class=\"context\">" +
         H("convscale " + c.value("version", std::string("?")) + " (" +
           c.value("git_sha", std::string("?")) + "), report schema " +
           std::to_string(c.value("schema_version", 0)) + ", " +
           c.value("timestamp", std::string(""))) +
         "</p>\n";
    int i = 0;
    for (const auto& sel : r.selections) s += Selection(sel, ++i);
    i = 0;
    for (const auto& sw : r.sweeps) s += Sweep(sw, ++i);
    i = 0;
    for (const auto& cmp : r.comparisons) s += Comparison(cmp, ++i);
    s += "<details><summary>Context block</summary><pre>" + H(c.dump(2)) +
         "</pre></details>\n</body>\n</html>\n";
    return {{"index.html", s}};
  }
};

}  // namespace

std::unique_ptr<Writer> MakeHtmlWriter() {
  return std::make_unique<HtmlWriter>();
}

}  // namespace convscale::reports
