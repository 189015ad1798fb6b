// The reducer and the Chrome trace writer (see timeline.h).
#include "model/cost/timeline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "model/plan/collectives.h"

namespace convscale::cost {

using plan::TaskKind;

namespace {

// Bytes all members of a collective send together per byte of its size,
// plan::TotalBytesSent(c, a, n, 1, node_of), remembered for the life of the process: summing a
// 64-member ring's schedule (8,064 transfers) costs more than the rest of an estimate. It is a
// pure function of its arguments, so remembering it changes no number.
double TotalBytesFactor(plan::Collective c, plan::Algorithm a, int n,
                        const std::vector<int>& node_of) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int, std::vector<int>>, double> memo;
  auto key = std::make_tuple(static_cast<int>(c), static_cast<int>(a), n, node_of);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
  }
  const double f = plan::TotalBytesSent(c, a, n, 1.0, node_of);
  std::lock_guard<std::mutex> lock(mu);
  memo.emplace(std::move(key), f);
  return f;
}

}  // namespace

double SentBytes(const plan::Plan& p, const plan::Task& t, const std::vector<int>& node_of_rank) {
  switch (t.kind) {
    case TaskKind::kSend:
      return t.comm_bytes;
    case TaskKind::kCollective: {
      if (t.group < 0 || t.group >= static_cast<int>(p.groups.size())) return 0;
      const std::vector<int>& members = p.groups[t.group].ranks;
      const int n = static_cast<int>(members.size());
      if (n < 2) return 0;
      std::vector<int> node_of;
      if (t.algorithm == plan::Algorithm::kHierarchical) {
        node_of.reserve(members.size());
        for (int m : members)
          node_of.push_back(node_of_rank.empty() ? m : node_of_rank.at(static_cast<size_t>(m)));
      }
      return TotalBytesFactor(t.collective, t.algorithm, n, node_of) * t.comm_bytes / n;
    }
    case TaskKind::kRecv:
    case TaskKind::kCompute:
      break;
  }
  return 0;
}

