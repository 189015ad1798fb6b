// Measured summary and Chrome trace (see measured.h).
#include "execute/measured.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "model/cost/summary.h"
#include "model/cost/timeline.h"

namespace convscale::exec {

using plan::Phase;
using plan::TaskKind;

Spread Summarise(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  for (double x : v) s.mean += x;
  s.mean /= double(n);
  if (n > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / double(n - 1));
  }
  return s;
}

Json ToJson(const RankRecord& r) {
  Json j = {{"rank", r.rank},
            {"host", r.host},
            {"memory_peak_bytes", r.memory_peak_bytes},
            {"memory_bytes", r.memory_bytes},
            {"memory_process_bytes", r.memory_process_bytes}};
  Json its = Json::array();
  for (const IterationResult& it : r.iterations) {
    Json tasks = Json::array();
    for (const TaskTiming& t : it.tasks) tasks.push_back({t.task, t.start_s, t.end_s});
    its.push_back({{"iteration", it.iteration},
                   {"start_s", it.start_s},
                   {"end_s", it.end_s},
                   {"loss", std::isnan(it.loss) ? Json(nullptr) : Json(it.loss)},
                   {"loss_samples", it.loss_samples},
                   {"tasks", tasks}});
  }
  j["iterations"] = its;
  return j;
}

RankRecord RankRecordFromJson(const Json& j) {
  RankRecord r;
  r.rank = j.at("rank").get<int>();
  r.host = j.at("host").get<std::string>();
  r.memory_peak_bytes = j.at("memory_peak_bytes").get<int64_t>();
  r.memory_bytes = j.at("memory_bytes").get<std::map<std::string, int64_t>>();
  r.memory_process_bytes = j.at("memory_process_bytes").get<int64_t>();
  for (const Json& it : j.at("iterations")) {
    IterationResult x;
    x.iteration = it.at("iteration").get<int>();
    x.start_s = it.at("start_s").get<double>();
    x.end_s = it.at("end_s").get<double>();
    x.loss = it.at("loss").is_null() ? std::nan("") : it.at("loss").get<double>();
    x.loss_samples = it.at("loss_samples").get<int64_t>();
    for (const Json& t : it.at("tasks"))
      x.tasks.push_back({t[0].get<int>(), x.iteration, t[1].get<double>(), t[2].get<double>()});
    r.iterations.push_back(std::move(x));
  }
  return r;
}

namespace {

const char* Category(const plan::Task& t) {
  switch (t.kind) {
    case TaskKind::kCollective:
      return "collective";
    case TaskKind::kSend:
      return "send";
    case TaskKind::kRecv:
      return "recv";
    case TaskKind::kCompute:
      break;
  }
  switch (t.phase) {
    case Phase::kForward:
      return "forward";
    case Phase::kBackwardData:
      return "backward_data";
    case Phase::kBackwardWeight:
      return "backward_weight";
    case Phase::kUpdate:
      return "update";
    case Phase::kAggregate:
      return "aggregate";
    case Phase::kCopy:
      return "copy";
  }
  return "other";
}

// Iteration i of every rank as a timeline for the reducer: each task from its start
// (communication: from when every party has posted it) to its end, on the aligned clock.
std::vector<cost::RankTimeline> IterationTimeline(const plan::Plan& plan,
                                                  const std::vector<RankRecord>& ranks, size_t i,
                                                  const std::vector<int>& node_of_rank) {
  std::vector<cost::RankTimeline> out(ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r)
    for (const TaskTiming& t : ranks[r].iterations[i].tasks) {
      const plan::Task& task = plan.ranks[r].tasks[size_t(t.task)];
      out[r].intervals.push_back({t.task, task.kind, task.phase, t.start_s, t.end_s,
                                  cost::SentBytes(plan, task, node_of_rank), t.iteration});
    }
  cost::StartWhenAllPosted(plan, out);
  return out;
}

}  // namespace

