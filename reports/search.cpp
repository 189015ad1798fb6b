#include "reports/search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/util/error.h"
#include "model/util/subprocess.h"
#include "model/util/units.h"
#include "reports/analysis.h"
#include "topologies/spec.h"

namespace convscale::reports {
namespace {

int NodesFor(int gpus, const topo::Cluster& c) {
  const int per = std::max(1, c.devices_per_node());
  return (gpus + per - 1) / per;
}

// Clusters are loaded once per (description, gpus, server hosts): parameter servers on dedicated
// hosts need the hosts in the cluster.
class ClusterCache {
 public:
  const topo::Cluster& Get(const std::string& name, int gpus, int server_hosts) {
    auto key = std::make_tuple(name, gpus, server_hosts);
    auto it = cache_.find(key);
    if (it != cache_.end()) return *it->second;
    topo::ClusterOptions o;
    o.gpus = gpus;
    o.server_hosts = server_hosts;
    const auto text = texts_.find(name);
    auto c = text == texts_.end() ? topo::LoadCluster(name, o)
                                  : topo::LoadClusterText(text->second, name, o);
    const topo::Cluster& ref = *c;
    cache_.emplace(key, std::move(c));
    return ref;
  }
  // Makes `name` stand for the description `text` (a what-if variant built in memory).
  void Describe(const std::string& name, std::string text) { texts_[name] = std::move(text); }

 private:
  std::map<std::tuple<std::string, int, int>, std::unique_ptr<topo::Cluster>> cache_;
  std::map<std::string, std::string> texts_;
};

// One estimator per cluster: each keeps the layer costs and the cluster's alpha-beta terms
// between the candidates it estimates.
class EstimatorCache {
 public:
  explicit EstimatorCache(const graph::Network& net) : net_(net) {}
  cost::StrategyEstimator& For(const topo::Cluster& cluster) {
    std::unique_ptr<cost::StrategyEstimator>& e = cache_[&cluster];
    if (!e) e = std::make_unique<cost::StrategyEstimator>(net_, cluster);
    return *e;
  }

 private:
  const graph::Network& net_;
  std::map<const topo::Cluster*, std::unique_ptr<cost::StrategyEstimator>> cache_;
};

// The options that tell candidates apart (the rest are shared), for labels and reports.
Json DistinguishingOptions(const plan::StrategyOptions& o) {
  Json j = Json::object();
  if (o.strategy == "dp") {
    j["algorithm"] = plan::Name(o.algorithm);
    j["grad_precision"] = plan::Name(o.grad_precision);
    j["bucket"] = units::FormatBytes(o.bucket_bytes);
  } else if (o.strategy == "ps") {
    j["servers"] = o.servers;
    j["placement"] = plan::Name(o.ps_placement);
    j["mode"] = o.async ? "async" : "sync";
    if (o.async) j["staleness"] = o.staleness;  // -1: unbounded
    if (o.ps_aggregation != plan::PsAggregation::kNone)
      j["aggregation"] = plan::Name(o.ps_aggregation);
  } else if (o.strategy == "mp") {
    j["stages"] = o.stages;
    j["micro_batches"] = o.micro_batches;
    if (o.micro_batches > 1) j["schedule"] = plan::Name(o.schedule);
  } else if (o.strategy == "hybrid") {
    j["hybrid"] = plan::Name(o.hybrid);
    if (o.hybrid == plan::HybridKind::kDataPipeline) {
      j["stages"] = o.stages;
      j["micro_batches"] = o.micro_batches;
      j["schedule"] = plan::Name(o.schedule);
    }
    j["algorithm"] = plan::Name(o.algorithm);
  }
  return j;
}

// "async (staleness unbounded)", "async (staleness 2)" or "sync".
std::string PsMode(const plan::StrategyOptions& o) {
  if (!o.async) return "sync";
  return "async (staleness " +
         (o.staleness < 0 ? std::string("unbounded") : std::to_string(o.staleness)) + ")";
}

std::string Label(const plan::StrategyOptions& o, const topo::Cluster& cluster) {
  char buf[160];
  if (o.strategy == "dp") {
    std::snprintf(buf, sizeof buf, "dp %s %s %s", plan::Name(o.algorithm),
                  plan::Name(o.grad_precision), units::FormatBytes(o.bucket_bytes).c_str());
  } else if (o.strategy == "ps") {
    std::snprintf(buf, sizeof buf, "ps %s, %s%s", plan::ServerPlacement(o, cluster).c_str(),
                  PsMode(o).c_str(),
                  o.ps_aggregation == plan::PsAggregation::kNode ? ", node-sum" : "");
  } else if (o.strategy == "mp") {
    if (o.micro_batches > 1)
      std::snprintf(buf, sizeof buf, "mp %d stages %d micro-batches %s", o.stages, o.micro_batches,
                    plan::Name(o.schedule));
    else
      std::snprintf(buf, sizeof buf, "mp %d stages sequential", o.stages);
  } else if (o.hybrid == plan::HybridKind::kOneWeirdTrick) {
    std::snprintf(buf, sizeof buf, "hybrid owt %s", plan::Name(o.algorithm));
  } else {
    std::snprintf(buf, sizeof buf, "hybrid dp x %d-stage pipeline %s", o.stages,
                  plan::Name(o.algorithm));
  }
  return buf;
}

}  // namespace

double VariantFactor(const Variant& v) {
  std::string s = v.value;
  if (!s.empty() && (s.back() == 'x' || s.back() == 'X')) s.pop_back();
  char* end = nullptr;
  const double f = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(f > 0) || !std::isfinite(f))
    throw InputError("--vary " + v.name + ": \"" + v.value +
                     "\" is not a positive factor; write it as \"2x\" or \"0.5x\"");
  return f;
}

