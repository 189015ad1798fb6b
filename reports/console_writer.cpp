// The console: aligned plain-text tables for a terminal ("-" is stdout). Lines that are not table
// rows start with "#", as nccl-tests does, so the output can be filtered with grep -v '^#'.
#include <algorithm>

#include "model/util/units.h"
#include "reports/analysis.h"
#include "reports/writer.h"

namespace convscale::reports {
namespace {

using units::FormatBytes;
using units::FormatMemory;
using units::FormatTime;

// Control characters in user strings are replaced, so a name cannot move the cursor.
std::string Clean(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string Table(const std::vector<std::vector<std::string>>& rows, size_t left_columns) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string s;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string pad(width[i] - r[i].size(), ' ');
      const bool last = i + 1 == r.size();
      line += i < left_columns || last ? r[i] + (last ? "" : pad) : pad + r[i];
      if (!last) line += "  ";
    }
    s += line + "\n";
  }
  return s;
}

class ConsoleWriter : public Writer {
 public:
  const char* format() const override { return "console"; }
  std::vector<OutputFile> Write(const Report& r) const override {
    std::string s;
    for (const SelectionReport& sel : r.selections) {
      const Facts& f = sel.facts;
      s += "# strategy selection: " + Clean(f.model) + " on " + Clean(f.cluster) + ", " +
           std::to_string(f.gpus) + " GPUs; " + Clean(Assumptions(f)) + "; predicted by " +
           Clean(PredictedBy(sel.candidates)) + "\n";
      std::vector<std::vector<std::string>> rows = {
          {"rank", "candidate", "by", "samples/s", "speedup", "eff", "iteration", "compute",
           "exposed", "idle", "net bytes", "peak mem", "fits", "why"}};
      int rank = 0;
      for (const Candidate& c : sel.candidates) {
        ++rank;
        if (!c.error.empty()) {
          rows.push_back({std::to_string(rank), Clean(c.label), "-", "-", "-", "-", "-", "-", "-",
                          "-", "-", "-", "no", Clean(c.reason)});
          continue;
        }
        rows.push_back({std::to_string(rank), Clean(c.label), Clean(c.predicted_by),
                        Num(c.throughput_samples_per_s), Num(c.speedup, 3) + "x",
                        Percent(c.scaling_efficiency), FormatTime(c.iteration_time_s),
                        FormatTime(c.compute_time_s), FormatTime(c.exposed_comm_time_s),
                        FormatTime(c.bubble_time_s), FormatBytes(c.comm_bytes_total),
                        FormatMemory(c.memory_peak_bytes), c.fits ? "yes" : "NO", Clean(c.reason)});
      }
      s += Table(rows, 2) + "\n";
    }
    for (const SweepReport& sw : r.sweeps) {
      s += "# what-if: " + Clean(sw.facts.model) + " on " + Clean(sw.facts.cluster) + "; " +
           Clean(Assumptions(sw.facts)) + "; predicted by " + Clean(PredictedBy(sw.points)) + "\n";
      std::vector<SweepPoint> pts = sw.points;
      SortPoints(pts);
      std::vector<std::vector<std::string>> rows = {{"strategy", "variant", "gpus", "by",
                                                     "samples/s", "speedup", "eff", "fits",
                                                     "best options"}};
      for (const auto& p : pts)
        rows.push_back({Clean(p.strategy), Clean(p.variant), std::to_string(p.gpus),
                        Clean(p.predicted_by), Num(p.throughput_samples_per_s),
                        Num(p.speedup, 3) + "x", Percent(p.scaling_efficiency),
                        p.fits ? "yes" : "NO", Clean(p.label)});
      s += Table(rows, 2);
      for (const Knee& k : FindKnees(sw)) s += "# " + Clean(DescribeKnee(k)) + "\n";
      s += "\n";
    }
    for (const ComparisonReport& c : r.comparisons) {
      s += "# predicted (" + Clean(c.predicted_file) + ") against measured (" +
           Clean(c.measured_file) + ")\n";
      std::vector<std::vector<std::string>> rows = {{"quantity", "predicted", "measured", "error"}};
      auto add = [&](const ComparisonRow& x) {
        auto e = x.error_pct();
        auto fmt = [&](double v) { return x.unit == "s" ? FormatTime(v) : Num(v) + " " + x.unit; };
        rows.push_back(
            {Clean(x.gpus > 0 ? x.item + " (" + std::to_string(x.gpus) + " GPUs)" : x.item),
             fmt(x.predicted), fmt(x.measured), e ? (*e >= 0 ? "+" : "") + Num(*e, 3) + "%" : "-"});
      };
      for (const auto& x : c.phases) add(x);
      for (const auto& x : c.points) add(x);
      s += Table(rows, 1) + "\n";
    }
    return {{"-", s}};
  }
};

}  // namespace

std::unique_ptr<Writer> MakeConsoleWriter() {
  return std::make_unique<ConsoleWriter>();
}

}  // namespace convscale::reports
