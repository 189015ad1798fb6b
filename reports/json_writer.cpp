// report.json: the context block, then one array per record kind. Keys carry their units
// (_s, _bytes, _samples_per_s); ratios are fractions.
#include "reports/analysis.h"
#include "reports/figures.h"
#include "reports/writer.h"

#include "model/util/error.h"

namespace convscale::reports {
namespace {

Json FactsJson(const Facts& f) {
  Json j = Json::object();
  j["model"] = f.model;
  j["cluster"] = f.cluster;
  j["device"] = f.device;
  if (f.gpus > 0) j["gpus"] = f.gpus;
  j["devices_per_node"] = f.devices_per_node;
  j["global_batch"] = f.global_batch;
  j["per_device_batch"] = f.per_device_batch;
  j["compute_precision"] = f.compute_precision;
  j["grad_precision"] = f.grad_precision;
  if (!f.losses.empty()) j["losses"] = f.losses;
  j["parameters"] = f.parameters;
  j["fc_parameter_fraction"] = f.fc_parameter_fraction;
  j["network"] = f.network;
  j["inter_node_bandwidth_Bps"] = f.inter_node_bandwidth_Bps;
  j["single_device_throughput_samples_per_s"] = f.single_device_throughput;
  if (f.gpu_hour_price_usd) j["gpu_hour_price_usd"] = *f.gpu_hour_price_usd;
  return j;
}

Json CandidateJson(const Candidate& c, int rank, const Facts& f) {
  Json j = Json::object();
  j["rank"] = rank;
  j["strategy"] = c.strategy;
  j["label"] = c.label;
  j["options"] = c.options;
  j["predicted_by"] = c.predicted_by;
  j["fits"] = c.fits;
  j["iteration_time_s"] = c.iteration_time_s;
  j["compute_time_s"] = c.compute_time_s;
  j["exposed_comm_time_s"] = c.exposed_comm_time_s;
  j["bubble_time_s"] = c.bubble_time_s;
  j["comm_time_s"] = c.comm_time_s;
  j["throughput_samples_per_s"] = c.throughput_samples_per_s;
  j["speedup"] = c.speedup;
  j["scaling_efficiency"] = c.scaling_efficiency;
  j["comm_bytes_total"] = c.comm_bytes_total;
  j["memory_peak_bytes"] = c.memory_peak_bytes;
  j["memory_capacity_bytes"] = c.memory_capacity_bytes;
  if (c.estimate_iteration_time_s) j["estimate_iteration_time_s"] = *c.estimate_iteration_time_s;
  if (c.lower_bound_s) j["lower_bound_s"] = *c.lower_bound_s;
  if (f.gpu_hour_price_usd && c.error.empty())
    j["samples_per_dollar"] =
        SamplesPerDollar(c.throughput_samples_per_s, f.gpus, *f.gpu_hour_price_usd);
  j["reason"] = c.reason;
  if (!c.error.empty()) j["error"] = c.error;
  return j;
}

Json RowJson(const ComparisonRow& r) {
  Json j = Json::object();
  j["item"] = r.item;
  if (r.gpus > 0) j["gpus"] = r.gpus;
  j["unit"] = r.unit;
  j["predicted"] = r.predicted;
  j["measured"] = r.measured;
  if (auto e = r.error_pct())
    j["error_pct"] = *e;
  else
    j["error_pct"] = nullptr;
  return j;
}

class JsonWriter : public Writer {
 public:
  const char* format() const override { return "json"; }
  std::vector<OutputFile> Write(const Report& report) const override {
    return {{"report.json", ToJson(report).dump(2) + "\n"}};
  }
};

}  // namespace

Json ToJson(const Report& report) {
  Json j = Json::object();
  j["context"] = report.context;
  j["title"] = report.title;
  Json sels = Json::array();
  for (const SelectionReport& s : report.selections) {
    Json o = FactsJson(s.facts);
    o["best"] = s.candidates.empty() || !s.candidates[0].error.empty() || !s.candidates[0].fits
                    ? Json(nullptr)
                    : Json(s.candidates[0].label);
    Json cs = Json::array();
    for (size_t i = 0; i < s.candidates.size(); ++i)
      cs.push_back(CandidateJson(s.candidates[i], static_cast<int>(i + 1), s.facts));
    o["candidates"] = std::move(cs);
    sels.push_back(std::move(o));
  }
  j["selections"] = std::move(sels);
  Json sweeps = Json::array();
  for (const SweepReport& s : report.sweeps) {
    Json o = FactsJson(s.facts);
    o["knee_threshold"] = s.threshold;
    std::vector<SweepPoint> pts = s.points;
    SortPoints(pts);
    Json ps = Json::array();
    for (const SweepPoint& p : pts) ps.push_back(ToJson(p));
    o["points"] = std::move(ps);
    Json ks = Json::array();
    for (const Knee& k : FindKnees(s)) {
      Json q = Json::object();
      q["strategy"] = k.strategy;
      q["variant"] = k.variant;
      q["gpus"] = k.gpus;
      q["stops_paying"] = k.stops_paying;
      if (k.stops_paying) {
        q["next_gpus"] = k.next_gpus;
        q["next_marginal_efficiency"] = k.next_marginal_efficiency;
      }
      q["sentence"] = DescribeKnee(k);
      ks.push_back(std::move(q));
    }
    o["knees"] = std::move(ks);
    sweeps.push_back(std::move(o));
  }
  j["sweeps"] = std::move(sweeps);
  Json comps = Json::array();
  for (const ComparisonReport& c : report.comparisons) {
    Json o = Json::object();
    o["title"] = c.title;
    o["predicted_file"] = c.predicted_file;
    o["measured_file"] = c.measured_file;
    o["predicted_source"] = c.predicted_source;
    o["measured_source"] = c.measured_source;
    o["predicted_trace"] = c.predicted_trace;
    o["measured_trace"] = c.measured_trace;
    o["predicted_context"] = c.predicted_context;
    o["measured_context"] = c.measured_context;
    Json ph = Json::array(), pt = Json::array();
    for (const auto& r : c.phases) ph.push_back(RowJson(r));
    for (const auto& r : c.points) pt.push_back(RowJson(r));
    o["phases"] = std::move(ph);
    o["points"] = std::move(pt);
    comps.push_back(std::move(o));
  }
  j["comparisons"] = std::move(comps);
  return j;
}

Json ToJson(const SweepPoint& p) {
  Json q = Json::object();
  q["strategy"] = p.strategy;
  q["variant"] = p.variant;
  q["gpus"] = p.gpus;
  q["label"] = p.label;
  q["predicted_by"] = p.predicted_by;
  q["fits"] = p.fits;
  q["status"] = p.status;
  if (!p.reason.empty()) q["reason"] = p.reason;
  q["iteration_time_s"] = p.iteration_time_s;
  q["throughput_samples_per_s"] = p.throughput_samples_per_s;
  q["speedup"] = p.speedup;
  q["ideal_speedup"] = p.gpus;
  q["scaling_efficiency"] = p.scaling_efficiency;
  q["comm_time_s"] = p.comm_time_s;
  q["exposed_comm_time_s"] = p.exposed_comm_time_s;
  q["memory_peak_bytes"] = p.memory_peak_bytes;
  if (p.samples_per_dollar) q["samples_per_dollar"] = *p.samples_per_dollar;
  return q;
}

namespace {

// Readers for what the writer above wrote, with located errors (file and JSON pointer).
const Json& Member(const Json& o, const std::string& file, const std::string& ptr,
                   const char* key) {
  if (!o.is_object())
    throw InputError(file, ptr, std::string("expected an object, found ") + JsonTypeName(o));
  if (!o.contains(key)) throw InputError(file, ptr, std::string("missing \"") + key + "\"");
  return o[key];
}
std::string Str(const Json& o, const std::string& file, const std::string& ptr, const char* key) {
  const Json& v = Member(o, file, ptr, key);
  if (!v.is_string())
    throw InputError(file, PointerJoin(ptr, key),
                     std::string("expected a string, found ") + JsonTypeName(v));
  return v.get<std::string>();
}
double Number(const Json& o, const std::string& file, const std::string& ptr, const char* key) {
  const Json& v = Member(o, file, ptr, key);
  if (!v.is_number())
    throw InputError(file, PointerJoin(ptr, key),
                     std::string("expected a number, found ") + JsonTypeName(v));
  return v.get<double>();
}
// A figure that is a size (a time, a rate, bytes, parameters): never negative.
double Size(const Json& o, const std::string& file, const std::string& ptr, const char* key) {
  Number(o, file, ptr, key);
  return NonNegativeFigure(o, file, ptr, key);
}
// A count (devices, samples): a whole number within [min, max].
int64_t Count(const Json& o, const std::string& file, const std::string& ptr, const char* key,
              int64_t min, int64_t max) {
  Member(o, file, ptr, key);
  return CountFigure(o, file, ptr, key, min, max);
}
bool Bool(const Json& o, const std::string& file, const std::string& ptr, const char* key) {
  const Json& v = Member(o, file, ptr, key);
  if (!v.is_boolean())
    throw InputError(file, PointerJoin(ptr, key),
                     std::string("expected true or false, found ") + JsonTypeName(v));
  return v.get<bool>();
}

}  // namespace

SweepPoint SweepPointFromJson(const Json& j, const std::string& file, const std::string& pointer) {
  SweepPoint p;
  p.strategy = Str(j, file, pointer, "strategy");
  p.variant = Str(j, file, pointer, "variant");
  p.gpus = static_cast<int>(Count(j, file, pointer, "gpus", 1, kMaxFigureDevices));
  p.label = Str(j, file, pointer, "label");
  p.predicted_by = Str(j, file, pointer, "predicted_by");
  p.fits = Bool(j, file, pointer, "fits");
  p.status = Str(j, file, pointer, "status");
  if (j.contains("reason")) p.reason = Str(j, file, pointer, "reason");
  p.iteration_time_s = Size(j, file, pointer, "iteration_time_s");
  p.throughput_samples_per_s = Size(j, file, pointer, "throughput_samples_per_s");
  p.speedup = Size(j, file, pointer, "speedup");
  p.scaling_efficiency = Size(j, file, pointer, "scaling_efficiency");
  p.comm_time_s = Size(j, file, pointer, "comm_time_s");
  p.exposed_comm_time_s = Size(j, file, pointer, "exposed_comm_time_s");
  p.memory_peak_bytes = Size(j, file, pointer, "memory_peak_bytes");
  if (j.contains("samples_per_dollar"))
    p.samples_per_dollar = Size(j, file, pointer, "samples_per_dollar");
  return p;
}

SweepReport SweepFromJson(const Json& j, const std::string& file, const std::string& pointer) {
  SweepReport r;
  Facts& f = r.facts;
  f.model = Str(j, file, pointer, "model");
  f.cluster = Str(j, file, pointer, "cluster");
  f.device = Str(j, file, pointer, "device");
  if (j.contains("gpus"))
    f.gpus = static_cast<int>(Count(j, file, pointer, "gpus", 0, kMaxFigureDevices));
  // 0: not one value for the whole sweep (its points differ, e.g. in global batch).
  f.devices_per_node = static_cast<int>(Count(j, file, pointer, "devices_per_node", 0, 4096));
  f.global_batch = Count(j, file, pointer, "global_batch", 0, int64_t{1} << 40);
  f.per_device_batch = Count(j, file, pointer, "per_device_batch", 0, int64_t{1} << 40);
  // Absent from reports written before the precision was stated.
  if (j.contains("compute_precision"))
    f.compute_precision = Str(j, file, pointer, "compute_precision");
  if (j.contains("grad_precision")) f.grad_precision = Str(j, file, pointer, "grad_precision");
  if (j.contains("losses")) f.losses = Str(j, file, pointer, "losses");
  f.parameters = Size(j, file, pointer, "parameters");
  f.fc_parameter_fraction = Size(j, file, pointer, "fc_parameter_fraction");
  f.network = Str(j, file, pointer, "network");
  f.inter_node_bandwidth_Bps = Size(j, file, pointer, "inter_node_bandwidth_Bps");
  f.single_device_throughput = Size(j, file, pointer, "single_device_throughput_samples_per_s");
  if (j.contains("gpu_hour_price_usd"))
    f.gpu_hour_price_usd = Size(j, file, pointer, "gpu_hour_price_usd");
  r.threshold = Number(j, file, pointer, "knee_threshold");
  const Json& pts = Member(j, file, pointer, "points");
  const std::string at = PointerJoin(pointer, "points");
  if (!pts.is_array())
    throw InputError(file, at, std::string("expected an array, found ") + JsonTypeName(pts));
  for (size_t i = 0; i < pts.size(); ++i)
    r.points.push_back(SweepPointFromJson(pts[i], file, PointerJoin(at, i)));
  return r;
}

std::optional<double> ComparisonRow::error_pct() const {
  if (measured == 0) return std::nullopt;
  return (predicted - measured) / measured * 100.0;
}

std::unique_ptr<Writer> MakeJsonWriter() {
  return std::make_unique<JsonWriter>();
}

}  // namespace convscale::reports