namespace {

double Factor(const Variant& v) {
  return VariantFactor(v);
}

std::string Fixed(double v, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f%s", v, unit);
  return buf;
}

}  // namespace

std::vector<plan::StrategyOptions> CandidateOptions(const std::string& strategy,
                                                    const SearchSpec& spec,
                                                    const topo::Cluster& cluster) {
  plan::StrategyOptions base;
  base.strategy = strategy;
  base.model = spec.model;
  base.cluster = spec.cluster;
  base.gpus = spec.gpus;
  // Every candidate trains the same global batch (the header's): replicas split it, pipelines
  // take it whole per replica. One that cannot split it evenly fails to lower and is shown so.
  base.global_batch = spec.batch * spec.gpus;
  base.precision = spec.precision;
  base.optimizer = spec.optimizer;
  base.losses = spec.losses;
  std::vector<plan::StrategyOptions> out;
  const int nodes = NodesFor(spec.gpus, cluster);
  if (strategy == "dp") {
    for (auto a : {plan::Algorithm::kRing, plan::Algorithm::kTree, plan::Algorithm::kHierarchical,
                   plan::Algorithm::kHalvingDoubling})
      for (auto p : {plan::CommPrecision::kFP32, plan::CommPrecision::kFP16})
        for (double bucket : {plan::kDefaultBucketBytes, 4 * plan::kDefaultBucketBytes}) {
          plan::StrategyOptions o = base;
          o.algorithm = a;
          o.grad_precision = p;
          o.bucket_bytes = bucket;
          out.push_back(o);
        }
  } else if (strategy == "ps") {
    for (int servers : {nodes, 2 * nodes})
      for (auto place : {plan::PsPlacement::kDedicated, plan::PsPlacement::kColocated})
        for (bool async : {false, true}) {
          plan::StrategyOptions o = base;
          o.servers = servers;
          o.ps_placement = place;
          o.async = async;
          out.push_back(o);
        }
  } else if (strategy == "mp") {
    for (int mb : {1, 8}) {
      if (mb > base.global_batch || base.global_batch % mb != 0) continue;
      for (auto sched : {plan::PipelineSchedule::kGpipe, plan::PipelineSchedule::k1F1B}) {
        if (mb == 1 && sched == plan::PipelineSchedule::k1F1B) continue;
        plan::StrategyOptions o = base;
        o.stages = spec.gpus;
        o.micro_batches = mb;
        o.schedule = sched;
        out.push_back(o);
      }
    }
  } else if (strategy == "hybrid") {
    for (auto a : {plan::Algorithm::kRing, plan::Algorithm::kHierarchical}) {
      plan::StrategyOptions o = base;
      o.hybrid = plan::HybridKind::kOneWeirdTrick;
      o.algorithm = a;
      out.push_back(o);
    }
    for (int stages : {2, 4}) {
      if (spec.gpus <= stages || spec.gpus % stages != 0) continue;
      plan::StrategyOptions o = base;
      o.hybrid = plan::HybridKind::kDataPipeline;
      o.stages = stages;
      o.micro_batches = std::min<int64_t>(8, spec.batch * stages);  // the replica's batch
      o.schedule = plan::PipelineSchedule::k1F1B;
      o.algorithm = plan::Algorithm::kRing;
      out.push_back(o);
    }
  } else {
    throw InputError("--strategies: unknown strategy \"" + strategy + "\"" +
                     DidYouMean(strategy, {"dp", "ps", "mp", "hybrid"}));
  }
  return out;
}