Json BuildMeasuredSummary(const plan::Plan& plan, const std::vector<RankRecord>& ranks,
                          const RunInfo& info) {
  const size_t iters = ranks.empty() ? 0 : ranks[0].iterations.size();
  const size_t warm = std::min<size_t>(size_t(std::max(0, info.warmup)), iters);

  auto last_end = [&](size_t i) {
    double e = -1e300;
    for (const RankRecord& r : ranks) e = std::max(e, r.iterations[i].end_s);
    return e;
  };
  auto first_start = [&](size_t i) {
    double s = 1e300;
    for (const RankRecord& r : ranks) s = std::min(s, r.iterations[i].start_s);
    return s;
  };
  std::vector<double> times;
  for (size_t i = warm; i < iters; ++i)
    times.push_back(i == 0 ? last_end(0) - first_start(0) : last_end(i) - last_end(i - 1));
  const Spread it = Summarise(times);

  // Every measured iteration through the one reducer (model/cost/timeline.h), then the median of
  // each figure.
  cost::Summary base;
  base.source = "execute";
  cost::FillFromPlan(base, plan);
  std::vector<cost::Summary> per_iteration;
  for (size_t i = warm; i < iters; ++i) {
    cost::Timeline tl;
    tl.start_s = i == 0 ? first_start(0) : last_end(i - 1);
    tl.iteration_time_s = times[i - warm];
    tl.ranks = IterationTimeline(plan, ranks, i, info.node_of_rank);
    cost::Summary s = base;
    cost::Reduce(plan, tl, s);
    per_iteration.push_back(std::move(s));
  }
  cost::Summary s = per_iteration.empty() ? base : cost::MedianOfIterations(per_iteration);

  // Per rank, per measured iteration: the sum of its task durations in each phase (medians).
  std::vector<std::string> phase_names = {"forward",    "backward_data", "backward_weight",
                                          "update",     "aggregate",     "copy",
                                          "collective", "send",          "recv"};
  std::map<std::string, double> phase_max;
  std::set<int> devices;
  int64_t mem_peak = 0;
  for (size_t r = 0; r < ranks.size() && r < s.ranks.size(); ++r) {
    const plan::Rank& rp = plan.ranks[r];
    std::map<std::string, std::vector<double>> per_phase;
    for (size_t i = warm; i < iters; ++i) {
      std::map<std::string, double> sums;
      for (const TaskTiming& t : ranks[r].iterations[i].tasks)
        sums[Category(rp.tasks[size_t(t.task)])] += t.end_s - t.start_s;
      for (const auto& p : phase_names) per_phase[p].push_back(sums[p]);
    }
    Json phases = Json::object();
    for (const auto& p : phase_names) {
      const double v = Summarise(per_phase[p]).median;
      phases[p + "_s"] = v;
      phase_max[p] = std::max(phase_max[p], v);
    }
    if (rp.role != plan::Role::kServer) devices.insert(rp.endpoint);
    cost::RankSummary& o = s.ranks[r];
    o.endpoint = ranks[r].host;
    // Measured: the allocator's peak and categories; the memory model's beside them.
    o.memory_peak_bytes = double(ranks[r].memory_peak_bytes);
    auto measured = [&](const char* k) {
      auto it = ranks[r].memory_bytes.find(k);
      return it == ranks[r].memory_bytes.end() ? 0.0 : double(it->second);
    };
    o.memory_weights_bytes = measured("weights");
    o.memory_gradients_bytes = measured("gradients");
    o.memory_optimizer_bytes = measured("optimizer");
    o.memory_activations_bytes = measured("activations");
    o.memory_buffers_bytes = measured("buffers");
    o.memory_workspace_bytes = measured("workspace");
    o.extra = {{"stage", rp.stage},
               {"replica", rp.replica},
               {"host", ranks[r].host},
               {"phases", phases},
               {"memory_process_bytes", ranks[r].memory_process_bytes},
               {"memory_predicted_bytes", rp.memory_peak()},
               {"memory_predicted", plan::MemoryJson(rp)}};
    mem_peak = std::max(mem_peak, ranks[r].memory_peak_bytes);
  }
  s.devices = int(devices.size());
  s.memory_peak_bytes = double(mem_peak);
  s.iteration_time_s = it.median;
  s.throughput_samples_per_s = it.median > 0 ? double(plan.global_batch) / it.median : 0;

  s.context_extra = {{"ranks", int(plan.ranks.size())},
                     {"global_batch", plan.global_batch},
                     {"backend", info.backend},
                     {"device", info.device},
                     {"communicator", info.communicator},
                     {"data", info.data},
                     {"clock_uncertainty_s", info.clock_uncertainty_s}};

  Json loss = Json::array();
  for (size_t i = 0; i < iters; ++i) {
    double sum = 0;
    int64_t n = 0;
    for (const RankRecord& r : ranks)
      if (r.iterations[i].loss_samples > 0) {
        sum += r.iterations[i].loss * double(r.iterations[i].loss_samples);
        n += r.iterations[i].loss_samples;
      }
    loss.push_back(n ? Json(sum / double(n)) : Json(nullptr));
  }
  Json phases = Json::object();
  for (const auto& p : phase_names) phases[p + "_s"] = phase_max[p];

  s.extra["measured"] = true;
  s.extra["iterations"] = {{"warmup", int(warm)},   {"measured", int(times.size())},
                           {"median_s", it.median}, {"min_s", it.min},
                           {"max_s", it.max},       {"mean_s", it.mean},
                           {"stddev_s", it.stddev}, {"times_s", times}};
  s.extra["phases"] = phases;
  s.extra["loss"] = loss;
  for (auto& [k, v] : info.extra.items()) s.extra[k] = v;
  if (!info.trace_file.empty()) s.extra["trace"] = info.trace_file;
  return cost::ToJson(s);
}

std::string BuildChromeTrace(const plan::Plan& plan, const std::vector<RankRecord>& ranks,
                             const RunInfo& info) {
  // The measured iterations one after the other, microseconds from the first one's first task.
  cost::Timeline tl;
  tl.ranks.resize(ranks.size());
  tl.start_s = 1e300;
  const size_t first = size_t(std::max(0, info.warmup));
  for (size_t i = first; !ranks.empty() && i < ranks[0].iterations.size(); ++i) {
    std::vector<cost::RankTimeline> one = IterationTimeline(plan, ranks, i, info.node_of_rank);
    for (size_t r = 0; r < ranks.size(); ++r)
      for (const cost::Interval& iv : one[r].intervals) {
        tl.start_s = std::min(tl.start_s, iv.start_s);
        tl.ranks[r].intervals.push_back(iv);
      }
  }
  if (tl.start_s == 1e300) tl.start_s = 0;
  std::vector<std::string> names;
  for (size_t r = 0; r < ranks.size(); ++r)
    names.push_back("rank " + std::to_string(r) + " (" + plan::Name(plan.ranks[r].role) + ", " +
                    ranks[r].host + ")");
  return cost::ChromeTrace(plan, tl, names, Json{{"measured", true}});
}

}  // namespace convscale::exec
