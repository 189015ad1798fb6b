#include "cli/common_plan_options.h"

#include <cstdio>
#include <stdexcept>

#include "model/graph/model_json.h"
#include "model/graph/zoo.h"
#include "model/util/error.h"
#include "model/util/units.h"

namespace convscale::cli {

const char* const kPrecisionHelp =
    "compute precision: fp32, tf32, fp16, bf16 (default: mixed precision where the devices have "
    "tensor cores for it, bf16 on A100/H100, fp16 on V100; else fp32)";

namespace {
template <class F>
auto Flag(const std::string& flag, const std::string& value, F parse) {
  try {
    return parse(value);
  } catch (const std::invalid_argument& e) {
    throw InputError(flag + " " + value + ": " + e.what());
  }
}
}  // namespace

void AddPlanOptions(CLI::App* app, PlanRequest& r, bool require_model) {
  auto* m = app->add_option("--model", r.model, "zoo model name or model file (.json/.onnx)");
  auto* c = app->add_option("--cluster", r.cluster, "built-in cluster name or cluster file");
  if (require_model) {
    m->required();
    c->required();
  }
  app->add_option("--gpus", r.gpus, "compute devices to use (default: all of the cluster)")
      ->check(CLI::PositiveNumber);
  app->add_option("--nodes", r.nodes, "nodes to use (default: derived from --gpus)")
      ->check(CLI::PositiveNumber);
  app->add_option("--strategy", r.strategy, "dp, mp, ps or hybrid")->capture_default_str();
  AddStrategyOptions(app, r);
  app->add_option("--single-gpu-throughput", r.single_gpu_throughput,
                  "measured samples/s of one device at --batch: calibrates the efficiency (above "
                  "the roofline: used as given, with a note)");
  app->add_option("--profile", r.profile, "per-layer profile (convscale profile) to use");
  app->add_flag("--allow-oversubscribe", r.allow_oversubscribe,
                "keep a plan that does not fit in device memory");
}

void AddLossOptions(CLI::App* app, LossRequest& r) {
  auto* e = app->add_option("--loaded-node-efficiency", r.loaded_node_efficiency,
                            "speed of a device while other devices of its node compute, as a "
                            "fraction of its speed alone (default: 0.97 on GPUs, 1 on CPUs; "
                            "docs/simulator.md, \"Losses\")");
  auto* c = app->add_option("--compute-cv", r.compute_cv,
                            "coefficient of variation of a rank's compute time: a synchronous "
                            "step waits sqrt(2 ln N) standard deviations for the slowest of N "
                            "ranks (default: 0.01 on GPUs, 0 on CPUs)");
  auto* t = app->add_option("--iteration-overhead", r.iteration_overhead,
                            "framework time per iteration of a run of 2 or more ranks, with a "
                            "unit (default: 2.5ms on GPUs, 0s on CPUs)");
  app->add_flag("--no-losses", r.none,
                "model none of the losses (the three flags above at 1, 0 and 0s): the network "
                "and the roofline alone")
      ->excludes(e)
      ->excludes(c)
      ->excludes(t);
}

plan::LossOptions ToLosses(const LossRequest& r) {
  if (r.none) return plan::LossOptions::None();
  auto number = [](const std::string& text) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size()) throw std::invalid_argument("not a number");
    return v;
  };
  plan::LossOptions l;
  if (!r.loaded_node_efficiency.empty())
    l.loaded_node_efficiency = Flag("--loaded-node-efficiency", r.loaded_node_efficiency, number);
  if (!r.compute_cv.empty()) l.compute_cv = Flag("--compute-cv", r.compute_cv, number);
  if (!r.iteration_overhead.empty())
    l.iteration_overhead_s = Flag("--iteration-overhead", r.iteration_overhead, units::ParseTime);
  return l;
}