Facts MakeFacts(const graph::Network& net, const topo::Cluster& cluster, const SearchSpec& spec) {
  Facts f;
  f.model = spec.model;
  f.cluster = spec.cluster;
  f.gpus = spec.gpus;
  f.devices_per_node = cluster.devices_per_node();
  f.per_device_batch = spec.batch;
  f.global_batch = spec.batch * spec.gpus;
  plan::StrategyOptions o;
  o.precision = spec.precision;
  f.compute_precision = plan::ComputePrecision(o, cluster);
  f.grad_precision = plan::Name(o.grad_precision);
  f.losses = plan::Describe(plan::ResolveLosses(spec.losses, cluster));
  if (cluster.num_devices() > 0 && cluster.endpoint(0).type)
    f.device = cluster.endpoint(0).type->name;
  double total = 0, fc = 0;
  for (size_t v = 0; v < net.size(); ++v) {
    const graph::Layer& l = net.layer(static_cast<int>(v));
    total += l.cost.params;
    if (l.type == graph::LayerType::kLinear) fc += l.cost.params;
  }
  f.parameters = total;
  f.fc_parameter_fraction = total > 0 ? fc / total : 0;
  // The network between nodes: the bandwidth of a node's NIC links, all NICs together.
  double nic = 0;
  int nic_links = 0;
  for (const topo::Link& l : cluster.links())
    if (l.level.find("nic") != std::string::npos) {
      nic = std::max(nic, l.bandwidth_Bps);
      ++nic_links;
    }
  if (nic > 0) {
    const int per_node = std::max(1, nic_links / std::max(1, cluster.num_nodes()));
    f.inter_node_bandwidth_Bps = nic * per_node;
    f.network = Num(nic * 8 / 1e9, 3) + " Gbit/s links between nodes (" + std::to_string(per_node) +
                " per node)";
  }
  if (spec.gpu_hour_price_usd)
    f.gpu_hour_price_usd = spec.gpu_hour_price_usd;
  else if (cluster.price_per_device_hour() > 0)
    f.gpu_hour_price_usd = cluster.price_per_device_hour();
  return f;
}

Candidate ToCandidate(const plan::StrategyOptions& o, const plan::Plan& p, const cost::Summary& s,
                      const topo::Cluster& cluster) {
  Candidate c;
  c.strategy = o.strategy;
  c.options = DistinguishingOptions(o);
  c.label = Label(o, cluster);
  c.predicted_by = s.source;
  c.iteration_time_s = s.iteration_time_s;
  c.compute_time_s = s.compute_time_s;
  c.exposed_comm_time_s = s.exposed_comm_time_s;
  c.bubble_time_s = s.bubble_time_s;
  c.comm_time_s = s.comm_time_s;
  c.throughput_samples_per_s = s.throughput_samples_per_s;
  c.speedup = s.speedup;
  c.scaling_efficiency = s.scaling_efficiency;
  c.comm_bytes_total = s.comm_bytes_total;
  // Memory: the rank closest to (or furthest over) its device's capacity decides.
  double worst_ratio = -1;
  for (const plan::Rank& r : p.ranks) {
    if (r.endpoint < 0 || r.endpoint >= cluster.num_endpoints()) continue;
    const topo::Endpoint& e = cluster.endpoint(r.endpoint);
    if (e.kind != topo::EndpointKind::kDevice || !e.type || e.type->memory_bytes <= 0) continue;
    const double ratio = r.memory_peak() / e.type->memory_bytes;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      c.memory_peak_bytes = r.memory_peak();
      c.memory_capacity_bytes = e.type->memory_bytes;
    }
  }
  if (worst_ratio < 0) c.memory_peak_bytes = s.memory_peak_bytes;
  c.fits = worst_ratio <= 1.0;
  return c;
}

