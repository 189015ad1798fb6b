// report.json: the context block, then one array per record kind. Keys carry their units
// (_s, _bytes, _samples_per_s); ratios are fractions.
#include "reports/analysis.h"
#include "reports/writer.h"

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
  j["comm_bytes"] = c.comm_bytes;
  j["memory_peak_bytes"] = c.memory_peak_bytes;
  j["memory_capacity_bytes"] = c.memory_capacity_bytes;
  if (c.estimate_iteration_time_s) j["estimate_iteration_time_s"] = *c.estimate_iteration_time_s;
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
    for (const SweepPoint& p : pts) {
      Json q = Json::object();
      q["strategy"] = p.strategy;
      q["variant"] = p.variant;
      q["gpus"] = p.gpus;
      q["label"] = p.label;
      q["predicted_by"] = p.predicted_by;
      q["fits"] = p.fits;
      q["iteration_time_s"] = p.iteration_time_s;
      q["throughput_samples_per_s"] = p.throughput_samples_per_s;
      q["speedup"] = p.speedup;
      q["ideal_speedup"] = p.gpus;
      q["scaling_efficiency"] = p.scaling_efficiency;
      if (p.samples_per_dollar) q["samples_per_dollar"] = *p.samples_per_dollar;
      ps.push_back(std::move(q));
    }
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

std::optional<double> ComparisonRow::error_pct() const {
  if (measured == 0) return std::nullopt;
  return (predicted - measured) / measured * 100.0;
}

std::unique_ptr<Writer> MakeJsonWriter() {
  return std::make_unique<JsonWriter>();
}

}  // namespace convscale::reports
