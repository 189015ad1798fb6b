// CSV: one file per record kind present (selection.csv, sweep.csv, comparison.csv). Each opens
// with the context block as "# key: value" lines (read with pandas.read_csv(comment="#")), then a
// header row, then one row per candidate / point / compared quantity. Numbers are written with
// full precision (shortest round-trip form), units in the column names.
#include "reports/analysis.h"
#include "reports/escape.h"
#include "reports/writer.h"

namespace convscale::reports {
namespace {

std::string N(double v) {
  return Json(v).dump();
}

std::string ContextLines(const Report& report) {
  std::string s;
  for (const auto& [key, value] : report.context.items()) {
    std::string v = value.is_string() ? value.get<std::string>() : value.dump();
    for (char& c : v)
      if (c == '\n' || c == '\r') c = ' ';
    s += "# " + key + ": " + v + "\n";
  }
  return s;
}

std::string Row(const std::vector<std::string>& fields) {
  std::string s;
  for (size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + fields[i];
  return s + "\n";
}

class CsvWriter : public Writer {
 public:
  const char* format() const override { return "csv"; }
  std::vector<OutputFile> Write(const Report& report) const override {
    std::vector<OutputFile> out;
    const std::string ctx = ContextLines(report);
    if (!report.selections.empty()) {
      std::string s = ctx + Row({"model",
                                 "cluster",
                                 "gpus",
                                 "rank",
                                 "strategy",
                                 "label",
                                 "options",
                                 "predicted_by",
                                 "fits",
                                 "iteration_time_s",
                                 "compute_time_s",
                                 "exposed_comm_time_s",
                                 "bubble_time_s",
                                 "comm_time_s",
                                 "throughput_samples_per_s",
                                 "speedup",
                                 "scaling_efficiency",
                                 "comm_bytes_total",
                                 "memory_peak_bytes",
                                 "memory_capacity_bytes",
                                 "samples_per_dollar",
                                 "reason",
                                 "error"});
      for (const SelectionReport& sel : report.selections) {
        int rank = 0;
        for (const Candidate& c : sel.candidates) {
          ++rank;
          const std::string dollars =
              sel.facts.gpu_hour_price_usd && c.error.empty()
                  ? N(SamplesPerDollar(c.throughput_samples_per_s, sel.facts.gpus,
                                       *sel.facts.gpu_hour_price_usd))
                  : "";
          s += Row({CsvField(sel.facts.model),
                    CsvField(sel.facts.cluster),
                    std::to_string(sel.facts.gpus),
                    std::to_string(rank),
                    CsvField(c.strategy),
                    CsvField(c.label),
                    CsvField(c.options.dump()),
                    CsvField(c.predicted_by),
                    c.fits ? "true" : "false",
                    N(c.iteration_time_s),
                    N(c.compute_time_s),
                    N(c.exposed_comm_time_s),
                    N(c.bubble_time_s),
                    N(c.comm_time_s),
                    N(c.throughput_samples_per_s),
                    N(c.speedup),
                    N(c.scaling_efficiency),
                    N(c.comm_bytes_total),
                    N(c.memory_peak_bytes),
                    N(c.memory_capacity_bytes),
                    dollars,
                    CsvField(c.reason),
                    CsvField(c.error)});
        }
      }
      out.push_back({"selection.csv", s});
    }
    if (!report.sweeps.empty()) {
      std::string s =
          ctx + Row({"model", "cluster", "strategy", "variant", "gpus", "label", "predicted_by",
                     "fits", "iteration_time_s", "throughput_samples_per_s", "speedup",
                     "ideal_speedup", "scaling_efficiency", "samples_per_dollar", "comm_time_s",
                     "exposed_comm_time_s", "memory_peak_bytes", "status", "reason"});
      for (const SweepReport& sw : report.sweeps) {
        std::vector<SweepPoint> pts = sw.points;
        SortPoints(pts);
        for (const SweepPoint& p : pts)
          s += Row({CsvField(sw.facts.model), CsvField(sw.facts.cluster), CsvField(p.strategy),
                    CsvField(p.variant), std::to_string(p.gpus), CsvField(p.label),
                    CsvField(p.predicted_by), p.fits ? "true" : "false", N(p.iteration_time_s),
                    N(p.throughput_samples_per_s), N(p.speedup), std::to_string(p.gpus),
                    N(p.scaling_efficiency), p.samples_per_dollar ? N(*p.samples_per_dollar) : "",
                    N(p.comm_time_s), N(p.exposed_comm_time_s), N(p.memory_peak_bytes),
                    CsvField(p.status), CsvField(p.reason)});
      }
      out.push_back({"sweep.csv", s});
    }
    if (!report.comparisons.empty()) {
      std::string s = ctx + Row({"comparison", "kind", "item", "gpus", "unit", "predicted",
                                 "measured", "error_pct"});
      for (const ComparisonReport& c : report.comparisons) {
        auto add = [&](const ComparisonRow& r, const char* kind) {
          auto e = r.error_pct();
          s += Row({CsvField(c.title), kind, CsvField(r.item),
                    r.gpus > 0 ? std::to_string(r.gpus) : "", CsvField(r.unit), N(r.predicted),
                    N(r.measured), e ? N(*e) : ""});
        };
        for (const auto& r : c.phases) add(r, "phase");
        for (const auto& r : c.points) add(r, "point");
      }
      out.push_back({"comparison.csv", s});
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Writer> MakeCsvWriter() {
  return std::make_unique<CsvWriter>();
}

}  // namespace convscale::reports
