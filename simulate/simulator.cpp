#include "simulate/simulator.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <unordered_map>

#include "model/cost/summary.h"
#include "model/cost/timeline.h"
#include "model/plan/collectives.h"
#include "model/util/context.h"
#include "model/util/error.h"
#include "simulate/engine.h"

namespace convscale::sim {

namespace {

// A number as a user would write it back: 2, 0.5 (not std::to_string's 2.000000).
std::string ShortNumber(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

// Whether no two collectives can ever share the network and every member of each starts it at
// the same instant: one synchronous program (every rank shares rank 0's task list), no
// point-to-point messages, every collective over one group of all ranks and ordered on each rank
// (each collective depends on the one before it), identical devices, no straggler. Then each
// collective runs alone with its members in step, where a coarse phase is exact without
// sub-phases (docs/simulator.md, "Coarse collectives").
bool CollectivesRunAlone(const plan::Plan& plan, const topo::Cluster& cluster,
                         const LoweringOptions& lo) {
  if (plan.ranks.empty() || plan.async) return false;
  const plan::Rank& first = plan.ranks[0];
  const topo::Endpoint& ep0 = cluster.endpoint(first.endpoint);
  for (const plan::Rank& rk : plan.ranks) {
    const topo::Endpoint& ep = cluster.endpoint(rk.endpoint);
    if (rk.role != first.role || !(&rk == &first || rk.tasks.SharesWith(first.tasks)) ||
        ep.type != ep0.type || ep.speed_factor != ep0.speed_factor)
      return false;
  }
  for (double f : lo.rank_speed)
    if (f != lo.rank_speed[0]) return false;
  const std::vector<plan::Task>& tasks = first.tasks.vector();
  // newest[t]: the last collective task t depends on, directly or not (-1: none).
  std::vector<int> newest(tasks.size(), -1);
  int previous = -1, group = -1;
  for (const plan::Task& t : tasks) {
    if (t.id < 0 || static_cast<size_t>(t.id) >= tasks.size()) return false;
    int reached = -1;
    for (int d : t.deps) {
      if (d < 0 || d >= t.id) return false;  // not in dependency order: do not judge
      reached = std::max(reached, tasks[d].kind == plan::TaskKind::kCollective ? d : newest[d]);
    }
    newest[t.id] = reached;
    if (t.kind == plan::TaskKind::kCompute) continue;
    if (t.kind != plan::TaskKind::kCollective || t.group < 0 ||
        t.group >= static_cast<int>(plan.groups.size()) ||
        plan.groups[t.group].ranks.size() != plan.ranks.size() || (group >= 0 && t.group != group))
      return false;
    if (reached != previous) return false;  // may run beside the one before
    group = t.group;
    previous = t.id;
  }
  return true;
}

std::pair<int, double> ParseStraggler(const std::string& text) {
  const auto colon = text.find(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    size_t used = 0;
    const int rank = std::stoi(text.substr(0, colon), &used);
    if (used != colon) throw std::invalid_argument("rank");
    const std::string f = text.substr(colon + 1);
    const double factor = std::stod(f, &used);
    if (used != f.size()) throw std::invalid_argument("factor");
    if (rank < 0 || !(factor > 0) || !std::isfinite(factor))
      throw InputError("--straggler " + text +
                       ": the rank must be >= 0 and the factor > 0 (0.5 = half as fast)");
    return {rank, factor};
  } catch (const std::invalid_argument&) {
    throw InputError("--straggler " + text + ": expected RANK:FACTOR, e.g. 3:0.5");
  } catch (const std::out_of_range&) {
    throw InputError("--straggler " + text + ": expected RANK:FACTOR, e.g. 3:0.5");
  }
}

SimulationResult Simulate(const plan::Plan& plan, const topo::Cluster& cluster,
                          const SimulateOptions& options) {
  if (options.warmup < 0) throw InputError("--warmup: must be >= 0");
  if (options.iterations < 1) throw InputError("--iterations: must be >= 1");
  const int ranks = static_cast<int>(plan.ranks.size());
  if (ranks == 0) throw InputError("plan: it has no ranks");
  LoweringOptions lo = options.lowering;
  if (!options.stragglers.empty()) {
    lo.rank_speed.assign(ranks, 1.0);
    for (const auto& [r, f] : options.stragglers) {
      if (r >= ranks)
        throw InputError("--straggler " + std::to_string(r) + ":" + ShortNumber(f) +
                         ": the plan has ranks 0.." + std::to_string(ranks - 1));
      lo.rank_speed[r] *= f;
    }
  }
  if (lo.coarse_split > 1 && CollectivesRunAlone(plan, cluster, lo)) lo.coarse_split = 1;
  LoweredPlan lp = LowerPlan(plan, cluster, lo);
  const Dag& dag = lp.dag;

  // The engine instantiates the task graph once per iteration, so its memory grows with tasks x
  // iterations; the bound keeps a mistyped count from exhausting memory (or overflowing an int).
  constexpr int64_t kMaxTaskInstances = int64_t{1} << 27;
  const int64_t total = int64_t{options.warmup} + options.iterations;
  if (total > kMaxTaskInstances / std::max<int64_t>(1, dag.num_tasks()))
    throw InputError("--iterations " + std::to_string(options.iterations) + " --warmup " +
                     std::to_string(options.warmup) + ": " + std::to_string(total) +
                     " iterations of " + std::to_string(dag.num_tasks()) +
                     " tasks are more task instances than one simulation may hold (" +
                     std::to_string(kMaxTaskInstances) + "; see docs/limits.md)");
  EngineOptions eo;
  eo.iterations = static_cast<int>(total);
  eo.record_iteration = eo.iterations - 1;
  eo.first_measured = options.warmup;
  eo.flow_actor_ranks = options.flow_actor_ranks;
  const RawResult raw = RunDagInChild(dag, cluster, lo.platform, eo);

  SimulationResult r;
  r.warmup = options.warmup;
  r.top_links = options.top_links;
  r.iterations = options.iterations;
  r.collectives = lp.coarse ? "coarse" : "exact";
  if (lp.ps_messages > 0) r.ps_messages = lp.coarse_messages ? "coarse" : "exact";
  r.ps_messages_per_iteration = lp.ps_messages;
  r.ps_coalesce_bytes = lp.coarse_messages ? lo.ps_coalesce_bytes : 0;
  r.flows_per_iteration = lp.flows;
  r.exact_flows_per_iteration = lp.exact_flows;
  r.activities = raw.activities;
  double prev = 0;
  for (double e : raw.iteration_end) {
    r.iteration_times_s.push_back(e - prev);
    prev = e;
  }
  const double measured_start = options.warmup > 0 ? raw.iteration_end[options.warmup - 1] : 0;
  r.iteration_time_s = (raw.iteration_end.back() - measured_start) / options.iterations;
  if (plan.async) {
    // Workers do not wait for each other: each contributes its own rate, its share of the global
    // batch per iteration over its measured iterations; the iteration time is the time the
    // cluster takes for one global batch at the summed rate.
    const int its = eo.iterations;
    int workers = 0;
    for (const plan::Rank& rk : plan.ranks) workers += rk.role != plan::Role::kServer;
    const double share = static_cast<double>(plan.global_batch) / std::max(1, workers);
    double rate = 0;
    for (int k = 0; k < ranks; ++k) {
      if (plan.ranks[k].role == plan::Role::kServer) continue;
      const double* end = &raw.rank_iteration_end[static_cast<size_t>(k) * its];
      const double span = end[its - 1] - (options.warmup > 0 ? end[options.warmup - 1] : 0);
      if (span > 0) rate += share * options.iterations / span;
    }
    if (rate > 0) r.iteration_time_s = static_cast<double>(plan.global_batch) / rate;
  }
  const double T = r.iteration_time_s;
  r.throughput_samples_per_s = T > 0 ? static_cast<double>(plan.global_batch) / T : 0;

  // Devices used, and the one-device reference.
  std::vector<int> eps;
  for (const plan::Rank& rk : plan.ranks)
    if (cluster.endpoint(rk.endpoint).kind == topo::EndpointKind::kDevice)
      eps.push_back(rk.endpoint);
  std::sort(eps.begin(), eps.end());
  r.devices = static_cast<int>(std::unique(eps.begin(), eps.end()) - eps.begin());
  {
    double seconds = 0, update = 0;
    for (const plan::Rank& rk : plan.ranks) {
      if (rk.role == plan::Role::kServer) continue;
      const topo::Endpoint& ep = cluster.endpoint(rk.endpoint);
      double rank_update = 0;
      for (const plan::Task& t : rk.tasks) {
        if (t.kind != plan::TaskKind::kCompute) continue;
        const double s = ComputeSeconds(t, ep, plan.precision, lo.calibration);
        if (t.phase == plan::Phase::kUpdate)
          rank_update += s;
        else
          seconds += s;
      }
      update = std::max(update, rank_update);
    }
    // One device doing its share (global batch / devices) of every rank's work alone.
    const int devices = std::max(1, r.devices);
    r.single_device_time_s = seconds / devices + update;
    if (r.single_device_time_s > 0 && plan.global_batch > 0)
      r.single_device_throughput =
          static_cast<double>(plan.global_batch) / devices / r.single_device_time_s;
    if (r.single_device_throughput > 0)
      r.speedup = r.throughput_samples_per_s / r.single_device_throughput;
    r.scaling_efficiency = r.speedup / devices;
  }

  // The recorded iteration as a timeline, reduced to the summary's figures by the one reducer
  // (model/cost/timeline.h). A communication task is active from the time every party has posted
  // it (a send and its receive: both; a collective: all members) to its end; before that the
  // rank waits on a peer, which is idle time, not communication (docs/simulator.md, "Exposed
  // communication").
  cost::Timeline& tl = r.timeline;
  tl.start_s = std::numeric_limits<double>::infinity();
  for (int k = 0; k < ranks; ++k) tl.start_s = std::min(tl.start_s, raw.rank_start[k]);
  tl.iteration_time_s = T;
  tl.ranks.resize(ranks);
  std::vector<int> node_of_rank(ranks);
  for (int k = 0; k < ranks; ++k) node_of_rank[k] = cluster.endpoint(plan.ranks[k].endpoint).node;
  for (int k = 0; k < ranks; ++k) {
    const int64_t off = dag.task_offset[k];
    cost::RankTimeline& rt = tl.ranks[k];
    for (const plan::Task& t : plan.ranks[k].tasks) {
      const double b = raw.task_begin[off + t.id], e = raw.task_end[off + t.id];
      if (std::isnan(b) || std::isnan(e)) continue;
      rt.intervals.push_back({t.id, t.kind, t.phase, b, e, cost::SentBytes(plan, t, node_of_rank)});
    }
    rt.end_s = raw.rank_end[k];
    // Async workers run iterations of their own length; everyone else shares the iteration.
    if (plan.async) rt.span_s = raw.rank_end[k] - raw.rank_start[k];
  }
  cost::StartWhenAllPosted(plan, tl.ranks);
  cost::Summary reduced;
  cost::FillFromPlan(reduced, plan);
  cost::Reduce(plan, tl, reduced);
  r.compute_time_s = reduced.compute_time_s;
  r.comm_time_s = reduced.comm_time_s;
  r.exposed_comm_time_s = reduced.exposed_comm_time_s;
  r.bubble_time_s = reduced.bubble_time_s;
  r.critical_rank = reduced.critical_rank;
  r.comm_bytes = reduced.comm_bytes_total;
  r.memory_peak_bytes = reduced.memory_peak_bytes;
  r.ranks.resize(ranks);
  for (int k = 0; k < ranks; ++k) {
    const cost::RankSummary& o = reduced.ranks[k];
    RankStats& x = r.ranks[k];
    x.rank = k;
    x.role = o.role;
    x.endpoint = cluster.endpoint(plan.ranks[k].endpoint).name;
    x.busy_s = o.compute_time_s;
    x.communicating_s = o.comm_time_s;
    x.exposed_comm_s = o.exposed_comm_time_s;
    x.idle_s = o.idle_time_s;
    x.finish_s = o.finish_s;
    x.bytes_sent = o.comm_bytes_sent;
  }

  // Bytes per link: every flow of one iteration along its route.
  std::map<std::pair<int, int>, double> pair_bytes;
  for (const Node& nd : dag.nodes)
    if (nd.kind == NodeKind::kFlow && nd.src != nd.dst) {
      pair_bytes[{nd.src, nd.dst}] += nd.amount;
    }
  const auto& links = cluster.links();
  std::vector<double> fwd(links.size(), 0), bwd(links.size(), 0);
  for (const auto& [pr, bytes] : pair_bytes)
    for (const topo::Hop& h : cluster.route(pr.first, pr.second).hops)
      (h.forward ? fwd : bwd)[h.link] += bytes;
  for (size_t l = 0; l < links.size(); ++l) {
    if (fwd[l] == 0 && bwd[l] == 0) continue;
    LinkStats ls;
    ls.link = static_cast<int>(l);
    ls.name = links[l].name;
    ls.level = links[l].level;
    ls.bandwidth_Bps = EffectiveBandwidth(links[l], lo.platform);
    ls.bytes_forward = fwd[l];
    ls.bytes_backward = bwd[l];
    const double busiest = links[l].shared ? fwd[l] + bwd[l] : std::max(fwd[l], bwd[l]);
    ls.utilization = T > 0 ? busiest / (ls.bandwidth_Bps * T) : 0;
    r.links.push_back(ls);
  }
  std::stable_sort(r.links.begin(), r.links.end(), [](const LinkStats& a, const LinkStats& b) {
    return a.utilization > b.utilization;
  });

  // Each job's own iteration: the latest end of its ranks, per iteration.
  const int its = eo.iterations;
  for (const plan::PlacedJob& job : options.jobs) {
    if (job.first_rank < 0 || job.ranks < 1 || job.first_rank + job.ranks > ranks)
      throw InputError("jobs: " + job.name + ": ranks " + std::to_string(job.first_rank) + ".." +
                       std::to_string(job.first_rank + job.ranks - 1) + " are not in the plan");
    std::vector<double> end(its, 0);
    for (int k = job.first_rank; k < job.first_rank + job.ranks; ++k)
      for (int it = 0; it < its; ++it)
        end[it] = std::max(end[it], raw.rank_iteration_end[static_cast<size_t>(k) * its + it]);
    JobResult jr;
    jr.name = job.name;
    jr.ranks = job.ranks;
    jr.devices = job.devices;
    const double from = options.warmup > 0 ? end[options.warmup - 1] : 0;
    jr.iteration_time_s = (end.back() - from) / options.iterations;
    if (jr.iteration_time_s > 0)
      jr.throughput_samples_per_s = static_cast<double>(job.global_batch) / jr.iteration_time_s;
    r.jobs.push_back(jr);
  }

  if (plan.async || !raw.staleness.empty()) {
    r.has_staleness = true;
    r.staleness_samples = static_cast<int64_t>(raw.staleness.size());
    r.staleness_bound = plan.async ? plan.staleness_bound : 0;
    auto mean_max = [](const std::vector<double>& v, double& mean, double& max) {
      double sum = 0;
      for (double x : v) {
        sum += x;
        max = std::max(max, x);
      }
      if (!v.empty()) mean = sum / static_cast<double>(v.size());
    };
    mean_max(raw.staleness, r.staleness_mean, r.staleness_max);
    mean_max(raw.staleness_updates, r.staleness_updates_mean, r.staleness_updates_max);
  }
  return r;
}

// ---- Writers -------------------------------------------------------------------------------

namespace {

// Rounds to 12 significant digits so the JSON does not carry solver noise (1e-13 s precision).
double R12(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return std::strtod(buf, nullptr);
}

}  // namespace

cost::Summary ToSummary(const SimulationResult& r, const plan::Plan& plan,
                        const topo::Cluster& cluster) {
  cost::Summary s;
  s.source = "simulate";
  cost::FillFromPlan(s, plan);
  if (s.cluster.empty()) s.cluster = cluster.name();
  s.devices = r.devices;
  s.iteration_time_s = R12(r.iteration_time_s);
  s.throughput_samples_per_s = R12(r.throughput_samples_per_s);
  s.single_device_time_s = R12(r.single_device_time_s);
  s.speedup = R12(r.speedup);
  s.scaling_efficiency = R12(r.scaling_efficiency);
  s.compute_time_s = R12(r.compute_time_s);
  s.comm_time_s = R12(r.comm_time_s);
  s.exposed_comm_time_s = R12(r.exposed_comm_time_s);
  s.bubble_time_s = R12(r.bubble_time_s);
  s.critical_rank = r.critical_rank;
  s.comm_bytes_total = R12(r.comm_bytes);
  for (size_t k = 0; k < r.ranks.size() && k < s.ranks.size(); ++k) {
    const RankStats& x = r.ranks[k];
    cost::RankSummary& o = s.ranks[k];
    o.endpoint = x.endpoint;
    o.finish_s = R12(x.finish_s);
    o.compute_time_s = R12(x.busy_s);
    o.comm_time_s = R12(x.communicating_s);
    o.exposed_comm_time_s = R12(x.exposed_comm_s);
    o.idle_time_s = R12(x.idle_s);
    o.comm_bytes_sent = R12(x.bytes_sent);
    const topo::Endpoint& ep = cluster.endpoint(plan.ranks[k].endpoint);
    if (ep.type != nullptr) o.memory_capacity_bytes = ep.type->memory_bytes;
  }
  Json its = Json::array();
  for (double t : r.iteration_times_s) its.push_back(R12(t));
  s.extra["iteration_times_s"] = its;
  if (r.has_staleness) {
    Json st = Json::object();
    st["mean"] = R12(r.staleness_mean);
    st["max"] = R12(r.staleness_max);
    st["samples"] = r.staleness_samples;
    st["bound"] = r.staleness_bound;
    st["updates_mean"] = R12(r.staleness_updates_mean);
    st["updates_max"] = R12(r.staleness_updates_max);
    s.extra["staleness"] = st;
  }
  if (!r.jobs.empty()) {
    Json jobs = Json::array();
    for (const JobResult& j : r.jobs)
      jobs.push_back({{"name", j.name},
                      {"ranks", j.ranks},
                      {"devices", j.devices},
                      {"iteration_time_s", R12(j.iteration_time_s)},
                      {"throughput_samples_per_s", R12(j.throughput_samples_per_s)}});
    s.extra["jobs"] = jobs;
  }
  Json links = Json::array();
  for (size_t i = 0; i < r.links.size() && static_cast<int>(i) < r.top_links; ++i) {
    const LinkStats& l = r.links[i];
    Json x = Json::object();
    x["link"] = l.name;
    x["level"] = l.level;
    x["bandwidth_Bps"] = R12(l.bandwidth_Bps);
    x["bytes_forward"] = R12(l.bytes_forward);
    x["bytes_backward"] = R12(l.bytes_backward);
    x["utilization"] = R12(l.utilization);
    links.push_back(x);
  }
  s.extra["top_links"] = links;
  Json sim = Json::object();
  sim["engine"] = "SimGrid 3.32 S4U";
  Json cfg = Json::array();
  for (const auto& c : NetworkConfig()) cfg.push_back(c);
  if (r.ps_messages == "coarse") cfg.push_back(kPsMessagesSolverConfig);
  sim["network_model"] = cfg;
  sim["collectives"] = r.collectives;
  if (!r.ps_messages.empty()) {
    sim["ps_messages"] = r.ps_messages;
    sim["ps_messages_per_iteration"] = r.ps_messages_per_iteration;
    if (r.ps_messages == "coarse") sim["ps_coalesce_bytes"] = r.ps_coalesce_bytes;
  }
  sim["warmup"] = r.warmup;
  sim["iterations"] = r.iterations;
  sim["flows_per_iteration"] = r.flows_per_iteration;
  sim["exact_flows_per_iteration"] = r.exact_flows_per_iteration;
  sim["simgrid_activities"] = r.activities;
  s.extra["simulation"] = sim;
  return s;
}

Json SummaryJson(const SimulationResult& r, const plan::Plan& plan, const topo::Cluster& cluster) {
  return cost::ToJson(ToSummary(r, plan, cluster));
}

std::string SummaryCsv(const SimulationResult& r, const plan::Plan& plan) {
  std::ostringstream o;
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.12g", v);
    return std::string(buf);
  };
  o << "model,cluster,strategy,predicted_by,collectives,devices,ranks,global_batch,"
       "iteration_time_s,throughput_samples_per_s,speedup,scaling_efficiency,compute_time_s,"
       "comm_time_s,exposed_comm_time_s,bubble_time_s,comm_bytes,memory_peak_bytes,"
       "staleness_mean,staleness_max\n";
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  o << field(plan.context.model) << "," << field(plan.context.cluster) << ","
    << field(plan.context.strategy) << ",simulate," << r.collectives << "," << r.devices << ","
    << r.ranks.size() << "," << plan.global_batch << "," << num(r.iteration_time_s) << ","
    << num(r.throughput_samples_per_s) << "," << num(r.speedup) << "," << num(r.scaling_efficiency)
    << "," << num(r.compute_time_s) << "," << num(r.comm_time_s) << ","
    << num(r.exposed_comm_time_s) << "," << num(r.bubble_time_s) << "," << num(r.comm_bytes) << ","
    << num(r.memory_peak_bytes) << "," << (r.has_staleness ? num(r.staleness_mean) : "") << ","
    << (r.has_staleness ? num(r.staleness_max) : "") << "\n";
  return o.str();
}

std::string ChromeTrace(const SimulationResult& r, const plan::Plan& plan,
                        const topo::Cluster& cluster) {
  std::vector<std::string> names;
  for (size_t k = 0; k < plan.ranks.size(); ++k)
    names.push_back("rank " + std::to_string(k) + " (" +
                    cluster.endpoint(plan.ranks[k].endpoint).name + ", " +
                    plan::Name(plan.ranks[k].role) + ")");
  return cost::ChromeTrace(plan, r.timeline, names);
}

}  // namespace convscale::sim
