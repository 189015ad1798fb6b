// Shared lowering pieces: per-sample costs, the rank builder, forward/backward emitters, buckets,
// the memory model and the Lower() entry point.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "model/plan/lower_common.h"

#include "model/plan/memory_plan.h"
#include "model/util/context.h"
#include "model/util/error.h"

namespace convscale::plan {

namespace {
template <typename E>
struct Named {
  E value;
  const char* name;
};
constexpr Named<PsPlacement> kPlacements[] = {{PsPlacement::kDedicated, "dedicated"},
                                              {PsPlacement::kHost, "host"},
                                              {PsPlacement::kColocated, "colocated"}};
constexpr Named<PsAggregation> kAggregations[] = {{PsAggregation::kNone, "none"},
                                                  {PsAggregation::kNode, "node"}};
constexpr Named<PipelineSchedule> kSchedules[] = {{PipelineSchedule::kGpipe, "gpipe"},
                                                  {PipelineSchedule::k1F1B, "1f1b"}};
constexpr Named<HybridKind> kHybrids[] = {{HybridKind::kDataPipeline, "dp-pp"},
                                          {HybridKind::kOneWeirdTrick, "owt"}};

template <typename E, size_t N>
const char* NameIn(const Named<E> (&t)[N], E e) {
  for (const auto& x : t)
    if (x.value == e) return x.name;
  return "unknown";
}
template <typename E, size_t N>
E ParseIn(const Named<E> (&t)[N], const std::string& s, const char* what) {
  std::vector<std::string> names;
  std::string list;
  for (const auto& x : t) {
    if (s == x.name) return x.value;
    names.emplace_back(x.name);
    list += (list.empty() ? "" : ", ") + std::string(x.name);
  }
  throw std::invalid_argument("\"" + s + "\" is not " + what + " (" + list + ")" +
                              DidYouMean(s, names));
}
}  // namespace

const char* Name(PsPlacement p) {
  return NameIn(kPlacements, p);
}
PsPlacement ParsePsPlacement(const std::string& s) {
  return ParseIn(kPlacements, s, "a parameter-server placement");
}
const char* Name(PsAggregation a) {
  return NameIn(kAggregations, a);
}
PsAggregation ParsePsAggregation(const std::string& s) {
  return ParseIn(kAggregations, s, "a parameter-server aggregation");
}
const char* Name(PipelineSchedule s) {
  return NameIn(kSchedules, s);
}
PipelineSchedule ParsePipelineSchedule(const std::string& s) {
  return ParseIn(kSchedules, s, "a pipeline schedule");
}
const char* Name(HybridKind h) {
  return NameIn(kHybrids, h);
}
HybridKind ParseHybridKind(const std::string& s) {
  return ParseIn(kHybrids, s, "a hybrid kind");
}

Json OptionsToJson(const StrategyOptions& o) {
  Json j = Json::object();
  j["strategy"] = o.strategy;
  j["gpus"] = o.gpus;
  j["batch"] = o.batch;
  j["global_batch"] = o.global_batch;
  j["precision"] = o.precision;
  j["optimizer"] = o.optimizer;
  if (o.strategy == "dp" || o.strategy == "hybrid") {
    j["algorithm"] = Name(o.algorithm);
    j["bucket_bytes"] = o.bucket_bytes;
    j["grad_precision"] = Name(o.grad_precision);
  }
  if (o.strategy == "mp" || o.strategy == "hybrid") {
    j["stages"] = o.stages;
    j["micro_batches"] = o.micro_batches;
    j["schedule"] = Name(o.schedule);
  }
  if (o.strategy == "hybrid") j["hybrid"] = Name(o.hybrid);
  if (o.strategy == "ps") {
    j["servers"] = o.servers;
    j["ps_placement"] = Name(o.ps_placement);
    j["ps_aggregation"] = Name(o.ps_aggregation);
    j["async"] = o.async;
    if (o.async) j["staleness"] = o.staleness;  // a bound only asynchronous servers have
    j["grad_precision"] = Name(o.grad_precision);
  }
  // Recorded only when modelled, so plans without losses keep their bytes.
  return j;
}

Losses ResolveLosses(const LossOptions& o, const topo::Cluster& cluster) {
  const bool gpus = cluster.num_devices() > 0 && cluster.endpoint(0).type &&
                    cluster.endpoint(0).type->kind == "gpu";
  Losses l = gpus ? Losses{} : Losses::None();
  if (o.loaded_node_efficiency) l.loaded_node_efficiency = *o.loaded_node_efficiency;
  if (o.compute_cv) l.compute_cv = *o.compute_cv;
  if (o.iteration_overhead_s) l.iteration_overhead_s = *o.iteration_overhead_s;
  return l;
}

std::string Describe(const Losses& l) {
  std::string out;
  auto part = [&out](const char* format, double v) {
    char buf[96];
    std::snprintf(buf, sizeof buf, format, v);
    out += (out.empty() ? "" : ", ") + std::string(buf);
  };
  if (l.loaded_node_efficiency != 1) part("loaded-node efficiency %g", l.loaded_node_efficiency);
  if (l.compute_cv != 0) part("compute-time CV %g", l.compute_cv);
  if (l.iteration_overhead_s != 0) part("iteration overhead %g s", l.iteration_overhead_s);
  return out.empty() ? "none modelled" : out;
}

void ApplyLosses(Plan& p, const topo::Cluster& cluster, const StrategyOptions& o) {
  int workers = 0;
  bool node_shared = false;
  std::map<int, int> per_node;  // node -> worker and stage ranks on its devices
  for (const Rank& r : p.ranks) {
    if (r.role == Role::kServer) continue;
    ++workers;
    const topo::Endpoint& e = cluster.endpoint(r.endpoint);
    if (e.kind == topo::EndpointKind::kDevice && e.node >= 0 && ++per_node[e.node] >= 2)
      node_shared = true;
  }
  const Losses l = ResolveLosses(o.losses, cluster);
  double factor = 1;
  if (node_shared) factor /= l.loaded_node_efficiency;
  if (workers >= 2 && !p.async) factor *= 1 + l.compute_cv * std::sqrt(2 * std::log(workers));
  p.compute_factor = factor;
  p.iteration_overhead_s = workers >= 2 ? l.iteration_overhead_s : 0;
  // Recorded only when modelled, so plans without losses keep their bytes.
  Json& j = p.context.options;
  if (!j.is_object()) return;
  for (const char* key : {"loaded_node_efficiency", "compute_cv", "iteration_overhead_s"})
    j.erase(key);
  if (l.loaded_node_efficiency != 1) j["loaded_node_efficiency"] = l.loaded_node_efficiency;
  if (l.compute_cv != 0) j["compute_cv"] = l.compute_cv;
  if (l.iteration_overhead_s != 0) j["iteration_overhead_s"] = l.iteration_overhead_s;
}

namespace detail {

int ActivationBytes(const std::string& precision) {
  if (precision == "fp32" || precision == "tf32") return 4;
  if (precision == "fp16" || precision == "bf16") return 2;
  throw InputError("--precision " + precision +
                   ": not a compute precision (fp32, tf32, fp16, bf16)" +
                   DidYouMean(precision, {"fp32", "tf32", "fp16", "bf16"}));
}

NetCosts::NetCosts(const graph::Network& network, const std::string& precision) : net(network) {
  if (net.batch() < 1)
    throw InputError(net.name() + ": the network has no inferred shapes (call Infer first)");
  n = static_cast<int>(net.size());
  act_scale = ActivationBytes(precision) / 4.0;
  const double B = static_cast<double>(net.batch());
  auto resize = [&](auto&... v) { (v.assign(n, 0), ...); };
  resize(fwd_flops, bwd_data_flops, bwd_weight_flops, fwd_bytes, bwd_data_bytes, bwd_weight_bytes,
         out_bytes, in_bytes, saved_bytes, params, weight_bytes, own_saved_bytes,
         kept_output_bytes);
  keepers = net.SavedTensorKeepers();
  has_bwd_data.assign(n, 0);
  has_bwd_weight.assign(n, 0);
  needs_bwd.assign(n, 0);
  consumers.assign(n, {});
  for (int v = 0; v < n; ++v) {
    const graph::Layer& l = net.layer(v);
    for (int u : l.inputs) consumers[u].push_back(v);
    const double kept_output = keepers[v].empty() ? 0 : l.cost.output_bytes;
    kept_output_bytes[v] = kept_output / B * act_scale;
    if (l.type == graph::LayerType::kInput) continue;
    own_saved_bytes[v] = (l.cost.saved_bytes - kept_output) / B * act_scale;
    order.push_back(v);
    const graph::LayerCost& c = l.cost;
    double in = 0;
    for (const auto& s : l.in_shapes) in += static_cast<double>(s.elements()) * 4.0;
    fwd_flops[v] = c.flops_forward / B;
    bwd_data_flops[v] = c.flops_backward_data / B;
    bwd_weight_flops[v] = c.flops_backward_weight / B;
    out_bytes[v] = c.output_bytes / B * act_scale;
    in_bytes[v] = in * act_scale;
    saved_bytes[v] = c.saved_bytes / B * act_scale;
    const bool view = l.type == graph::LayerType::kFlatten;  // a view: no kernel, no traffic
    fwd_bytes[v] = view ? 0 : in_bytes[v] + out_bytes[v];
    bwd_data_bytes[v] = view ? 0 : out_bytes[v] + saved_bytes[v] + in_bytes[v];
    bwd_weight_bytes[v] = out_bytes[v] + saved_bytes[v];
    params[v] = static_cast<double>(c.params);
    weight_bytes[v] = c.weight_bytes;
    total_params += params[v];
    has_bwd_data[v] = l.needs_input_grad;
    has_bwd_weight[v] = c.params > 0;
    needs_bwd[v] = has_bwd_data[v] || has_bwd_weight[v];
    if (c.params > 0) param_layers.push_back(v);
  }
  // The network charges a saved tensor to its producer; the input's (kept for the first layers'
  // weight gradients) goes to its first consumer, so that it lands on that layer's stage.
  if (!consumers[0].empty()) {
    const int first = *std::min_element(consumers[0].begin(), consumers[0].end());
    saved_bytes[first] += net.layer(0).cost.saved_bytes / B * act_scale;
  }
}

double NetCosts::Flops(int v, Phase ph, int64_t samples) const {
  const double s = static_cast<double>(samples);
  switch (ph) {
    case Phase::kForward:
      return fwd_flops[v] * s;
    case Phase::kBackwardData:
      return bwd_data_flops[v] * s;
    case Phase::kBackwardWeight:
      return bwd_weight_flops[v] * s;
    default:
      return 0;
  }
}

double NetCosts::Bytes(int v, Phase ph, int64_t samples) const {
  const double s = static_cast<double>(samples);
  switch (ph) {
    case Phase::kForward:
      return fwd_bytes[v] * s + weight_bytes[v];
    case Phase::kBackwardData:
      return bwd_data_bytes[v] * s + weight_bytes[v];
    case Phase::kBackwardWeight:
      return bwd_weight_bytes[v] * s + 2 * weight_bytes[v];
    default:
      return 0;
  }
}

namespace {
void Normalize(std::vector<int>& deps) {
  deps.erase(std::remove(deps.begin(), deps.end(), -1), deps.end());
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
}
}  // namespace

RankBuilder::RankBuilder(Rank& r, bool reuse, bool named)
    : rank_(r), reuse_(reuse), named_(named), next_(reuse ? 0 : r.tasks.size()) {}

RankBuilder::~RankBuilder() {
  if (reuse_ && next_ < rank_.tasks.size())
    rank_.tasks.erase(rank_.tasks.begin() + static_cast<std::ptrdiff_t>(next_), rank_.tasks.end());
}

Task& RankBuilder::Next(TaskKind kind, std::string&& name, const std::vector<int>& deps,
                        int extra) {
  const size_t id = next_++;
  if (id < rank_.tasks.size()) {
    // Reuse: every field back to its default; copy-assigning the empty name and lists keeps
    // their storage.
    static const Task kDefault;
    Task& t = rank_.tasks[id];
    t = kDefault;
    t.name.assign(name);
  } else {
    rank_.tasks.emplace_back();
    rank_.tasks.back().name = std::move(name);
  }
  Task& t = rank_.tasks[id];
  t.id = static_cast<int>(id);
  t.kind = kind;
  t.deps.assign(deps.begin(), deps.end());
  if (extra >= 0) t.deps.push_back(extra);
  Normalize(t.deps);
  return t;
}

int RankBuilder::Compute(std::string name, Phase ph, int layer, int mb, int64_t samples,
                         double flops, double bytes, const std::vector<int>& deps) {
  Task& t = Next(TaskKind::kCompute, std::move(name), deps, last_compute_);
  t.phase = ph;
  t.layer = layer;
  t.micro_batch = mb;
  t.samples = samples;
  t.flops = flops;
  t.bytes = bytes;
  last_compute_ = t.id;
  return last_compute_;
}

int RankBuilder::Collective(std::string name, plan::Collective c, Algorithm a, CommPrecision p,
                            int group, int64_t id, double bytes, const std::vector<int>& deps,
                            int bucket) {
  Task& t = Next(TaskKind::kCollective, std::move(name), deps, last_comm_);
  t.collective = c;
  t.algorithm = a;
  t.precision = p;
  t.group = group;
  t.collective_id = id;
  t.comm_bytes = bytes;
  t.bucket = bucket;
  last_comm_ = t.id;
  return last_comm_;
}

int RankBuilder::Send(std::string name, int peer, int64_t tag, double bytes, CommPrecision p,
                      const std::vector<int>& deps, int mb) {
  Task& t = Next(TaskKind::kSend, std::move(name), deps, -1);
  t.peer = peer;
  t.tag = tag;
  t.comm_bytes = bytes;
  t.precision = p;
  t.micro_batch = mb;
  return t.id;
}

int RankBuilder::Recv(std::string name, int peer, int64_t tag, double bytes, CommPrecision p,
                      const std::vector<int>& deps, int mb) {
  Task& t = Next(TaskKind::kRecv, std::move(name), deps, -1);
  t.peer = peer;
  t.tag = tag;
  t.comm_bytes = bytes;
  t.precision = p;
  t.micro_batch = mb;
  return t.id;
}

void EmitForward(RankBuilder& b, const NetCosts& c, const std::vector<int>& layers, int mb,
                 int64_t samples, Pass& pass, const std::string& suffix) {
  for (int v : layers) {
    std::vector<int>& deps = b.scratch();
    for (int u : c.net.layer(v).inputs) deps.push_back(pass.fwd[u]);
    pass.fwd[v] = b.Compute(b.named() ? c.net.layer(v).name + "/fwd" + suffix : std::string(),
                            Phase::kForward, v, mb, samples, c.Flops(v, Phase::kForward, samples),
                            c.Bytes(v, Phase::kForward, samples), deps);
  }
}

void EmitBackward(RankBuilder& b, const NetCosts& c, const std::vector<int>& layers,
                  const std::vector<char>& in_set, int mb, int64_t samples, Pass& pass,
                  const std::string& suffix) {
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    const int v = *it;
    if (!c.needs_bwd[v]) continue;
    std::vector<int>& deps = b.scratch();
    bool any_consumer = false;
    for (int w : c.consumers[v]) {
      if (pass.bwd_data[w] >= 0) deps.push_back(pass.bwd_data[w]);
      any_consumer = any_consumer || in_set[w] || pass.bwd_data[w] >= 0;
    }
    if (!any_consumer) deps.push_back(pass.fwd[v]);  // an output: the loss starts backward
    const std::string& name = c.net.layer(v).name;
    if (c.has_bwd_data[v]) {
      pass.bwd_data[v] =
          b.Compute(b.named() ? name + "/bwd-data" + suffix : std::string(), Phase::kBackwardData,
                    v, mb, samples, c.Flops(v, Phase::kBackwardData, samples),
                    c.Bytes(v, Phase::kBackwardData, samples), deps);
      pass.bwd_any[v] = pass.bwd_data[v];
    }
    if (c.has_bwd_weight[v]) {
      pass.bwd_weight[v] = b.Compute(b.named() ? name + "/bwd-weight" + suffix : std::string(),
                                     Phase::kBackwardWeight, v, mb, samples,
                                     c.Flops(v, Phase::kBackwardWeight, samples),
                                     c.Bytes(v, Phase::kBackwardWeight, samples), deps);
      pass.bwd_any[v] = pass.bwd_weight[v];
    }
  }
}

double UpdateFlopsPerParam(const std::string& optimizer) {
  // SGD with momentum: m = mu*m + g; w -= lr*m (4 FLOPs). Adam: two moment updates, bias
  // correction folded into the step size, sqrt, divide, step (12 FLOPs).
  return optimizer == "adam" ? 12 : 4;
}
double UpdateBytesPerParam(const std::string& optimizer) {
  // fp32: SGD reads w, g, m and writes w, m; Adam reads w, g, m, v and writes w, m, v.
  return optimizer == "adam" ? 28 : 20;
}
int OptimizerStateCopies(const std::string& optimizer) {
  return optimizer == "adam" ? 2 : 1;
}

void FillMemory(Rank& r, const MemoryInput& m) {
  const bool half = m.precision == "fp16" || m.precision == "bf16";
  r.memory_weights = m.params * (4 + (half ? 2 : 0));  // fp32 masters (+ a half-precision copy)
  r.memory_gradients = m.params * 4;
  r.memory_optimizer = m.optimizer_here ? m.params * 4 * OptimizerStateCopies(m.optimizer) : 0;
  r.memory_activations =
      m.activations >= 0 ? m.activations : m.saved_per_sample * m.samples_in_flight;
  r.memory_buffers = m.buffers;
  r.memory_workspace = m.workspace;
}

double PlannedActivations(const NetCosts& c, const Rank& r, int64_t samples) {
  return static_cast<double>(
      PlanRankMemory(c.net, r, samples, static_cast<int>(4 * c.act_scale), false).peak_live_bytes);
}

double Workspace(const NetCosts& c, const std::vector<int>& layers, int64_t samples,
                 int micro_batches) {
  double w = 0, stats = 0;
  for (int v : layers) {
    const graph::Layer& l = c.net.layer(v);
    if (c.has_bwd_data[v] && l.type != graph::LayerType::kFlatten &&
        l.type != graph::LayerType::kAdd) {
      double in = 0;
      for (const auto& s : l.in_shapes) in = std::max(in, static_cast<double>(s.elements()));
      w = std::max(w, in * 4 * c.act_scale * static_cast<double>(samples));
    }
    if (c.has_bwd_weight[v] && l.type != graph::LayerType::kBatchNorm)
      w = std::max(w, c.params[v] * 4);
    if (l.type == graph::LayerType::kBatchNorm) stats += 4.0 * static_cast<double>(l.out.c) * 4;
  }
  return w + stats * micro_batches;
}

int DevicesUsed(const topo::Cluster& cl, const StrategyOptions& o) {
  const int have = cl.num_devices();
  if (o.gpus < 0) throw InputError("--gpus " + std::to_string(o.gpus) + ": must be at least 1");
  if (o.gpus > have)
    throw InputError("--gpus " + std::to_string(o.gpus) + ": cluster \"" + cl.name() + "\" has " +
                     std::to_string(have) + " devices");
  return o.gpus > 0 ? o.gpus : have;
}

StrategyOptions ResolveBatch(const StrategyOptions& o, int replicas) {
  StrategyOptions r = o;
  if (o.batch > 0 && o.global_batch > 0 && o.batch * replicas != o.global_batch)
    throw InputError("--batch " + std::to_string(o.batch) + " and --global-batch " +
                     std::to_string(o.global_batch) + " disagree: " + std::to_string(replicas) +
                     " replicas x " + std::to_string(o.batch) + " = " +
                     std::to_string(o.batch * replicas));
  if (o.batch > 0) {
    r.batch = o.batch;
  } else if (o.global_batch > 0) {
    if (o.global_batch % replicas != 0)
      throw InputError("--global-batch " + std::to_string(o.global_batch) +
                       ": not divisible by the " + std::to_string(replicas) +
                       " data-parallel replicas");
    r.batch = o.global_batch / replicas;
  } else {
    r.batch = kDefaultBatchPerDevice;
  }
  r.global_batch = r.batch * replicas;
  return r;
}

void FillHeader(Plan& p, const StrategyOptions& o, const topo::Cluster& cl, int64_t global_batch) {
  p.context.model = o.model;
  p.context.cluster = o.cluster.empty() ? cl.name() : o.cluster;
  p.context.strategy = o.strategy;
  p.context.options = OptionsToJson(o);
  p.context.convscale_version = Version();
  p.context.git_sha = GitSha();
  p.global_batch = global_batch;
  p.precision = o.precision;
  p.optimizer = o.optimizer;
  p.cluster_endpoints = cl.num_endpoints();
}

std::vector<std::vector<int>> Buckets(const NetCosts& c, const std::vector<int>& param_layers,
                                      double cap, int grad_bytes_per_elem) {
  std::vector<std::vector<int>> out;
  std::vector<int> cur;
  double size = 0;
  for (auto it = param_layers.rbegin(); it != param_layers.rend(); ++it) {
    cur.push_back(*it);
    size += c.params[*it] * grad_bytes_per_elem;
    if (size >= cap) {
      out.push_back(std::move(cur));
      cur.clear();
      size = 0;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

int EmitBuckets(RankBuilder& b, const NetCosts& c, const std::vector<std::vector<int>>& buckets,
                const std::vector<int>& ready, const StrategyOptions& o, int group,
                int64_t first_collective_id) {
  int last = -1;
  const int eb = BytesPerElement(o.grad_precision);
  for (size_t k = 0; k < buckets.size(); ++k) {
    std::vector<int> deps;
    double bytes = 0;
    for (int v : buckets[k]) {
      deps.push_back(ready[v]);
      bytes += c.params[v] * eb;
    }
    last = b.Collective(b.named() ? "bucket" + std::to_string(k) + "/all-reduce" : std::string(),
                        plan::Collective::kAllReduce, o.algorithm, o.grad_precision, group,
                        first_collective_id + static_cast<int64_t>(k), bytes, deps,
                        static_cast<int>(k));
    b.task(last).layers = buckets[k];
  }
  return last;
}

}  // namespace detail

namespace {
std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void CheckOptions(const StrategyOptions& o) {
  if (o.optimizer != "sgd" && o.optimizer != "adam")
    throw InputError("--optimizer " + o.optimizer + ": not an optimizer (sgd, adam)" +
                     DidYouMean(o.optimizer, {"sgd", "adam"}));
  if (o.batch < 0 || o.global_batch < 0)
    throw InputError("--batch and --global-batch must be positive");
  if (o.micro_batches < 1)
    throw InputError("--micro-batches " + std::to_string(o.micro_batches) + ": must be at least 1");
  if (!(o.bucket_bytes > 0)) throw InputError("--bucket-size must be positive");
  // Only parameter servers receive gradients per worker; the other strategies sum them by
  // collectives (dp, hybrid) or keep them on one stage (mp).
  if (o.ps_aggregation == PsAggregation::kNode && o.strategy != "ps")
    throw InputError("--ps-aggregation node: only with --strategy ps (got --strategy " +
                     o.strategy + ")");
  const LossOptions& l = o.losses;
  if (l.loaded_node_efficiency &&
      !(*l.loaded_node_efficiency > 0 && *l.loaded_node_efficiency <= 1))
    throw InputError("--loaded-node-efficiency " + Number(*l.loaded_node_efficiency) +
                     ": must be above 0 and at most 1 (a fraction of one device's speed alone)");
  if (l.compute_cv && !(*l.compute_cv >= 0 && *l.compute_cv <= 1))
    throw InputError("--compute-cv " + Number(*l.compute_cv) +
                     ": must be between 0 and 1 (a coefficient of variation)");
  if (l.iteration_overhead_s && !(*l.iteration_overhead_s >= 0 && *l.iteration_overhead_s <= 3600))
    throw InputError("--iteration-overhead: must be between 0 s and 1 hour");
}

Plan LowerChecked(const detail::NetCosts& costs, const topo::Cluster& cluster,
                  const StrategyOptions& o) {
  if (o.strategy == "dp") return detail::LowerDataParallel(costs, cluster, o);
  if (o.strategy == "mp") return detail::LowerPipeline(costs, cluster, o);
  if (o.strategy == "ps") return detail::LowerParameterServer(costs, cluster, o);
  if (o.strategy == "hybrid")
    return o.hybrid == HybridKind::kOneWeirdTrick ? detail::LowerOneWeirdTrick(costs, cluster, o)
                                                  : detail::LowerPipeline(costs, cluster, o);
  throw InputError("--strategy " + o.strategy + ": not a strategy (dp, mp, ps, hybrid)" +
                   DidYouMean(o.strategy, {"dp", "mp", "ps", "hybrid"}));
}
}  // namespace

std::string ComputePrecision(const StrategyOptions& o, const topo::Cluster& cluster) {
  if (!o.precision.empty()) return o.precision;
  if (cluster.num_devices() == 0 || !cluster.endpoint(0).type) return "fp32";
  return topo::PrecisionName(topo::DefaultComputePrecision(*cluster.endpoint(0).type));
}

Plan Lower(const graph::Network& net, const topo::Cluster& cluster,
           const StrategyOptions& options) {
  StrategyOptions o = options;
  o.precision = ComputePrecision(options, cluster);
  detail::NetCosts costs(net, o.precision);
  CheckOptions(o);
  Plan p = LowerChecked(costs, cluster, o);
  ApplyLosses(p, cluster, o);
  Validate(p, "lowered plan");
  return p;
}

PsOutline OutlineParameterServer(const graph::Network& net, const topo::Cluster& cluster,
                                 const StrategyOptions& options) {
  StrategyOptions o = options;
  o.precision = ComputePrecision(options, cluster);
  if (o.strategy != "ps")
    throw InputError("--strategy " + o.strategy + ": only a parameter-server plan has an outline");
  detail::NetCosts costs(net, o.precision);
  CheckOptions(o);
  PsOutline outline;
  detail::LowerParameterServer(costs, cluster, o, &outline);
  ApplyLosses(outline.plan, cluster, o);
  return outline;
}

namespace detail {
Plan LowerForEstimate(const graph::Network& net, const topo::Cluster& cluster,
                      const StrategyOptions& o, std::vector<int>& same_as) {
  EstimateLowering lowering(net, cluster);
  return lowering.Lower(o, same_as, true);
}

EstimateLowering::EstimateLowering(const graph::Network& net, const topo::Cluster& cluster)
    : net_(net), cluster_(cluster) {}
EstimateLowering::~EstimateLowering() = default;

const Plan& EstimateLowering::Lower(const StrategyOptions& options, std::vector<int>& same_as,
                                    bool named) {
  StrategyOptions o = options;
  o.precision = ComputePrecision(options, cluster_);
  const NetCosts* costs = nullptr;
  for (const auto& [precision, c] : costs_)
    if (precision == o.precision) costs = c.get();
  if (!costs) {
    costs_.emplace_back(o.precision, std::make_unique<NetCosts>(net_, o.precision));
    costs = costs_.back().second.get();
  }
  CheckOptions(o);
  if (o.strategy == "dp") {
    LowerDataParallelInto(plan_, *costs, cluster_, o, &same_as, named);
  } else {
    plan_ = LowerChecked(*costs, cluster_, o);
    Validate(plan_, "lowered plan");
    same_as.clear();
  }
  ApplyLosses(plan_, cluster_, o);
  return plan_;
}
}  // namespace detail

}  // namespace convscale::plan