namespace {

// A simulated candidate's figures as they travel back from the child process that simulated it.
Json CandidateFigures(const Candidate& c) {
  return Json{{"predicted_by", c.predicted_by},
              {"iteration_time_s", c.iteration_time_s},
              {"compute_time_s", c.compute_time_s},
              {"exposed_comm_time_s", c.exposed_comm_time_s},
              {"bubble_time_s", c.bubble_time_s},
              {"comm_time_s", c.comm_time_s},
              {"throughput_samples_per_s", c.throughput_samples_per_s},
              {"speedup", c.speedup},
              {"scaling_efficiency", c.scaling_efficiency},
              {"comm_bytes_total", c.comm_bytes_total},
              {"memory_peak_bytes", c.memory_peak_bytes},
              {"memory_capacity_bytes", c.memory_capacity_bytes},
              {"fits", c.fits},
              {"lower_bound_s", c.lower_bound_s.value_or(0)}};
}

void SetFigures(Candidate& c, const Json& j) {
  c.predicted_by = j.at("predicted_by").get<std::string>();
  c.iteration_time_s = j.at("iteration_time_s").get<double>();
  c.compute_time_s = j.at("compute_time_s").get<double>();
  c.exposed_comm_time_s = j.at("exposed_comm_time_s").get<double>();
  c.bubble_time_s = j.at("bubble_time_s").get<double>();
  c.comm_time_s = j.at("comm_time_s").get<double>();
  c.throughput_samples_per_s = j.at("throughput_samples_per_s").get<double>();
  c.speedup = j.at("speedup").get<double>();
  c.scaling_efficiency = j.at("scaling_efficiency").get<double>();
  c.comm_bytes_total = j.at("comm_bytes_total").get<double>();
  c.memory_peak_bytes = j.at("memory_peak_bytes").get<double>();
  c.memory_capacity_bytes = j.at("memory_capacity_bytes").get<double>();
  c.fits = j.at("fits").get<bool>();
  c.lower_bound_s = j.at("lower_bound_s").get<double>();
}

// One candidate of a search: its options and the cluster they were estimated on.
struct Trial {
  plan::StrategyOptions options;
  const topo::Cluster* cluster = nullptr;
};

// Candidates whose estimate the agreement benchmark found too far from the simulation to rule
// them out (bench/agreement-results.md): asynchronous parameter servers (the estimate walks one
// iteration with every worker in step, the simulation measures workers that drift apart; up to
// 3.1x too slow) and tree and halving-doubling all-reduce (their closed forms on a node's mixed
// NVLink and PCIe routes; up to 2.1x too slow). They are never pruned on their estimate.
bool UntrustedEstimate(const Candidate& c) {
  if (c.strategy == "ps") return c.options.value("mode", "") == "async";
  const std::string a = c.options.value("algorithm", "");
  return a == "tree" || a == "halving-doubling";
}

// Which of `estimates` to simulate: every one that runs and fits, except those the estimate
// proves slower than the best by more than the estimator's disagreement (an estimated iteration
// may be `margin` too long or too short: a candidate estimated at x samples/s simulates at no
// more than x (1 + margin), the best estimated one at no less than x_best (1 - margin)); `top` >= 0
// keeps only the first `top` by estimate. Indices in estimate order, fastest first.
std::vector<size_t> ToSimulate(const std::vector<Candidate>& estimates, double margin, int top) {
  std::vector<size_t> order;
  for (size_t i = 0; i < estimates.size(); ++i)
    if (estimates[i].error.empty() && estimates[i].fits &&
        estimates[i].throughput_samples_per_s > 0 && estimates[i].predicted_by != "bound")
      order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return estimates[a].throughput_samples_per_s > estimates[b].throughput_samples_per_s;
  });
  if (order.empty()) return order;
  const double best = estimates[order.front()].throughput_samples_per_s;
  if (margin >= 0 && margin < 1) {
    const double limit = best * (1 - margin) / (1 + margin);
    order.erase(std::remove_if(order.begin(), order.end(),
                               [&](size_t i) {
                                 return !UntrustedEstimate(estimates[i]) &&
                                        estimates[i].throughput_samples_per_s < limit;
                               }),
                order.end());
  }
  if (top >= 0 && order.size() > static_cast<size_t>(top)) order.resize(top);
  return order;
}

// A candidate to simulate: its network, options and cluster, the single-device time for its
// speedup, and where its figures go (the estimate kept beside them). A simulation that fails
// leaves the estimate and records why in the candidate's error.
struct SimulationJob {
  const graph::Network* net = nullptr;
  const Trial* trial = nullptr;
  double single_device_time_s = 0;
  Candidate* out = nullptr;
  // Not simulated when the plan's lower bound (cost::LowerBound) exceeds this: it cannot beat the
  // best candidate simulated before it, whose iteration time this is.
  double prune_above_s = std::numeric_limits<double>::infinity();
};

void SimulateCandidates(const std::vector<SimulationJob>& jobs, const Evaluator& simulate,
                        int processes) {
  const std::vector<ChildResult> results =
      RunInChildren(jobs.size(), processes > 0 ? processes : AvailableCpus(), [&](size_t k) {
        const SimulationJob& j = jobs[k];
        const topo::Cluster& c = *j.trial->cluster;
        const plan::Plan p = plan::Lower(*j.net, c, j.trial->options);
        const cost::IterationBound b = cost::LowerBound(p, c);
        if (b.seconds > j.prune_above_s)
          return Json{{"lower_bound_s", b.seconds},
                      {"bound_compute_s", b.compute_s},
                      {"bound_link_s", b.link_s},
                      {"bound_by", b.Describe(p, c)}}
              .dump();
        const cost::Summary s = simulate(p, c, j.single_device_time_s);
        Candidate sim = ToCandidate(j.trial->options, p, s, c);
        sim.lower_bound_s = b.seconds;
        return CandidateFigures(sim).dump();
      });
  for (size_t k = 0; k < jobs.size(); ++k) {
    Candidate& c = *jobs[k].out;
    if (!results[k].ok) {
      c.error = "simulate: " + results[k].error;
      continue;
    }
    const Json j = ParseJson(results[k].data, "simulated candidate");
    if (j.contains("bound_by")) {
      const double bound = j["lower_bound_s"].get<double>();
      c.lower_bound_s = bound;
      c.not_simulated = "it takes at least " + units::FormatTime(bound) + " (" +
                        j["bound_by"].get<std::string>() +
                        "), more than the best simulated candidate's " +
                        units::FormatTime(jobs[k].prune_above_s);
      // An estimate faster than the bound is known to be wrong (the estimator can miss what
      // the bound counts, such as an asynchronous server applying every worker's push one after
      // another): the row shows the bound, the fastest the candidate can be, and says so.
      if (c.iteration_time_s > 0 && c.iteration_time_s < bound) {
        const double slower = c.iteration_time_s / bound;
        // The time the estimate missed is what the bound counts: a rank's compute, or bytes
        // through a link that nothing hides; the split then adds up to the bound.
        const bool by_compute =
            j["bound_compute_s"].get<double>() > j["bound_link_s"].get<double>();
        (by_compute ? c.compute_time_s : c.exposed_comm_time_s) += bound - c.iteration_time_s;
        c.iteration_time_s = bound;
        c.throughput_samples_per_s *= slower;
        c.speedup *= slower;
        c.scaling_efficiency *= slower;
        c.predicted_by = "bound";
      }
      continue;
    }
    const double estimate = c.iteration_time_s;
    SetFigures(c, j);
    c.estimate_iteration_time_s = estimate;
  }
}

