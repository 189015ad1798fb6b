// Measured summary and Chrome trace (see measured.h).
#include "execute/measured.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "model/util/context.h"

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
            {"memory_tracked_bytes", r.memory_tracked_bytes}};
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
  r.memory_tracked_bytes = j.at("memory_tracked_bytes").get<int64_t>();
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

bool IsCompute(const plan::Task& t) {
  return t.kind == TaskKind::kCompute;
}

// Length of the union of intervals.
double UnionLength(std::vector<std::pair<double, double>> v) {
  std::sort(v.begin(), v.end());
  double total = 0, s = -1e300, e = -1e300;
  for (auto [a, b] : v) {
    if (a > e) {
      if (e > s) total += e - s;
      s = a;
      e = b;
    } else {
      e = std::max(e, b);
    }
  }
  if (e > s) total += e - s;
  return total;
}

}  // namespace

Json BuildMeasuredSummary(const plan::Plan& plan, const std::vector<RankRecord>& ranks,
                          const RunInfo& info) {
  const size_t iters = ranks.empty() ? 0 : ranks[0].iterations.size();
  const size_t warm = std::min<size_t>(size_t(std::max(0, info.warmup)), iters);
  bool pipelined = false;
  for (const plan::Rank& r : plan.ranks)
    if (r.role == plan::Role::kStage) pipelined = true;

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

  // Per rank, per measured iteration: phase sums, compute, communication, busy (union).
  std::vector<std::string> phase_names = {"forward",    "backward_data", "backward_weight",
                                          "update",     "aggregate",     "copy",
                                          "collective", "send",          "recv"};
  Json rank_rows = Json::array();
  std::vector<double> compute_of(ranks.size()), comm_of(ranks.size()), idle_of(ranks.size());
  std::map<std::string, double> phase_max;
  for (size_t r = 0; r < ranks.size(); ++r) {
    const plan::Rank& rp = plan.ranks[r];
    std::map<std::string, std::vector<double>> per_phase;
    std::vector<double> compute, comm, idle;
    for (size_t i = warm; i < iters; ++i) {
      std::map<std::string, double> sums;
      double c = 0, m = 0;
      std::vector<std::pair<double, double>> busy;
      for (const TaskTiming& t : ranks[r].iterations[i].tasks) {
        const plan::Task& task = rp.tasks[size_t(t.task)];
        const double d = t.end_s - t.start_s;
        sums[Category(task)] += d;
        (IsCompute(task) ? c : m) += d;
        busy.push_back({t.start_s, t.end_s});
      }
      for (const auto& p : phase_names) per_phase[p].push_back(sums[p]);
      compute.push_back(c);
      comm.push_back(m);
      idle.push_back(std::max(0.0, times[i - warm] - UnionLength(busy)));
    }
    Json phases = Json::object();
    for (const auto& p : phase_names) {
      const double v = Summarise(per_phase[p]).median;
      phases[p + "_s"] = v;
      phase_max[p] = std::max(phase_max[p], v);
    }
    compute_of[r] = Summarise(compute).median;
    comm_of[r] = Summarise(comm).median;
    idle_of[r] = Summarise(idle).median;
    rank_rows.push_back({{"rank", int(r)},
                         {"role", plan::Name(rp.role)},
                         {"stage", rp.stage},
                         {"replica", rp.replica},
                         {"host", ranks[r].host},
                         {"compute_time_s", compute_of[r]},
                         {"comm_time_s", comm_of[r]},
                         {"idle_time_s", idle_of[r]},
                         {"phases", phases},
                         {"memory_peak_bytes", ranks[r].memory_peak_bytes},
                         {"memory_tracked_bytes", ranks[r].memory_tracked_bytes},
                         {"memory_predicted_bytes", rp.memory_peak()}});
  }
  size_t critical = 0;
  for (size_t r = 1; r < ranks.size(); ++r)
    if (compute_of[r] > compute_of[critical]) critical = r;
  const double compute = ranks.empty() ? 0 : compute_of[critical];
  double comm = 0;
  for (double c : comm_of) comm = std::max(comm, c);
  const double bubble = pipelined && !ranks.empty() ? idle_of[critical] : 0;
  const double exposed = std::max(0.0, it.median - compute - bubble);

  double comm_bytes = 0;
  std::set<int64_t> seen;
  for (const plan::Rank& r : plan.ranks)
    for (const plan::Task& t : r.tasks)
      if ((t.kind == TaskKind::kCollective && seen.insert(t.collective_id).second) ||
          t.kind == TaskKind::kSend)
        comm_bytes += t.comm_bytes;
  int64_t mem_peak = 0;
  for (const RankRecord& r : ranks) mem_peak = std::max(mem_peak, r.memory_peak_bytes);

  Json ctx = MakeContext("summary", plan::kSchemaVersion);
  ctx["model"] = plan.context.model;
  ctx["cluster"] = plan.context.cluster;
  ctx["strategy"] = plan.context.strategy;
  ctx["options"] = plan.context.options;
  ctx["ranks"] = int(plan.ranks.size());
  ctx["global_batch"] = plan.global_batch;
  ctx["backend"] = info.backend;
  ctx["device"] = info.device;
  ctx["communicator"] = info.communicator;
  ctx["data"] = info.data;
  ctx["clock_uncertainty_s"] = info.clock_uncertainty_s;

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

  Json j;
  j["context"] = ctx;
  j["measured"] = true;
  j["iteration_time_s"] = it.median;
  j["throughput_samples_per_s"] = it.median > 0 ? double(plan.global_batch) / it.median : 0;
  j["compute_time_s"] = compute;
  j["comm_time_s"] = comm;
  j["exposed_comm_time_s"] = exposed;
  j["bubble_time_s"] = bubble;
  j["comm_bytes"] = comm_bytes;
  j["memory_peak_bytes"] = mem_peak;
  j["critical_rank"] = int(critical);
  j["iterations"] = {{"warmup", int(warm)},   {"measured", int(times.size())},
                     {"median_s", it.median}, {"min_s", it.min},
                     {"max_s", it.max},       {"mean_s", it.mean},
                     {"stddev_s", it.stddev}, {"times_s", times}};
  j["phases"] = phases;
  j["loss"] = loss;
  j["ranks"] = rank_rows;
  for (auto& [k, v] : info.extra.items()) j[k] = v;
  if (!info.trace_file.empty()) j["trace"] = info.trace_file;
  return j;
}