void AddStrategyOptions(CLI::App* app, PlanRequest& r) {
  app->add_option("--batch", r.batch, "samples per device (per replica for pipelines); default 32")
      ->check(CLI::PositiveNumber);
  app->add_option("--global-batch", r.global_batch, "samples per iteration over all replicas")
      ->check(CLI::PositiveNumber);
  app->add_option("--algorithm", r.algorithm,
                  "all-reduce algorithm: ring, tree, hierarchical, halving-doubling")
      ->capture_default_str();
  app->add_option("--bucket-size", r.bucket_size, "gradient bucket cap, with a unit (25MiB)")
      ->capture_default_str();
  app->add_option("--grad-precision", r.grad_precision,
                  "gradient precision on the wire: fp32, "
                  "fp16, bf16")
      ->capture_default_str();
  app->add_option("--precision", r.precision, kPrecisionHelp);
  app->add_option("--optimizer", r.optimizer, "sgd (with momentum) or adam")->capture_default_str();
  app->add_option("--stages", r.stages, "pipeline stages (mp: default one per device; hybrid: 2)")
      ->check(CLI::PositiveNumber);
  app->add_option("--micro-batches", r.micro_batches, "micro-batches per iteration (pipelines)")
      ->capture_default_str();
  app->add_option("--schedule", r.schedule, "pipeline schedule: gpipe or 1f1b")
      ->capture_default_str();
  app->add_option("--hybrid", r.hybrid,
                  "hybrid kind: dp-pp (data x pipeline) or owt (one "
                  "weird trick: dp for conv, mp for fully connected)")
      ->capture_default_str();
  app->add_option("--servers", r.servers,
                  "parameter servers (default: one per node, or the "
                  "dedicated hosts)")
      ->check(CLI::PositiveNumber);
  app->add_option("--ps-placement", r.ps_placement, "dedicated, host or colocated")
      ->capture_default_str();
  app->add_option("--ps-aggregation", r.ps_aggregation,
                  "none (every GPU pushes its gradient) or node (one push per node of the "
                  "node's summed gradients)")
      ->capture_default_str();
  app->add_flag("--async", r.async, "asynchronous parameter server");
  app->add_option("--staleness", r.staleness, "async: staleness bound (-1 = unbounded)");
  AddLossOptions(app, r.losses);
}

plan::StrategyOptions ToStrategyOptions(const PlanRequest& r) {
  plan::StrategyOptions o;
  o.strategy = r.strategy;
  o.model = r.model;
  o.cluster = r.cluster;
  o.gpus = r.gpus;
  o.batch = r.batch;
  o.global_batch = r.global_batch;
  o.precision = r.precision;
  o.optimizer = r.optimizer;
  o.algorithm = Flag("--algorithm", r.algorithm, plan::ParseAlgorithm);
  o.bucket_bytes = Flag("--bucket-size", r.bucket_size, units::ParseBytes);
  o.grad_precision = Flag("--grad-precision", r.grad_precision, plan::ParseCommPrecision);
  o.stages = r.stages;
  o.micro_batches = r.micro_batches;
  o.schedule = Flag("--schedule", r.schedule, plan::ParsePipelineSchedule);
  o.hybrid = Flag("--hybrid", r.hybrid, plan::ParseHybridKind);
  o.servers = r.servers;
  o.ps_placement = Flag("--ps-placement", r.ps_placement, plan::ParsePsPlacement);
  o.ps_aggregation = Flag("--ps-aggregation", r.ps_aggregation, plan::ParsePsAggregation);
  o.async = r.async;
  o.staleness = r.staleness;
  o.losses = ToLosses(r.losses);
  if (r.batch < 0) throw InputError("--batch " + std::to_string(r.batch) + ": must be positive");
  // A bound far above any device's memory, so that sizes stay exact in doubles.
  constexpr int64_t kMaxBatch = int64_t{1} << 24;
  if (r.batch > kMaxBatch || r.global_batch > kMaxBatch * 65536)
    throw InputError(std::string(r.batch > kMaxBatch
                                     ? "--batch " + std::to_string(r.batch)
                                     : "--global-batch " + std::to_string(r.global_batch)) +
                     ": more samples than convscale supports (" + std::to_string(kMaxBatch) +
                     " per device; see docs/limits.md)");
  if (r.global_batch < 0)
    throw InputError("--global-batch " + std::to_string(r.global_batch) + ": must be positive");
  if (r.stages < 0) throw InputError("--stages " + std::to_string(r.stages) + ": must be positive");
  if (r.servers < 0)
    throw InputError("--servers " + std::to_string(r.servers) + ": must be positive");
  if (r.staleness < -1)
    throw InputError("--staleness " + std::to_string(r.staleness) +
                     ": must be -1 (unbounded) or a number of iterations (0 or more)");
  if (r.staleness != -1 && !r.async)
    throw InputError("--staleness " + std::to_string(r.staleness) +
                     ": a staleness bound applies only to an asynchronous parameter server; add "
                     "--async (with --strategy ps)");
  if (o.algorithm == plan::Algorithm::kDirect)
    throw InputError(
        "--algorithm direct: not an all-reduce algorithm for dp (ring, tree, "
        "hierarchical, halving-doubling)");
  return o;
}

namespace {
std::string FormatFactor(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", f);
  return buf;
}
}  // namespace