// The candidates of one search (one selection, or one what-if point) and what simulating them
// needs.
struct SearchGroup {
  std::vector<Candidate>* candidates = nullptr;
  const std::vector<Trial>* trials = nullptr;
  const graph::Network* net = nullptr;
  double single_device_time_s = 0;
};

// Parameter-server plans (thousands of concurrent flows: tens of CPU seconds per simulated
// iteration at 64 devices) and those whose estimate cannot rule them out.
bool CostlyOrUntrusted(const Candidate& c) {
  return c.strategy == "ps" || UntrustedEstimate(c);
}

// Simulates the candidates of every group that ToSimulate keeps, in two rounds: first the ones
// that are cheap to simulate and whose estimate is trusted, and the best estimated trusted one
// however costly, then the rest, each ruled out without
// simulating when its lower bound is slower than the best candidate of its group simulated in
// the first round (it cannot rank first, however the simulation would come out). With pruning
// off (a negative margin) every one is simulated.
void SimulateSearch(const std::vector<SearchGroup>& groups, const SearchSpec& spec,
                    const Evaluator& simulate) {
  std::vector<std::vector<size_t>> keep(groups.size());
  std::vector<SimulationJob> first, second;
  for (size_t g = 0; g < groups.size(); ++g) {
    const SearchGroup& sg = groups[g];
    keep[g] = ToSimulate(*sg.candidates, spec.prune_margin, spec.simulate_top);
    // The best estimated candidate whose estimate is trusted goes first even when it is costly
    // (a what-if point of parameter servers alone has no cheap one to bound the rest with).
    auto lead = std::find_if(keep[g].begin(), keep[g].end(),
                             [&](size_t i) { return !UntrustedEstimate((*sg.candidates)[i]); });
    for (auto it = keep[g].begin(); it != keep[g].end(); ++it) {
      Candidate& c = (*sg.candidates)[*it];
      if (!CostlyOrUntrusted(c) || it == lead || spec.prune_margin < 0)
        first.push_back({sg.net, &(*sg.trials)[*it], sg.single_device_time_s, &c});
    }
  }
  SimulateCandidates(first, simulate, spec.jobs);
  if (spec.prune_margin < 0) return;
  for (size_t g = 0; g < groups.size(); ++g) {
    const SearchGroup& sg = groups[g];
    double best = std::numeric_limits<double>::infinity();
    for (const Candidate& c : *sg.candidates)
      if (c.predicted_by == "simulate" && c.error.empty() && c.fits && c.iteration_time_s > 0)
        best = std::min(best, c.iteration_time_s);
    for (size_t i : keep[g])
      if (CostlyOrUntrusted((*sg.candidates)[i]) && (*sg.candidates)[i].predicted_by != "simulate")
        second.push_back(
            {sg.net, &(*sg.trials)[i], sg.single_device_time_s, &(*sg.candidates)[i], best});
  }
  SimulateCandidates(second, simulate, spec.jobs);
}

// The candidate with the highest estimated throughput among those whose estimate is trusted
// (not UntrustedEstimate) and that run and fit; null when none.
struct BestEstimate {
  const Candidate* candidate = nullptr;
};
BestEstimate BestTrustedEstimate(const std::vector<Candidate>& candidates) {
  BestEstimate best;
  for (const Candidate& c : candidates)
    if (c.error.empty() && c.fits && c.predicted_by == "estimate" &&
        c.throughput_samples_per_s > 0 && !UntrustedEstimate(c) &&
        (!best.candidate || c.throughput_samples_per_s > best.candidate->throughput_samples_per_s))
      best.candidate = &c;
  return best;
}