double UnionLength(std::vector<std::pair<double, double>>& v) {
  if (!std::is_sorted(v.begin(), v.end())) std::sort(v.begin(), v.end());
  double total = 0, s = 0, e = 0;
  bool open = false;
  for (const auto& [a, b] : v) {
    if (b <= a) continue;
    if (!open || a > e) {
      if (open) total += e - s;
      s = a;
      e = b;
      open = true;
    } else {
      e = std::max(e, b);
    }
  }
  if (open) total += e - s;
  return total;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void StartWhenAllPosted(const plan::Plan& p, std::vector<RankTimeline>& ranks) {
  // The last post of each collective call and of each message (source, destination, tag).
  std::map<int64_t, double> collective;
  std::map<std::tuple<int, int, int64_t>, double> message;
  auto post = [](auto& m, const auto& key, double at) {
    auto [it, fresh] = m.emplace(key, at);
    if (!fresh) it->second = std::max(it->second, at);
  };
  auto message_key = [](int rank, const plan::Task& t) {
    return t.kind == TaskKind::kSend ? std::make_tuple(rank, t.peer, t.tag)
                                     : std::make_tuple(t.peer, rank, t.tag);
  };
  const size_t n = std::min(ranks.size(), p.ranks.size());
  for (size_t r = 0; r < n; ++r)
    for (const Interval& iv : ranks[r].intervals) {
      const plan::Task& t = p.ranks[r].tasks[static_cast<size_t>(iv.task)];
      if (t.kind == TaskKind::kCollective) post(collective, t.collective_id, iv.start_s);
      if (t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv)
        post(message, message_key(static_cast<int>(r), t), iv.start_s);
    }
  for (size_t r = 0; r < n; ++r)
    for (Interval& iv : ranks[r].intervals) {
      const plan::Task& t = p.ranks[r].tasks[static_cast<size_t>(iv.task)];
      double at = iv.start_s;
      if (t.kind == TaskKind::kCollective) at = collective.at(t.collective_id);
      if (t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv)
        at = message.at(message_key(static_cast<int>(r), t));
      iv.start_s = std::min(std::max(iv.start_s, at), iv.end_s);
    }
}

void Reduce(const plan::Plan& p, const Timeline& t, Summary& s) {
  const size_t n = p.ranks.size();
  if (s.ranks.size() != n) s.ranks.resize(n);
  double T = t.iteration_time_s;
  if (T < 0) {
    double last = t.start_s;
    for (const RankTimeline& rt : t.ranks)
      for (const Interval& iv : rt.intervals) last = std::max(last, iv.end_s);
    T = last - t.start_s;
  }
  // Per distinct timeline: its unions and its finish.
  struct Stats {
    double finish = 0, compute = 0, comm = 0, exposed = 0, idle = 0, bytes = 0;
  };
  std::vector<Stats> st(t.ranks.size());
  std::vector<std::pair<double, double>> comp, comm, both;
  for (size_t i = 0; i < t.ranks.size(); ++i) {
    const RankTimeline& rt = t.ranks[i];
    Stats& x = st[i];
    comp.clear();
    comm.clear();
    double end = rt.end_s;
    for (const Interval& iv : rt.intervals) {
      end = std::max(end, iv.end_s);
      x.bytes += iv.bytes;
      (iv.kind == TaskKind::kCompute ? comp : comm).emplace_back(iv.start_s, iv.end_s);
    }
    x.finish = std::isfinite(end) ? end - t.start_s : 0;
    x.compute = UnionLength(comp);
    x.comm = UnionLength(comm);
    // Both sorted now: merging gives the order sorting would (pairs order uniquely).
    both.resize(comp.size() + comm.size());
    std::merge(comp.begin(), comp.end(), comm.begin(), comm.end(), both.begin());
    const double busy = UnionLength(both);
    x.exposed = std::max(0.0, busy - x.compute);
    x.idle = std::max(0.0, (rt.span_s >= 0 ? rt.span_s : T) - busy);
  }
  s.iteration_time_s = T;
  s.throughput_samples_per_s = T > 0 ? static_cast<double>(p.global_batch) / T : 0;
  s.compute_time_s = s.comm_time_s = s.exposed_comm_time_s = s.bubble_time_s = 0;
  s.comm_bytes_total = 0;
  int critical = -1;
  auto of = [&](size_t r) -> const Stats& {
    return st[t.timeline_of.empty() ? r : static_cast<size_t>(t.timeline_of[r])];
  };
  for (size_t r = 0; r < n; ++r) {
    const Stats& x = of(r);
    RankSummary& o = s.ranks[r];
    o.finish_s = x.finish;
    o.compute_time_s = x.compute;
    o.comm_time_s = x.comm;
    o.exposed_comm_time_s = x.exposed;
    o.idle_time_s = x.idle;
    o.comm_bytes_sent = x.bytes;
    s.compute_time_s = std::max(s.compute_time_s, x.compute);
    s.comm_time_s = std::max(s.comm_time_s, x.comm);
    s.comm_bytes_total += x.bytes;
    if (p.ranks[r].role == plan::Role::kServer) continue;  // servers only serve the critical path
    s.bubble_time_s = std::max(s.bubble_time_s, x.idle);
    if (critical < 0 || x.finish > of(static_cast<size_t>(critical)).finish)
      critical = static_cast<int>(r);
  }
  s.critical_rank = std::max(0, critical);
  if (critical >= 0) s.exposed_comm_time_s = of(static_cast<size_t>(critical)).exposed;
}

Summary MedianOfIterations(const std::vector<Summary>& its) {
  if (its.empty()) return Summary();
  Summary s = its.front();
  auto median = [&](auto field) {
    std::vector<double> v;
    v.reserve(its.size());
    for (const Summary& x : its) v.push_back(field(x));
    return Median(std::move(v));
  };
  s.iteration_time_s = median([](const Summary& x) { return x.iteration_time_s; });
  s.throughput_samples_per_s =
      s.iteration_time_s > 0 ? static_cast<double>(s.global_batch) / s.iteration_time_s : 0;
  s.compute_time_s = median([](const Summary& x) { return x.compute_time_s; });
  s.comm_time_s = median([](const Summary& x) { return x.comm_time_s; });
  s.exposed_comm_time_s = median([](const Summary& x) { return x.exposed_comm_time_s; });
  s.bubble_time_s = median([](const Summary& x) { return x.bubble_time_s; });
  s.comm_bytes_total = median([](const Summary& x) { return x.comm_bytes_total; });
  for (size_t r = 0; r < s.ranks.size(); ++r) {
    RankSummary& o = s.ranks[r];
    o.finish_s = median([r](const Summary& x) { return x.ranks[r].finish_s; });
    o.compute_time_s = median([r](const Summary& x) { return x.ranks[r].compute_time_s; });
    o.comm_time_s = median([r](const Summary& x) { return x.ranks[r].comm_time_s; });
    o.exposed_comm_time_s =
        median([r](const Summary& x) { return x.ranks[r].exposed_comm_time_s; });
    o.idle_time_s = median([r](const Summary& x) { return x.ranks[r].idle_time_s; });
    o.comm_bytes_sent = median([r](const Summary& x) { return x.ranks[r].comm_bytes_sent; });
  }
  std::map<int, int> votes;
  for (const Summary& x : its) ++votes[x.critical_rank];
  int best = 0;
  for (const auto& [rank, count] : votes)
    if (count > best) {
      best = count;
      s.critical_rank = rank;
    }
  return s;
}

namespace {

std::string Escaped(const std::string& s) {
  std::string e;
  for (char c : s) {
    if (c == '"' || c == '\\') e += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    e += c;
  }
  return e;
}

// Microseconds in whole nanoseconds, so that a slice that ends where the next begins does not
// overlap it after rounding (Perfetto requires the slices of one track to nest).
double Microseconds(double s) {
  return std::round(s * 1e9) / 1e3;
}

}  // namespace

std::string ChromeTrace(const plan::Plan& p, const Timeline& t,
                        const std::vector<std::string>& process_names, const Json& other_data) {
  // Chrome trace event format: "X" complete events, microseconds; one pid per rank, tid 0 the
  // compute stream, tids 1.. the communication lanes (concurrent communication tasks get
  // separate lanes).
  std::string o;
  o += "{\"displayTimeUnit\":\"ms\",";
  if (other_data.is_object() && !other_data.empty())
    o += "\"otherData\":" + other_data.dump() + ",";
  o += "\"traceEvents\":[\n";
  bool first = true;
  auto sep = [&] {
    if (!first) o += ",\n";
    first = false;
  };
  char buf[512];
  const size_t n = p.ranks.size();
  for (size_t k = 0; k < n; ++k) {
    const RankTimeline& rt = t.ranks[t.timeline_of.empty() ? k : size_t(t.timeline_of[k])];
    // Each rank's events in start order, communication tasks spread over lanes.
    std::vector<const Interval*> order;
    for (const Interval& iv : rt.intervals) order.push_back(&iv);
    std::stable_sort(order.begin(), order.end(),
                     [](const Interval* a, const Interval* b) { return a->start_s < b->start_s; });
    std::vector<double> lane_end;  // microseconds
    std::vector<int> lane(order.size(), 0);
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i]->kind == TaskKind::kCompute) continue;
      const double begin = Microseconds(order[i]->start_s - t.start_s);
      size_t l = 0;
      while (l < lane_end.size() && lane_end[l] > begin) ++l;
      if (l == lane_end.size()) lane_end.push_back(0);
      lane_end[l] = Microseconds(order[i]->end_s - t.start_s);
      lane[i] = static_cast<int>(l) + 1;
    }
    const std::string name =
        k < process_names.size() ? process_names[k] : "rank " + std::to_string(k);
    sep();
    o += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(k) +
         ",\"args\":{\"name\":\"" + Escaped(name) + "\"}}";
    sep();
    o += "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + std::to_string(k) +
         ",\"args\":{\"sort_index\":" + std::to_string(k) + "}}";
    for (size_t l = 0; l <= lane_end.size(); ++l) {
      sep();
      o += "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(k) +
           ",\"tid\":" + std::to_string(l) + ",\"args\":{\"name\":\"" +
           (l == 0 ? std::string("compute") : "comm " + std::to_string(l)) + "\"}}";
    }
    for (size_t i = 0; i < order.size(); ++i) {
      const Interval& iv = *order[i];
      const plan::Task& task = p.ranks[k].tasks[static_cast<size_t>(iv.task)];
      const double ts = Microseconds(iv.start_s - t.start_s);
      const double dur = std::max(0.0, Microseconds(iv.end_s - t.start_s) - ts);
      const bool compute = task.kind == TaskKind::kCompute;
      sep();
      std::snprintf(buf, sizeof buf,
                    "{\"ph\":\"X\",\"pid\":%zu,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"cat\":\"%s\","
                    "\"name\":\"",
                    k, lane[i], ts, dur, compute ? plan::Name(task.phase) : plan::Name(task.kind));
      o += buf;
      o += Escaped(task.name.empty()
                       ? std::string(plan::Name(task.kind)) + " " + std::to_string(task.id)
                       : task.name);
      o += "\",\"args\":{";
      if (compute)
        std::snprintf(buf, sizeof buf, "\"task\":%d,\"flops\":%.17g,\"layer\":%d", task.id,
                      task.flops, task.layer);
      else
        std::snprintf(buf, sizeof buf, "\"task\":%d,\"bytes\":%.17g,\"bucket\":%d", task.id,
                      task.comm_bytes, task.bucket);
      o += buf;
      if (iv.iteration >= 0) o += ",\"iteration\":" + std::to_string(iv.iteration);
      o += "}}";
    }
  }
  o += "\n]}\n";
  return o;
}

}  // namespace convscale::cost
