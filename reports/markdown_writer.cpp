// report.md: for pull requests and wikis. Headings, one sentence on the answer, then GitHub
// tables. Every user-supplied string is escaped (MarkdownEscape), numbers carry their units.
#include "model/util/units.h"
#include "reports/analysis.h"
#include "reports/escape.h"
#include "reports/writer.h"

namespace convscale::reports {
namespace {

using units::FormatBytes;
using units::FormatMemory;
using units::FormatTime;

std::string E(const std::string& s) {
  return MarkdownEscape(s);
}

std::string TableRow(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells) s += " " + c + " |";
  return s + "\n";
}

std::string Header(const std::vector<std::string>& cells, const std::vector<bool>& numeric) {
  std::string s = TableRow(cells) + "|";
  for (size_t i = 0; i < cells.size(); ++i)
    s += i < numeric.size() && numeric[i] ? " ---: |" : " --- |";
  return s + "\n";
}

class MarkdownWriter : public Writer {
 public:
  const char* format() const override { return "markdown"; }
  std::vector<OutputFile> Write(const Report& r) const override {
    std::string s = "# " + E(r.title) + "\n\n";
    const Json& c = r.context;
    s += "_" +
         E("convscale " + c.value("version", std::string("?")) + " (" +
           c.value("git_sha", std::string("?")) + "), report schema " +
           std::to_string(c.value("schema_version", 0)) + ", " +
           c.value("timestamp", std::string(""))) +
         "_\n\n";
    for (const SelectionReport& sel : r.selections) {
      const Facts& f = sel.facts;
      s += "## Strategy selection: " + E(f.model) + " on " + E(f.cluster) + ", " +
           std::to_string(f.gpus) + " GPUs\n\n";
      s += "Assumed: " + E(Assumptions(f)) + ". Predicted by " + E(PredictedBy(sel.candidates)) +
           ". One " + E(f.device) + " trains " + Num(f.single_device_throughput) +
           " samples/s.\n\n";
      if (!sel.candidates.empty() && sel.candidates[0].error.empty() && sel.candidates[0].fits)
        s += "**Use `" + E(sel.candidates[0].label) + "`**: " + E(sel.candidates[0].reason) +
             ".\n\n";
      else
        s += "**No candidate runs and fits on this cluster.**\n\n";
      std::vector<std::string> head = {"#",
                                       "candidate",
                                       "throughput (samples/s)",
                                       "speedup",
                                       "efficiency",
                                       "iteration",
                                       "compute",
                                       "exposed comm",
                                       "idle",
                                       "network bytes",
                                       "peak memory",
                                       "fits",
                                       "predicted by"};
      if (f.gpu_hour_price_usd) head.push_back("samples/$");
      head.push_back("why");
      std::vector<bool> numeric(head.size(), true);
      numeric[1] = numeric[11] = numeric[12] = numeric.back() = false;
      s += Header(head, numeric);
      int rank = 0;
      for (const Candidate& k : sel.candidates) {
        ++rank;
        std::vector<std::string> cells = {std::to_string(rank), E(k.label)};
        if (!k.error.empty()) {
          for (int i = 0; i < 11; ++i) cells.push_back("-");
          if (f.gpu_hour_price_usd) cells.push_back("-");
          cells[11] = "no";
          cells.push_back(E(k.reason));
          s += TableRow(cells);
          continue;
        }
        cells.insert(cells.end(), {Num(k.throughput_samples_per_s), Num(k.speedup, 3) + "x",
                                   Percent(k.scaling_efficiency), FormatTime(k.iteration_time_s),
                                   FormatTime(k.compute_time_s), FormatTime(k.exposed_comm_time_s),
                                   FormatTime(k.bubble_time_s), FormatBytes(k.comm_bytes_total),
                                   FormatMemory(k.memory_peak_bytes), k.fits ? "yes" : "**no**",
                                   E(k.predicted_by)});
        if (f.gpu_hour_price_usd)
          cells.push_back(
              Num(SamplesPerDollar(k.throughput_samples_per_s, f.gpus, *f.gpu_hour_price_usd)));
        cells.push_back(E(k.reason));
        s += TableRow(cells);
      }
      s += "\n";
    }
    for (const SweepReport& sw : r.sweeps) {
      s += "## What-if: " + E(sw.facts.model) + " on " + E(sw.facts.cluster) + "\n\n";
      s += "Assumed: " + E(Assumptions(sw.facts)) + ". Predicted by " + E(PredictedBy(sw.points)) +
           ".\n\n";
      s += "How many GPUs before adding more stops paying (a step pays while the added GPUs bring "
           "at least " +
           Percent(sw.threshold) + " of a lone GPU's throughput each):\n\n";
      for (const Knee& k : FindKnees(sw)) s += "- " + E(DescribeKnee(k)) + "\n";
      s += "\n";
      std::vector<SweepPoint> pts = sw.points;
      SortPoints(pts);
      bool dollars = false;
      for (const auto& p : pts) dollars = dollars || p.samples_per_dollar.has_value();
      std::vector<std::string> head = {
          "strategy", "variant",    "GPUs", "throughput (samples/s)", "speedup",
          "ideal",    "efficiency", "fits", "predicted by",           "best options"};
      if (dollars) head.push_back("samples/$");
      std::vector<bool> numeric = {false, false, true,  true,  true, true,
                                   true,  false, false, false, true};
      s += Header(head, numeric);
      for (const SweepPoint& p : pts) {
        std::vector<std::string> cells = {E(p.strategy),
                                          E(p.variant),
                                          std::to_string(p.gpus),
                                          Num(p.throughput_samples_per_s),
                                          Num(p.speedup, 3) + "x",
                                          std::to_string(p.gpus) + "x",
                                          Percent(p.scaling_efficiency),
                                          p.fits ? "yes" : "**no**",
                                          E(p.predicted_by),
                                          E(p.label)};
        if (dollars) cells.push_back(p.samples_per_dollar ? Num(*p.samples_per_dollar) : "-");
        s += TableRow(cells);
      }
      s += "\n";
    }
    for (const ComparisonReport& cmp : r.comparisons) {
      s += "## Predicted against measured: " + E(cmp.title) + "\n\n";
      s += "Predicted (" + E(cmp.predicted_source) + "): `" + E(cmp.predicted_file) +
           "`; measured (" + E(cmp.measured_source) + "): `" + E(cmp.measured_file) + "`.";
      if (!cmp.predicted_trace.empty() || !cmp.measured_trace.empty())
        s += " Timelines (Chrome trace, open in Perfetto): predicted `" +
             E(cmp.predicted_trace.empty() ? "-" : cmp.predicted_trace) + "`, measured `" +
             E(cmp.measured_trace.empty() ? "-" : cmp.measured_trace) + "`.";
      s += "\n\n";
      s += Header({"quantity", "predicted", "measured", "error"}, {false, true, true, true});
      auto row = [&](const ComparisonRow& x) {
        auto e = x.error_pct();
        const std::string item =
            x.gpus > 0 ? x.item + " (" + std::to_string(x.gpus) + " GPUs)" : x.item;
        auto fmt = [&](double v) { return x.unit == "s" ? FormatTime(v) : Num(v) + " " + x.unit; };
        s += TableRow({E(item), E(fmt(x.predicted)), E(fmt(x.measured)),
                       e ? (*e >= 0 ? "+" : "") + Num(*e, 3) + "%" : "-"});
      };
      for (const auto& x : cmp.phases) row(x);
      for (const auto& x : cmp.points) row(x);
      s += "\n";
    }
    return {{"report.md", s}};
  }
};

}  // namespace

std::unique_ptr<Writer> MakeMarkdownWriter() {
  return std::make_unique<MarkdownWriter>();
}

}  // namespace convscale::reports