// A candidate known only by its plan's outline and lower bound `b`: its figures are the bound's
// (the fastest it can be), its memory the outline's; `single_samples_per_s` is one device's
// throughput, for the speedup.
Candidate BoundCandidate(const plan::StrategyOptions& o, const plan::PsOutline& outline,
                         const cost::IterationBound& b, const topo::Cluster& cluster,
                         double single_samples_per_s) {
  cost::Summary s;
  s.source = "bound";
  s.iteration_time_s = b.seconds;
  s.compute_time_s = b.compute_s;
  s.comm_time_s = b.link_s;
  // The bound is the slower of the compute and the busiest link: beyond the compute, that link's
  // bytes are communication nothing hides, so the split adds up to the bound.
  s.exposed_comm_time_s = std::max(0.0, b.seconds - b.compute_s);
  s.throughput_samples_per_s = static_cast<double>(outline.plan.global_batch) / b.seconds;
  s.speedup = single_samples_per_s > 0 ? s.throughput_samples_per_s / single_samples_per_s : 0;
  int workers = 0;
  for (const plan::Rank& r : outline.plan.ranks) workers += r.role != plan::Role::kServer;
  s.scaling_efficiency = workers > 0 ? s.speedup / workers : 0;
  for (const plan::PsOutline::Traffic& t : outline.traffic) s.comm_bytes_total += t.bytes;
  Candidate c = ToCandidate(o, outline.plan, s, cluster);
  c.lower_bound_s = b.seconds;
  return c;
}

}  // namespace

SelectionReport Select(const SearchSpec& spec, const Evaluator& simulate) {
  graph::Network net = graph::LoadModel(spec.model, spec.batch);
  ClusterCache clusters;
  EstimatorCache estimators(net);
  const topo::Cluster& base = clusters.Get(spec.cluster, spec.gpus, 0);
  if (spec.gpus > base.num_devices())
    throw InputError("--gpus " + std::to_string(spec.gpus) + ": the cluster has " +
                     std::to_string(base.num_devices()) + " devices");
  SelectionReport r;
  r.facts = MakeFacts(net, base, spec);
  std::vector<Trial> trials;  // parallel to r.candidates
  double single = 0;
  std::map<int64_t, double> single_at;  // one device's time at a pipeline replica's batch
  auto estimate = [&](const plan::StrategyOptions& o, const topo::Cluster& c) {
    cost::StrategyEstimator& estimator = estimators.For(c);
    cost::Summary s = estimator.Estimate(o, single);
    // A pipeline replica trains more than `spec.batch` samples of the global batch: its
    // speedup is over one device training that many, as `estimate` has it.
    const Json& po = estimator.last_plan().context.options;
    const int64_t b = po.contains("batch") ? po["batch"].get<int64_t>() : spec.batch;
    if (b != spec.batch && s.devices > 0 && s.iteration_time_s > 0) {
      double& one = single_at[b];
      if (one <= 0) one = cost::SingleDeviceTime(net, c, o, b, {});
      s.single_device_time_s = one;
      s.speedup = s.throughput_samples_per_s / (static_cast<double>(b) / one);
      s.scaling_efficiency = s.speedup / s.devices;
    }
    return ToCandidate(o, estimator.last_plan(), s, c);
  };
  auto failed = [&](const plan::StrategyOptions& o, const InputError& e) {
    Candidate cand;
    cand.strategy = o.strategy;
    cand.options = DistinguishingOptions(o);
    cand.label = Label(o, base);
    cand.error = e.what();
    return cand;
  };
  // Parameter-server candidates are estimated last, once the others say how fast the best can
  // be: a plan of workers x shards messages is millions of tasks at scale, so its outline is
  // bounded first (cost::LowerBound) and a candidate that cannot rank first is not lowered in full.
  const bool outline_first = spec.prune_margin >= 0 && spec.prune_margin < 1;
  std::vector<size_t> last;
  for (const std::string& strategy : spec.strategies) {
    for (const plan::StrategyOptions& o : CandidateOptions(strategy, spec, base)) {
      try {
        const topo::Cluster& c =
            clusters.Get(spec.cluster, spec.gpus, plan::DedicatedServerHosts(o, base));
        if (single <= 0) single = cost::SingleDeviceTime(net, c, o, spec.batch, {});
        trials.push_back({o, &c});
        if (outline_first && o.strategy == "ps") {
          last.push_back(r.candidates.size());
          r.candidates.emplace_back();
          continue;
        }
        r.candidates.push_back(estimate(o, c));
      } catch (const InputError& e) {
        if (trials.size() == r.candidates.size()) trials.push_back({o, nullptr});
        r.candidates.push_back(failed(o, e));
      }
    }
  }
  const BestEstimate best = BestTrustedEstimate(r.candidates);
  for (size_t i : last) {
    const plan::StrategyOptions& o = trials[i].options;
    const topo::Cluster& c = *trials[i].cluster;
    try {
      if (best.candidate) {
        const plan::PsOutline outline = plan::OutlineParameterServer(net, c, o);
        const cost::IterationBound b = cost::LowerBound(outline, c);
        const double fastest = static_cast<double>(outline.plan.global_batch) / b.seconds;
        const double slowest_best =
            best.candidate->throughput_samples_per_s * (1 - spec.prune_margin);
        if (fastest < slowest_best) {
          r.candidates[i] = BoundCandidate(o, outline, b, c, spec.batch / single);
          r.candidates[i].outline_only = true;
          r.candidates[i].not_simulated =
              "it takes at least " + units::FormatTime(b.seconds) + " (" +
              b.Describe(outline.plan, c) + "), slower than " + best.candidate->label + " even " +
              Num(spec.prune_margin * 100, 3) + "% below its estimated throughput (" +
              units::FormatTime(static_cast<double>(outline.plan.global_batch) / slowest_best) +
              ")";
          continue;
        }
      }
      r.candidates[i] = estimate(o, c);
    } catch (const InputError& e) {
      r.candidates[i] = failed(o, e);
    }
  }
  if (single > 0 && std::any_of(r.candidates.begin(), r.candidates.end(),
                                [](const Candidate& c) { return c.error.empty(); }))
    r.facts.single_device_throughput = spec.batch / single;
  if (simulate && spec.simulate_top != 0)
    SimulateSearch({{&r.candidates, &trials, &net, single}}, spec, simulate);
  Rank(r.candidates);
  ExplainAll(r.facts, r.candidates);
  return r;
}

