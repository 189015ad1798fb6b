// The options every command that builds a plan shares (plan, estimate, simulate, report...):
// AddPlanOptions adds them to a CLI11 subcommand, BuildPlan turns them into the network, the
// cluster, the lowered plan, the calibration and the single-device reference time.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "model/cost/estimate.h"
#include "model/graph/network.h"
#include "model/plan/plan.h"
#include "model/plan/strategy.h"
#include "topologies/cluster.h"

namespace convscale::cli {

// Losses (docs/simulator.md, "Losses"): --loaded-node-efficiency, --compute-cv,
// --iteration-overhead as given ("" = the devices' default, plan::ResolveLosses); --no-losses
// models none.
struct LossRequest {
  std::string loaded_node_efficiency, compute_cv, iteration_overhead;
  bool none = false;
};

// Adds --loaded-node-efficiency, --compute-cv, --iteration-overhead and --no-losses.
void AddLossOptions(CLI::App* app, LossRequest& r);

// The losses the flags ask for (InputError naming the flag on a bad value).
plan::LossOptions ToLosses(const LossRequest& r);

struct PlanRequest {
  std::string model, cluster;
  // The cluster's JSON description when it was made in memory (a sweep's what-if variant);
  // `cluster` is then the name it is known by. "" = load `cluster` by name or file.
  std::string cluster_text;
  int gpus = 0, nodes = 0;
  int64_t batch = 0, global_batch = 0;
  std::string strategy = "dp";
  std::string algorithm = "ring";
  std::string bucket_size = "25MiB";
  std::string grad_precision = "fp32";
  std::string precision;  // "" = the devices' default (plan::ComputePrecision)
  std::string optimizer = "sgd";
  int stages = 0, micro_batches = 1;
  std::string schedule = "gpipe";
  std::string hybrid = "dp-pp";
  int servers = 0;
  std::string ps_placement = "dedicated";
  std::string ps_aggregation = "none";
  bool async = false;
  int staleness = -1;
  double single_gpu_throughput = 0;  // samples/s of one device; 0 = not given
  std::string profile;               // profile file; "" = none
  bool allow_oversubscribe = false;
  LossRequest losses;
};

// The help text of --precision (every command that takes one says the same default).
extern const char* const kPrecisionHelp;

// Adds --model --cluster --gpus --nodes --batch --global-batch --strategy --algorithm
// --bucket-size --grad-precision --precision --optimizer --stages --micro-batches --schedule
// --hybrid --servers --ps-placement --ps-aggregation --async --staleness --single-gpu-throughput
// --profile --allow-oversubscribe and the losses (AddLossOptions).
// `require_model` makes --model and --cluster required.
void AddPlanOptions(CLI::App* app, PlanRequest& r, bool require_model = true);

// The options that tune a strategy, without choosing the model, cluster, size or strategy
// (`sweep` covers those itself): --batch --global-batch --algorithm --bucket-size
// --grad-precision --precision --optimizer --stages --micro-batches --schedule --hybrid --servers
// --ps-placement --ps-aggregation --async --staleness and the losses (AddLossOptions).
void AddStrategyOptions(CLI::App* app, PlanRequest& r);

// The strategy options the flags ask for (InputError naming the flag on a bad value).
plan::StrategyOptions ToStrategyOptions(const PlanRequest& r);

struct BuiltPlan {
  std::unique_ptr<graph::Network> network;
  std::unique_ptr<topo::Cluster> cluster;
  plan::StrategyOptions options;
  plan::Plan plan;
  std::shared_ptr<cost::Profile> profile;  // when --profile was given
  cost::Calibration calibration;           // points into `profile`
  double single_device_time_s = 0;         // reference for speedup
};

// The rows a plan's text summary (estimate, simulate) opens with, each "%-24s %s": "predicted by"
// `predictor`; "assumed": "compute bf16, gradients fp32, global batch 256 (32 per device)"; and
// "losses": the losses modelled (docs/simulator.md, "Losses") or "none"; and one "note" per
// note BuildPlan recorded (a measurement used above the roofline).
std::string AssumptionRows(const plan::Plan& p, const std::string& predictor);

// Loads the model and the cluster, lowers the strategy, checks memory (unless
// --allow-oversubscribe), calibrates, and computes the single-device reference time.
BuiltPlan BuildPlan(const PlanRequest& r);

}  // namespace convscale::cli