Json BuildChromeTrace(const plan::Plan& plan, const std::vector<RankRecord>& ranks, int warmup) {
  // Chrome trace event format, microseconds from the first measured task. Compute runs on one
  // thread, so it is one track (tid 0). Communication overlaps (messages are posted as soon as
  // they are ready, beside the collective thread), and Perfetto requires the slices of one track
  // to nest, so each communication task goes to the first lane (tid 1, 2, ...) that is free when
  // it starts, as the simulator's timeline does.
  Json events = Json::array();
  double t0 = 1e300;
  const size_t first = size_t(std::max(0, warmup));
  for (const RankRecord& r : ranks)
    for (size_t i = first; i < r.iterations.size(); ++i)
      for (const TaskTiming& t : r.iterations[i].tasks) t0 = std::min(t0, t.start_s);
  auto us = [t0](double s) { return std::round((s - t0) * 1e9) / 1e3; };  // whole nanoseconds
  for (size_t r = 0; r < ranks.size(); ++r) {
    const plan::Rank& rp = plan.ranks[r];
    std::vector<const TaskTiming*> comm;
    for (size_t i = first; i < ranks[r].iterations.size(); ++i)
      for (const TaskTiming& t : ranks[r].iterations[i].tasks)
        if (!IsCompute(rp.tasks[size_t(t.task)])) comm.push_back(&t);
    std::stable_sort(comm.begin(), comm.end(), [](const TaskTiming* a, const TaskTiming* b) {
      return a->start_s < b->start_s;
    });
    std::map<const TaskTiming*, int> lane_of;
    std::vector<double> lane_end;  // end of the last slice in each lane, microseconds
    for (const TaskTiming* t : comm) {
      size_t l = 0;
      while (l < lane_end.size() && lane_end[l] > us(t->start_s)) ++l;
      if (l == lane_end.size()) lane_end.push_back(0);
      lane_end[l] = us(t->end_s);
      lane_of[t] = int(l) + 1;
    }
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", int(r)},
                      {"args",
                       {{"name", "rank " + std::to_string(r) + " (" + plan::Name(rp.role) + ", " +
                                     ranks[r].host + ")"}}}});
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", int(r)},
                      {"tid", 0},
                      {"args", {{"name", "compute"}}}});
    for (size_t l = 0; l < lane_end.size(); ++l)
      events.push_back({{"name", "thread_name"},
                        {"ph", "M"},
                        {"pid", int(r)},
                        {"tid", int(l) + 1},
                        {"args", {{"name", "comm " + std::to_string(l + 1)}}}});
    for (size_t i = first; i < ranks[r].iterations.size(); ++i)
      for (const TaskTiming& t : ranks[r].iterations[i].tasks) {
        const plan::Task& task = rp.tasks[size_t(t.task)];
        Json args = {{"task", t.task}, {"iteration", t.iteration}};
        if (task.layer >= 0) args["layer"] = task.layer;
        if (task.bucket >= 0) args["bucket"] = task.bucket;
        if (!IsCompute(task)) args["bytes"] = task.comm_bytes;
        const double ts = us(t.start_s);
        events.push_back({{"name", task.name.empty() ? Category(task) : task.name},
                          {"cat", Category(task)},
                          {"ph", "X"},
                          {"pid", int(r)},
                          {"tid", IsCompute(task) ? 0 : lane_of.at(&t)},
                          {"ts", ts},
                          {"dur", std::max(0.0, us(t.end_s) - ts)},
                          {"args", args}});
      }
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}, {"otherData", {{"measured", true}}}};
}

}  // namespace convscale::exec