Variant ParseVariant(const std::string& text) {
  const size_t eq = text.find('=');
  Variant v;
  v.name = text;
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw InputError("--vary " + text + ": expected KEY=VALUE, e.g. network.bandwidth=2x");
  v.key = text.substr(0, eq);
  v.value = text.substr(eq + 1);
  const std::vector<std::string> keys = {"network.bandwidth", "gpu.flops", "batch", "cluster"};
  if (std::find(keys.begin(), keys.end(), v.key) == keys.end())
    throw InputError("--vary " + text + ": unknown key \"" + v.key + "\"" +
                     DidYouMean(v.key, keys) +
                     " (known: network.bandwidth, gpu.flops, batch, cluster)");
  if (v.key != "cluster") Factor(v);
  return v;
}

std::string ApplyVariant(const std::string& description, const Variant& v) {
  Json j = ParseJson(description, "cluster description");
  const double f = Factor(v);
  if (v.key == "network.bandwidth") {
    if (j.contains("node_types"))
      for (auto& [name, nt] : j["node_types"].items())
        if (nt.contains("nics") && nt["nics"].contains("bandwidth"))
          nt["nics"]["bandwidth"] =
              Fixed(units::ParseBandwidth(nt["nics"]["bandwidth"].get<std::string>()) * f, "Bps");
    if (j.contains("fabric") && j["fabric"].contains("levels"))
      for (auto& level : j["fabric"]["levels"])
        if (level.contains("bandwidth"))
          level["bandwidth"] =
              Fixed(units::ParseBandwidth(level["bandwidth"].get<std::string>()) * f, "Bps");
    if (j.contains("fabric") && j["fabric"].contains("bandwidth"))
      j["fabric"]["bandwidth"] =
          Fixed(units::ParseBandwidth(j["fabric"]["bandwidth"].get<std::string>()) * f, "Bps");
  } else if (v.key == "gpu.flops") {
    if (j.contains("device_types"))
      for (auto& [name, dt] : j["device_types"].items()) {
        if (dt.contains("peak"))
          for (auto& [prec, rate] : dt["peak"].items())
            rate = Fixed(units::ParseFlopRate(rate.get<std::string>()) * f, "Flops");
        if (dt.contains("memory_bandwidth"))
          dt["memory_bandwidth"] =
              Fixed(units::ParseBandwidth(dt["memory_bandwidth"].get<std::string>()) * f, "Bps");
      }
  }
  j["name"] = j.value("name", std::string("cluster")) + " (" + v.name + ")";
  // A factor can take a value out of range ("0.5x" of 1e-320 is 0): the varied description is
  // checked here, so the message names the flag rather than a file the user never wrote.
  topo::detail::ParseClusterSpec(j, "--vary " + v.name);
  return j.dump(2) + "\n";
}

std::string VariantClusterFile(const Variant& v) {
  std::string file = v.name;
  for (char& c : file)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  return file + ".json";
}

