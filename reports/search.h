// The strategy search behind `convscale select` and `convscale whatif`: every strategy with its
// main options is estimated with cost::StrategyEstimator, the closed-form estimator behind
// `convscale estimate` (same numbers, with what does not depend on the options kept between
// candidates); then every candidate that fits, less those the estimate proves slower by more than
// its measured disagreement, is re-evaluated with a slower evaluator passed in (the SimGrid
// simulator, in child processes), which decides the ranking. Those that are costly to simulate
// (parameter servers) or whose estimate cannot rule them out (asynchronous servers, tree and
// halving-doubling all-reduce) are simulated after the others, only when their plan's lower bound
// (cost::LowerBound) is not already slower than the best simulated candidate. The evaluator is
// passed in, so this file does not depend on the simulator and tests can use a fake.
//
// Candidates at N devices (CandidateOptions):
//   dp      all-reduce ring, tree, hierarchical, halving-doubling; gradients fp32 or fp16;
//           buckets 25 MiB or 100 MiB
//   ps      servers one per node or two per node; dedicated hosts or co-located; sync or async
//   mp      N stages; 1 micro-batch (sequential), or 8 micro-batches (gpipe, 1f1b) when they
//           divide the replica's batch
// Every candidate trains the same global batch, batch x N: data-parallel replicas split it, a
// pipeline replica takes its share whole (mp: all of it).
//   hybrid  one weird trick (data parallel convolutions, model parallel classifier) with ring or
//           hierarchical all-reduce; DP x PP with 2 and 4 stages, 1f1b
// A candidate whose lowering is refused (an option that does not apply at this size) is kept
// with its error; a candidate whose peak device memory exceeds the device is kept as "does not
// fit".
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/cost/summary.h"
#include "model/graph/network.h"
#include "model/plan/strategy.h"
#include "reports/records.h"
#include "topologies/cluster.h"

namespace convscale::reports {

// Evaluates one lowered plan on the cluster it was lowered for; `single_device_time_s` is the
// reference for speedup (one device training its share of the batch).
using Evaluator = std::function<cost::Summary(const plan::Plan&, const topo::Cluster&,
                                              double single_device_time_s)>;

// The largest relative difference between the estimated and the simulated iteration time of one
// candidate that the agreement benchmark measured (bench/agreement-results.md: -20.1% to +12.1%
// at 8 devices, asynchronous parameter servers and tree and halving-doubling all-reduce aside,
// which are never pruned on their estimate, only on their lower bound), rounded up: the margin by
// which select and whatif trust an estimate to rule a candidate out without simulating it.
inline constexpr double kEstimateDisagreement = 0.25;

struct SearchSpec {
  std::string model;    // zoo name or model file
  std::string cluster;  // built-in name or cluster file
  int gpus = 8;
  int64_t batch = plan::kDefaultBatchPerDevice;  // samples per device
  std::string precision;  // "" = the devices' default (plan::ComputePrecision)
  std::string optimizer = "sgd";
  plan::LossOptions losses;  // every candidate's (docs/simulator.md, "Losses")
  std::vector<std::string> strategies = {"dp", "ps", "mp", "hybrid"};
  // Candidates re-evaluated with the slow evaluator (when given): -1 every one that runs and
  // fits and is not pruned; K >= 0 at most the best K of those by estimate (0: estimates only).
  int simulate_top = -1;
  // Pruning: a candidate whose estimate proves it slower than the best estimated candidate, were
  // every estimate off by this fraction either way, is not simulated (negative: none pruned).
  double prune_margin = kEstimateDisagreement;
  int jobs = 0;  // simulations run at once, each in its own child process (0: the CPUs available)
  std::optional<double> gpu_hour_price_usd;  // overrides the cluster's price
};

// The options tried for one strategy at `gpus` devices on `cluster`.
std::vector<plan::StrategyOptions> CandidateOptions(const std::string& strategy,
                                                    const SearchSpec& spec,
                                                    const topo::Cluster& cluster);

// Model and cluster facts for headings and reasons (parameters in fully connected layers,
// inter-node bandwidth, device, price, single-device throughput from `estimate` at 1 device).
Facts MakeFacts(const graph::Network& net, const topo::Cluster& cluster, const SearchSpec& spec);

// Fills a Candidate from an evaluated summary and its plan (memory fit from the plan's ranks
// against each rank's device capacity).
Candidate ToCandidate(const plan::StrategyOptions& o, const plan::Plan& p, const cost::Summary& s,
                      const topo::Cluster& cluster);

// Strategy selection: every candidate estimated (uncalibrated); those that fit and are not pruned
// (SearchSpec::prune_margin, simulate_top) lowered in full and re-evaluated with `simulate` (when
// non-null; their numbers then come from it, `predicted_by` says so and the estimate stays
// beside them), `jobs` at a time in child processes; then ranked and explained.
SelectionReport Select(const SearchSpec& spec, const Evaluator& simulate = nullptr);

// A what-if change: "network.bandwidth=2x", "gpu.flops=2x", "batch=2x", "cluster=NAME|FILE".
struct Variant {
  std::string name;  // as given
  std::string key, value;
};
// Parses "KEY=VALUE"; unknown keys and malformed factors are InputErrors naming the flag.
Variant ParseVariant(const std::string& text);

// The factor of a network.bandwidth, gpu.flops or batch variant ("2x" -> 2).
double VariantFactor(const Variant& v);

// The cluster description with a variant applied (for network/gpu changes), as JSON text.
// `description` is Cluster::description_json() of the baseline. A value the factor takes out of
// range is an InputError naming the flag: "--vary network.bandwidth=1e-320x: /node_types/...".
std::string ApplyVariant(const std::string& description, const Variant& v);

// The file name of a variant's cluster description: "<variant>.json", the variant's name with
// characters other than letters, digits, '.' and '-' made '_' ("network.bandwidth_2x.json").
std::string VariantClusterFile(const Variant& v);

// The sweep: for each variant ("baseline" first), strategy and device count, the best options of
// that strategy as one point: every option estimated (uncalibrated), those not pruned simulated
// with `simulate` when given (as in Select), the fastest that fits kept with its predictor.
// Variant clusters are built in memory (messages name the flag) and returned in
// `variant_clusters`; nothing is written.
SweepReport WhatIf(const SearchSpec& spec, const std::vector<int>& gpus,
                   const std::vector<Variant>& variants, const Evaluator& simulate = nullptr);

}  // namespace convscale::reports
