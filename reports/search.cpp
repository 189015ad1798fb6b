#include "reports/search.h"

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/util/error.h"
#include "model/util/units.h"
#include "reports/analysis.h"

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
    auto c = topo::LoadCluster(name, o);
    const topo::Cluster& ref = *c;
    cache_.emplace(key, std::move(c));
    return ref;
  }

 private:
  std::map<std::tuple<std::string, int, int>, std::unique_ptr<topo::Cluster>> cache_;
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

int ServerHosts(const plan::StrategyOptions& o, const topo::Cluster& base) {
  if (o.strategy != "ps" || o.ps_placement != plan::PsPlacement::kDedicated) return 0;
  return o.servers > 0 ? o.servers : NodesFor(o.gpus, base);
}

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

std::string Label(const plan::StrategyOptions& o) {
  const Json j = DistinguishingOptions(o);
  char buf[160];
  if (o.strategy == "dp") {
    std::snprintf(buf, sizeof buf, "dp %s %s %s", plan::Name(o.algorithm),
                  plan::Name(o.grad_precision), units::FormatBytes(o.bucket_bytes).c_str());
  } else if (o.strategy == "ps") {
    std::snprintf(buf, sizeof buf, "ps %d servers %s %s", o.servers, plan::Name(o.ps_placement),
                  o.async ? "async" : "sync");
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
  base.batch = spec.batch;
  base.precision = spec.precision;
  base.optimizer = spec.optimizer;
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
      if (mb > spec.batch || spec.batch % mb != 0) continue;
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
      o.micro_batches = std::min<int64_t>(8, spec.batch);
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
  c.label = Label(o);
  c.predicted_by = s.source;
  c.iteration_time_s = s.iteration_time_s;
  c.compute_time_s = s.compute_time_s;
  c.exposed_comm_time_s = s.exposed_comm_time_s;
  c.bubble_time_s = s.bubble_time_s;
  c.comm_time_s = s.comm_time_s;
  c.throughput_samples_per_s = s.throughput_samples_per_s;
  c.speedup = s.speedup;
  c.scaling_efficiency = s.scaling_efficiency;
  c.comm_bytes = s.comm_bytes;
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
  std::vector<plan::StrategyOptions> tried;
  double single = 0;
  for (const std::string& strategy : spec.strategies) {
    for (const plan::StrategyOptions& o : CandidateOptions(strategy, spec, base)) {
      try {
        const topo::Cluster& c = clusters.Get(spec.cluster, spec.gpus, ServerHosts(o, base));
        if (single <= 0) single = cost::SingleDeviceTime(net, c, o, spec.batch, {});
        cost::StrategyEstimator& estimator = estimators.For(c);
        const cost::Summary s = estimator.Estimate(o, single);
        Candidate cand = ToCandidate(o, estimator.last_plan(), s, c);
        if (r.facts.single_device_throughput <= 0 && s.single_device_time_s > 0)
          r.facts.single_device_throughput = spec.batch / s.single_device_time_s;
        r.candidates.push_back(cand);
        tried.push_back(o);
      } catch (const InputError& e) {
        Candidate cand;
        cand.strategy = o.strategy;
        cand.options = DistinguishingOptions(o);
        cand.label = Label(o);
        cand.error = e.what();
        r.candidates.push_back(cand);
      }
    }
  }
  Rank(r.candidates);
  if (simulate) {
    int done = 0;
    for (Candidate& cand : r.candidates) {
      if (done == spec.simulate_top || !cand.error.empty() || !cand.fits) break;
      for (const plan::StrategyOptions& o : tried) {
        if (Label(o) != cand.label) continue;
        const topo::Cluster& c = clusters.Get(spec.cluster, spec.gpus, ServerHosts(o, base));
        const plan::Plan p = plan::Lower(net, c, o);
        const cost::Summary s = simulate(p, c, single);
        Candidate sim = ToCandidate(o, p, s, c);
        sim.estimate_iteration_time_s = cand.iteration_time_s;
        cand = sim;
        break;
      }
      ++done;
    }
    Rank(r.candidates);
  }
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
  return j.dump(2) + "\n";
}

std::string WriteVariantCluster(const std::string& description, const Variant& v,
                                const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::string file = v.name;
  for (char& c : file)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  const std::string path = (std::filesystem::path(dir) / (file + ".json")).string();
  WriteFileAtomic(path, ApplyVariant(description, v));
  return path;
}

SweepReport WhatIf(const SearchSpec& spec, const std::vector<int>& gpus,
                   const std::vector<Variant>& variants, const std::string& cluster_dir) {
  namespace fs = std::filesystem;
  const int max_gpus = *std::max_element(gpus.begin(), gpus.end());
  auto base_cluster = topo::LoadCluster(spec.cluster, {max_gpus, 0, 0});
  graph::Network base_net = graph::LoadModel(spec.model, spec.batch);
  SweepReport r;
  SearchSpec s0 = spec;
  s0.gpus = max_gpus;
  r.facts = MakeFacts(base_net, *base_cluster, s0);
  r.facts.gpus = 0;
  r.facts.global_batch = 0;

  // Variant clusters are written to a private temporary folder while the sweep runs and copied
  // to `cluster_dir` only once it has succeeded: a failed sweep leaves cluster_dir as it was.
  struct TemporaryDir {
    fs::path path;
    ~TemporaryDir() {
      std::error_code ec;
      if (!path.empty()) fs::remove_all(path, ec);
    }
  } dir;
  std::vector<std::pair<std::string, std::string>> variant_files;  // file name, content
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
      if (dir.path.empty()) {
        const fs::path tmp =
            fs::temp_directory_path() / ("convscale-whatif-" + std::to_string(::getpid()));
        std::error_code ec;
        fs::create_directories(tmp, ec);
        if (ec)
          throw RuntimeError(tmp.string() + ": cannot create a temporary folder: " + ec.message());
        dir.path = tmp;
      }
      s.cluster = WriteVariantCluster(base_cluster->description_json(), v, dir.path.string());
      variant_files.push_back({fs::path(s.cluster).filename().string(),
                               ApplyVariant(base_cluster->description_json(), v)});
    }
    runs.push_back({v, s});
  }

  double x1 = 0;  // the baseline's single-device throughput: every speedup is over it
  for (const auto& [variant, vspec] : runs) {
    graph::Network net = graph::LoadModel(vspec.model, vspec.batch);
    ClusterCache clusters;
    EstimatorCache estimators(net);
    double single = 0;
    for (const std::string& strategy : vspec.strategies) {
      for (int g : gpus) {
        SearchSpec s = vspec;
        s.gpus = g;
        const topo::Cluster& base = clusters.Get(s.cluster, g, 0);
        SweepPoint best;
        best.strategy = strategy;
        best.variant = variant.name;
        best.gpus = g;
        best.fits = false;
        bool any = false;
        // One device: every strategy is the same single-device training.
        std::vector<plan::StrategyOptions> options;
        if (g == 1) {
          SearchSpec one = s;
          options = {CandidateOptions("dp", one, base).front()};
        } else {
          options = CandidateOptions(strategy, s, base);
        }
        for (const plan::StrategyOptions& o : options) {
          try {
            const topo::Cluster& c = clusters.Get(s.cluster, g, ServerHosts(o, base));
            if (single <= 0) single = cost::SingleDeviceTime(net, c, o, s.batch, {});
            cost::StrategyEstimator& estimator = estimators.For(c);
            const cost::Summary sum = estimator.Estimate(o, single);
            const Candidate cand = ToCandidate(o, estimator.last_plan(), sum, c);
            if (x1 <= 0 && sum.single_device_time_s > 0) x1 = spec.batch / sum.single_device_time_s;
            const bool better = !any || (cand.fits && !best.fits) ||
                                (cand.fits == best.fits &&
                                 cand.throughput_samples_per_s > best.throughput_samples_per_s);
            if (better) {
              best.fits = cand.fits;
              best.throughput_samples_per_s = cand.throughput_samples_per_s;
              best.iteration_time_s = cand.iteration_time_s;
              best.label = g == 1 ? "1 device" : cand.label;
              best.predicted_by = cand.predicted_by;
              best.comm_time_s = cand.comm_time_s;
              best.exposed_comm_time_s = cand.exposed_comm_time_s;
              best.memory_peak_bytes = cand.memory_peak_bytes;
              best.status = cand.fits ? "ok" : "does-not-fit";
              best.reason = cand.fits ? "" : Explain(r.facts, cand, cand);
            }
            any = true;
          } catch (const InputError&) {
          }
        }
        if (!any) continue;
        r.points.push_back(best);
      }
    }
  }
  if (!cluster_dir.empty() && !variant_files.empty()) {
    std::error_code ec;
    fs::create_directories(cluster_dir, ec);
    if (ec || !fs::is_directory(cluster_dir, ec))
      throw InputError(cluster_dir + ": cannot create the folder for the what-if clusters: " +
                       (ec ? ec.message() : std::string("a file of that name exists")));
    for (const auto& [file, text] : variant_files)
      WriteFileAtomic((fs::path(cluster_dir) / file).string(), text);
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