SweepReport WhatIf(const SearchSpec& spec, const std::vector<int>& gpus,
                   const std::vector<Variant>& variants, const Evaluator& simulate) {
  const int max_gpus = *std::max_element(gpus.begin(), gpus.end());
  auto base_cluster = topo::LoadCluster(spec.cluster, {max_gpus, 0, 0});
  graph::Network base_net = graph::LoadModel(spec.model, spec.batch);
  SweepReport r;
  SearchSpec s0 = spec;
  s0.gpus = max_gpus;
  r.facts = MakeFacts(base_net, *base_cluster, s0);
  r.facts.gpus = 0;
  r.facts.global_batch = 0;

  // A network or gpu variant's cluster is its description, changed, in memory: it is known by
  // the flag ("--vary network.bandwidth=2x"), and written nowhere (the caller writes
  // `variant_clusters` with the report, all or nothing).
  std::map<std::string, std::string> variant_texts;  // the flag, the description
  std::vector<std::pair<Variant, SearchSpec>> runs;
  runs.push_back({Variant{"baseline", "", ""}, spec});
  for (const Variant& v : variants) {
    SearchSpec s = spec;
    if (v.key == "batch") {
      s.batch = static_cast<int64_t>(std::llround(spec.batch * Factor(v)));
      if (s.batch < 1)
        throw InputError("--vary " + v.name + ": the batch per device drops below 1");
    } else if (v.key == "cluster") {
      s.cluster = v.value;
    } else {
      s.cluster = "--vary " + v.name;
      variant_texts[s.cluster] = ApplyVariant(base_cluster->description_json(), v);
      r.variant_clusters.push_back({VariantClusterFile(v), variant_texts[s.cluster]});
    }
    runs.push_back({v, s});
  }

  // Every point's candidates are estimated first; the ones worth simulating (as in Select) are
  // then simulated together, so the child processes stay busy across points.
  struct VariantState {
    std::unique_ptr<graph::Network> net;
    ClusterCache clusters;
    std::unique_ptr<EstimatorCache> estimators;
    double single = 0;
  };
  struct PointState {
    SweepPoint point;
    std::vector<Candidate> candidates;
    std::vector<Trial> trials;
    const VariantState* variant = nullptr;
  };
  std::vector<std::unique_ptr<VariantState>> states;
  std::vector<PointState> points;
  double x1 = 0;  // the baseline's single-device throughput: every speedup is over it
  for (const auto& [variant, vspec] : runs) {
    states.push_back(std::make_unique<VariantState>());
    VariantState& vs = *states.back();
    if (auto text = variant_texts.find(vspec.cluster); text != variant_texts.end())
      vs.clusters.Describe(text->first, text->second);
    vs.net = std::make_unique<graph::Network>(graph::LoadModel(vspec.model, vspec.batch));
    vs.estimators = std::make_unique<EstimatorCache>(*vs.net);
    for (const std::string& strategy : vspec.strategies) {
      for (int g : gpus) {
        SearchSpec s = vspec;
        s.gpus = g;
        const topo::Cluster& base = vs.clusters.Get(s.cluster, g, 0);
        PointState ps;
        ps.variant = &vs;
        ps.point.strategy = strategy;
        ps.point.variant = variant.name;
        ps.point.gpus = g;
        // One device: every strategy is the same single-device training.
        const std::vector<plan::StrategyOptions> options =
            g == 1 ? std::vector<plan::StrategyOptions>{CandidateOptions("dp", s, base).front()}
                   : CandidateOptions(strategy, s, base);
        for (const plan::StrategyOptions& o : options) {
          try {
            const topo::Cluster& c =
                vs.clusters.Get(s.cluster, g, plan::DedicatedServerHosts(o, base));
            if (vs.single <= 0) vs.single = cost::SingleDeviceTime(*vs.net, c, o, s.batch, {});
            cost::StrategyEstimator& estimator = vs.estimators->For(c);
            const cost::Summary sum = estimator.Estimate(o, vs.single);
            ps.candidates.push_back(ToCandidate(o, estimator.last_plan(), sum, c));
            ps.trials.push_back({o, &c});
            if (x1 <= 0 && sum.single_device_time_s > 0) x1 = spec.batch / sum.single_device_time_s;
          } catch (const InputError&) {
          }
        }
        if (!ps.candidates.empty()) points.push_back(std::move(ps));
      }
    }
  }
  if (simulate && spec.simulate_top != 0) {
    std::vector<SearchGroup> groups;
    for (PointState& ps : points)
      groups.push_back({&ps.candidates, &ps.trials, ps.variant->net.get(), ps.variant->single});
    SimulateSearch(groups, spec, simulate);
  }
  for (PointState& ps : points) {
    SweepPoint& best = ps.point;
    best.fits = false;
    bool any = false;
    for (const Candidate& cand : ps.candidates) {
      if (!cand.error.empty()) continue;
      const bool better =
          !any || (cand.fits && !best.fits) ||
          (cand.fits == best.fits && cand.throughput_samples_per_s > best.throughput_samples_per_s);
      if (better) {
        best.fits = cand.fits;
        best.throughput_samples_per_s = cand.throughput_samples_per_s;
        best.iteration_time_s = cand.iteration_time_s;
        best.label = best.gpus == 1 ? "1 device" : cand.label;
        best.predicted_by = cand.predicted_by;
        best.comm_time_s = cand.comm_time_s;
        best.exposed_comm_time_s = cand.exposed_comm_time_s;
        best.memory_peak_bytes = cand.memory_peak_bytes;
        best.status = cand.fits ? "ok" : "does-not-fit";
        best.reason = cand.fits ? "" : Explain(r.facts, cand, cand);
      }
      any = true;
    }
    if (any) r.points.push_back(best);
  }
  if (x1 > 0) r.facts.single_device_throughput = x1;
  for (SweepPoint& p : r.points) {
    p.speedup = x1 > 0 ? p.throughput_samples_per_s / x1 : 0;
    p.scaling_efficiency = p.speedup / p.gpus;
    if (r.facts.gpu_hour_price_usd)
      p.samples_per_dollar =
          SamplesPerDollar(p.throughput_samples_per_s, p.gpus, *r.facts.gpu_hour_price_usd);
  }
  SortPoints(r.points);
  return r;
}

}  // namespace convscale::reports
