#include "reports/compare.h"

#include <filesystem>
#include <map>
#include <tuple>

#include "model/util/error.h"
#include "reports/figures.h"

namespace convscale::reports {
namespace {

// The summary object inside a document: the document itself, or its "summary" member.
const Json& SummaryOf(const Json& doc, std::string& pointer) {
  if (doc.is_object() && doc.contains("summary") && doc["summary"].is_object()) {
    pointer = "/summary";
    return doc["summary"];
  }
  pointer = "";
  return doc;
}

const Json* PointsOf(const Json& doc, std::string& pointer) {
  if (doc.is_array()) {
    pointer = "";
    return &doc;
  }
  if (doc.is_object() && doc.contains("points") && doc["points"].is_array()) {
    pointer = "/points";
    return &doc["points"];
  }
  return nullptr;
}

double Required(const Json& s, const std::string& file, const std::string& pointer,
                const char* key) {
  if (!s.is_object()) throw InputError(file, pointer, "expected a summary object");
  if (!s.contains(key))
    throw InputError(file, pointer,
                     std::string("missing \"") + key +
                         "\"; expected a summary written by "
                         "convscale estimate --json, simulate or "
                         "execute");
  if (!s[key].is_number())
    throw InputError(file, PointerJoin(pointer, key),
                     std::string("expected a number, found ") + JsonTypeName(s[key]));
  // Every figure compared (times, rates, bytes) is a size: a negative one was edited by hand.
  return NonNegativeFigure(s, file, pointer, key);
}

// A sweep point's device count: a whole number from 1 to the most a cluster may have.
int64_t Gpus(const Json& s, const std::string& file, const std::string& pointer) {
  Required(s, file, pointer, "gpus");
  return CountFigure(s, file, pointer, "gpus", 1, kMaxFigureDevices);
}

double Optional(const Json& s, const std::string& file, const std::string& pointer,
                const char* key) {
  if (!s.is_object() || !s.contains(key) || s[key].is_null()) return 0;
  return Required(s, file, pointer, key);
}

std::string SourceOf(const Json& doc, const Json& summary, const char* fallback) {
  for (const Json* j : {&summary, &doc}) {
    if (!j->is_object()) continue;
    if (j->contains("source") && (*j)["source"].is_string()) return (*j)["source"];
    if (j->contains("context") && (*j)["context"].is_object()) {
      const Json& c = (*j)["context"];
      if (c.contains("source") && c["source"].is_string()) return c["source"];
      if (c.contains("kind") && c["kind"].is_string()) return c["kind"];
    }
  }
  return fallback;
}

Json ContextOf(const Json& doc) {
  if (doc.is_object() && doc.contains("context") && doc["context"].is_object())
    return doc["context"];
  return Json::object();
}

std::string Strategy(const Json& s) {
  if (s.contains("strategy") && s["strategy"].is_string()) return s["strategy"];
  if (s.contains("context") && s["context"].is_object() && s["context"].contains("strategy") &&
      s["context"]["strategy"].is_string())
    return s["context"]["strategy"];
  return "";
}

}  // namespace

ComparisonReport BuildComparison(const Json& predicted, const std::string& predicted_file,
                                 const Json& measured, const std::string& measured_file) {
  ComparisonReport r;
  r.predicted_file = predicted_file;
  r.measured_file = measured_file;
  r.predicted_context = ContextOf(predicted);
  r.measured_context = ContextOf(measured);
  std::string pp, mp;
  const Json* ppts = PointsOf(predicted, pp);
  const Json* mpts = PointsOf(measured, mp);
  if ((ppts == nullptr) != (mpts == nullptr))
    throw InputError(ppts ? measured_file : predicted_file, "",
                     "is a single summary but " + (ppts ? predicted_file : measured_file) +
                         " is a sweep; compare a summary with a summary or a sweep with a sweep");
  if (!ppts) {
    const Json& p = SummaryOf(predicted, pp);
    const Json& m = SummaryOf(measured, mp);
    r.predicted_source = SourceOf(predicted, p, "predicted");
    r.measured_source = SourceOf(measured, m, "measured");
    struct Key {
      const char* key;
      const char* item;
      const char* unit;
      bool required;
      const char* old_key = nullptr;  // the same figure's key in summaries written before
    };
    const Key keys[] = {
        {"iteration_time_s", "iteration", "s", true},
        {"compute_time_s", "compute", "s", true},
        {"exposed_comm_time_s", "exposed communication", "s", false},
        {"comm_time_s", "communication (hidden or not)", "s", false},
        {"bubble_time_s", "idle (pipeline bubble, waiting)", "s", false},
        {"throughput_samples_per_s", "throughput", "samples/s", true},
        {"comm_bytes_total", "bytes over the network, all ranks", "B", false, "comm_bytes"},
    };
    for (const Key& k : keys) {
      ComparisonRow row;
      row.item = k.item;
      row.unit = k.unit;
      if (k.required) {
        row.predicted = Required(p, predicted_file, pp, k.key);
        row.measured = Required(m, measured_file, mp, k.key);
      } else {
        auto has = [](const Json& s, const char* key) {
          return key != nullptr && s.is_object() && s.contains(key) && !s[key].is_null();
        };
        // Each side under the current key, else under the old one.
        const char* pk = has(p, k.key) || !has(p, k.old_key) ? k.key : k.old_key;
        const char* mk = has(m, k.key) || !has(m, k.old_key) ? k.key : k.old_key;
        if (!has(p, pk) && !has(m, mk)) continue;
        row.predicted = Optional(p, predicted_file, pp, pk);
        row.measured = Optional(m, measured_file, mp, mk);
      }
      r.phases.push_back(row);
    }
    r.title = std::filesystem::path(predicted_file).filename().string() + " against " +
              std::filesystem::path(measured_file).filename().string();
    return r;
  }
  // Sweeps: match points by (strategy, gpus).
  std::map<std::tuple<std::string, int64_t>, std::pair<double, std::string>> measured_at;
  for (size_t i = 0; i < mpts->size(); ++i) {
    const Json& m = (*mpts)[i];
    const std::string at = PointerJoin(mp, i);
    const int64_t g = Gpus(m, measured_file, at);
    measured_at[{Strategy(m), g}] = {Required(m, measured_file, at, "throughput_samples_per_s"),
                                     at};
  }
  for (size_t i = 0; i < ppts->size(); ++i) {
    const Json& p = (*ppts)[i];
    const std::string at = PointerJoin(pp, i);
    const int64_t g = Gpus(p, predicted_file, at);
    auto it = measured_at.find({Strategy(p), g});
    if (it == measured_at.end()) continue;
    ComparisonRow row;
    row.item = Strategy(p).empty() ? "throughput" : Strategy(p) + " throughput";
    row.unit = "samples/s";
    row.gpus = static_cast<int>(g);
    row.predicted = Required(p, predicted_file, at, "throughput_samples_per_s");
    row.measured = it->second.first;
    r.points.push_back(row);
  }
  if (r.points.empty())
    throw InputError(measured_file, mp,
                     "no point matches a point of " + predicted_file +
                         " (points are matched by strategy and gpus)");
  r.predicted_source = SourceOf(predicted, predicted, "predicted");
  r.measured_source = SourceOf(measured, measured, "measured");
  r.title = std::filesystem::path(predicted_file).filename().string() + " against " +
            std::filesystem::path(measured_file).filename().string();
  return r;
}

namespace {

std::string FindTrace(const Json& doc, const std::string& file) {
  namespace fs = std::filesystem;
  std::string ptr;
  const Json& s = SummaryOf(doc, ptr);
  for (const Json* j : {&s, &doc})
    if (j->is_object())
      for (const char* k : {"trace", "trace_file", "chrome_trace"})
        if (j->contains(k) && (*j)[k].is_string()) return (*j)[k];
  const fs::path p(file);
  for (const fs::path& cand :
       {p.parent_path() / (p.stem().string() + ".trace.json"), p.parent_path() / "trace.json"})
    if (fs::exists(cand)) return cand.string();
  return "";
}

}  // namespace

ComparisonReport CompareFiles(const std::string& predicted_file, const std::string& measured_file) {
  const Json p = ReadJsonFile(predicted_file);
  const Json m = ReadJsonFile(measured_file);
  ComparisonReport r = BuildComparison(p, predicted_file, m, measured_file);
  r.predicted_trace = FindTrace(p, predicted_file);
  r.measured_trace = FindTrace(m, measured_file);
  return r;
}

}  // namespace convscale::reports