std::string AssumptionRows(const plan::Plan& p, const std::string& predictor) {
  const Json& o = p.context.options;
  std::string assumed = "compute " + p.precision;
  if (o.contains("grad_precision") && o["grad_precision"].is_string())
    assumed += ", gradients " + o["grad_precision"].get<std::string>();
  assumed += ", global batch " + std::to_string(p.global_batch);
  if (o.contains("batch") && o["batch"].is_number_integer())
    assumed += " (" + std::to_string(o["batch"].get<int64_t>()) +
               (p.context.strategy == "mp" || p.context.strategy == "hybrid" ? " per replica)"
                                                                             : " per device)");
  std::string out;
  auto row = [&](const char* key, const std::string& value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%-24s ", key);
    out += buf + value + "\n";
  };
  row("predicted by", predictor);
  row("assumed", assumed);
  plan::Losses l = plan::Losses::None();
  auto loss = [&o](const char* key, double& value) {
    if (o.contains(key) && o[key].is_number()) value = o[key].get<double>();
  };
  loss("loaded_node_efficiency", l.loaded_node_efficiency);
  loss("compute_cv", l.compute_cv);
  loss("iteration_overhead_s", l.iteration_overhead_s);
  row("losses",
      plan::Describe(l) + (l.none() ? "" : " (compute x" + FormatFactor(p.compute_factor) + ")"));
  if (o.contains("notes") && o["notes"].is_array())
    for (const Json& n : o["notes"])
      if (n.is_string()) row("note", n.get<std::string>());
  return out;
}

BuiltPlan BuildPlan(const PlanRequest& r) {
  BuiltPlan b;
  b.options = ToStrategyOptions(r);
  topo::ClusterOptions co;
  co.gpus = r.gpus;
  co.nodes = r.nodes;
  auto load = [&r](const topo::ClusterOptions& o) {
    return r.cluster_text.empty() ? topo::LoadCluster(r.cluster, o)
                                  : topo::LoadClusterText(r.cluster_text, r.cluster, o);
  };
  b.cluster = load(co);
  if (const int hosts = plan::DedicatedServerHosts(b.options, *b.cluster); hosts > 0) {
    co.server_hosts = hosts;
    b.cluster = load(co);  // again, with the servers' hosts
  }
  b.network = std::make_unique<graph::Network>(
      graph::LoadModel(r.model, r.batch > 0 ? r.batch : plan::kDefaultBatchPerDevice));
  if (b.options.model.empty()) b.options.model = b.network->name();
  if (r.model.find('/') != std::string::npos || r.model.find('.') != std::string::npos)
    b.options.model = b.network->name();
  b.plan = plan::Lower(*b.network, *b.cluster, b.options);
  // A model from a file travels in the plan, so `execute` needs only the plan.
  if (!graph::IsZooModel(r.model)) b.plan.context.network = graph::ModelToJson(*b.network);
  auto& opt = b.plan.context.options;
  opt["nodes"] = b.cluster->num_nodes();
  opt["allow_oversubscribe"] = r.allow_oversubscribe;
  if (!r.allow_oversubscribe) cost::CheckMemory(b.plan, *b.cluster);
  if (!r.profile.empty()) {
    b.profile = std::make_shared<cost::Profile>(cost::LoadProfile(r.profile));
    // A profile of another model would calibrate layers that are not there.
    for (const auto& [layer, times] : b.profile->layers)
      if (b.network->Find(layer) < 0)
        throw InputError(r.profile, "/layers",
                         "layer \"" + layer + "\" is not in model " + b.network->name() +
                             " (a profile of another model?)");
    b.calibration.profile = b.profile.get();
    opt["profile"] = r.profile;
  }
  const int64_t ref_batch = opt.contains("batch") ? opt["batch"].get<int64_t>() : r.batch;
  Json notes = Json::array();
  if (b.profile) {
    const std::string note =
        cost::ProfileAboveRooflineNote(*b.network, *b.cluster, b.options, ref_batch, b.calibration);
    if (!note.empty()) notes.push_back(note);
  }
  if (r.single_gpu_throughput != 0) {
    std::string note;
    b.calibration = cost::CalibrateEfficiency(*b.network, *b.cluster, b.options, ref_batch,
                                              r.single_gpu_throughput, b.calibration, note);
    opt["single_gpu_throughput"] = r.single_gpu_throughput;
    opt["efficiency"] = b.calibration.efficiency;
    if (b.calibration.compute_scale != 1) opt["compute_scale"] = b.calibration.compute_scale;
    if (!note.empty()) notes.push_back(note);
  }
  if (!notes.empty()) opt["notes"] = notes;
  b.single_device_time_s =
      cost::SingleDeviceTime(*b.network, *b.cluster, b.options, ref_batch, b.calibration);
  return b;
}

}  // namespace convscale::cli
