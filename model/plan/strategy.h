// Strategies lowered to ONE plan (plan.h): data parallel (dp), model parallel / pipelined (mp),
// parameter server (ps) and the hybrids (DP x PP, and Krizhevsky's "one weird trick").
//
// Lower() reads per-layer FLOPs, parameters and saved activations from a Network inferred at any
// batch (costs are rescaled per sample) and the cluster's devices, rings and server endpoints. It
// records every option with its resolved value in Plan::context.options and fills each rank's
// memory fields (memory.h). Bad options are InputErrors naming the option ("--stages 5: ...").
// Docs: docs/plan-format.md (task graphs of every strategy).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/graph/network.h"
#include "model/plan/plan.h"
#include "topologies/cluster.h"

namespace convscale::plan {

enum class PsPlacement { kDedicated, kHost, kColocated };
const char* Name(PsPlacement);
PsPlacement ParsePsPlacement(const std::string&);  // "dedicated", "host", "colocated"

// Where a parameter-server plan sums the gradients of one node's workers: kNone, every worker
// pushes its own gradient to the servers; kNode, the first worker of each node sums its node's
// gradients (received over the node's own links) and alone pushes and pulls, then sends the new
// parameters to its node's other workers (TensorFlow's distributed_replicated, BytePS).
enum class PsAggregation { kNone, kNode };
const char* Name(PsAggregation);
PsAggregation ParsePsAggregation(const std::string&);  // "none", "node"

enum class PipelineSchedule { kGpipe, k1F1B };
const char* Name(PipelineSchedule);
PipelineSchedule ParsePipelineSchedule(const std::string&);  // "gpipe", "1f1b"

enum class HybridKind { kDataPipeline, kOneWeirdTrick };
const char* Name(HybridKind);
HybridKind ParseHybridKind(const std::string&);  // "dp-pp", "owt"

inline constexpr double kDefaultBucketBytes = 25.0 * 1024 * 1024;  // PyTorch DDP: 25 MiB
inline constexpr int64_t kDefaultBatchPerDevice = 32;

// What real clusters lose beyond the roofline and the network (docs/simulator.md, "Losses"),
// applied to worker and stage ranks by ApplyLosses, as resolved for a cluster (ResolveLosses).
struct Losses {
  // (g) the speed of a device, as a fraction of its speed alone, while another device of its
  // node computes too (in (0, 1]); NVIDIA's one-node ResNet-50 scaling, 7.72-7.76 on 8 GPUs.
  double loaded_node_efficiency = 0.97;
  // (b) the coefficient of variation of a rank's compute time per iteration (>= 0): a
  // synchronous step of N worker ranks waits for the expected slowest, sqrt(2 ln N) standard
  // deviations above the mean.
  double compute_cv = 0.01;
  // (c) seconds of framework work per iteration of a run of two or more worker ranks (the data
  // parallel wrapper's own step: negotiation, hooks, launch), >= 0: half of Horovod's 5 ms cycle.
  double iteration_overhead_s = 2.5e-3;

  static Losses None() { return {1, 0, 0}; }
  bool none() const {
    return loaded_node_efficiency == 1 && compute_cv == 0 && iteration_overhead_s == 0;
  }
};

// The losses a plan asks for: each one given, or the default of the cluster's devices.
struct LossOptions {
  std::optional<double> loaded_node_efficiency, compute_cv, iteration_overhead_s;
  static LossOptions None() {
    LossOptions o;
    o.loaded_node_efficiency = 1;
    o.compute_cv = 0;
    o.iteration_overhead_s = 0;
    return o;
  }
};

// The losses of `o` on `cluster`: what it gives, else the defaults of the cluster's compute
// devices: on GPUs the calibrated values of Losses (measured with GPU training frameworks); on
// CPUs none, whose runs (convscale's own executor) have none of those frameworks' costs.
Losses ResolveLosses(const LossOptions& o, const topo::Cluster& cluster);

// "loaded-node efficiency 0.97, compute-time CV 0.01, iteration overhead 0.0025 s", the losses
// that are modelled, or "none modelled".
std::string Describe(const Losses& l);

struct StrategyOptions {
  std::string strategy = "dp";  // "dp", "mp", "ps", "hybrid"
  std::string model;            // names for the context block
  std::string cluster;
  int gpus = 0;              // compute devices used (0 = all of the cluster)
  int64_t batch = 0;         // per device (per replica for mp/pipelines); 0 = from global_batch
  int64_t global_batch = 0;  // 0 = batch x replicas
  // Compute precision: fp32, tf32, fp16, bf16; "" = the devices' default
  // (topo::DefaultComputePrecision), resolved by Lower and recorded in the plan.
  std::string precision;
  std::string optimizer = "sgd";  // "sgd" (with momentum) or "adam"

  // dp (and the data-parallel part of the hybrids)
  Algorithm algorithm = Algorithm::kRing;
  double bucket_bytes = kDefaultBucketBytes;  // cap, bytes of communicated gradients
  // Gradients travel in the parameters' dtype, fp32 under mixed precision too: PyTorch AMP keeps
  // fp32 master weights and DDP all-reduces gradients in their dtype unless a compression hook
  // is registered (docs/reports.md, "Defaults").
  CommPrecision grad_precision = CommPrecision::kFP32;

  // mp, hybrid dp-pp
  int stages = 0;  // 0 = mp: one stage per device; hybrid: 2
  int micro_batches = 1;
  PipelineSchedule schedule = PipelineSchedule::kGpipe;
  HybridKind hybrid = HybridKind::kDataPipeline;

  // ps
  int servers = 0;  // 0 = one per node
  PsPlacement ps_placement = PsPlacement::kDedicated;
  PsAggregation ps_aggregation = PsAggregation::kNone;
  bool async = false;
  int staleness = -1;  // async: iterations a worker may run ahead of the slowest (-1: no bound)

  LossOptions losses;  // what real clusters lose beyond the roofline and the network
};

// The compute factor and overhead (Plan::compute_factor, Plan::iteration_overhead_s) the losses
// of `o` give a lowered plan: with N worker and stage ranks on devices, the factor is
// (1 / loaded_node_efficiency when a node holds two or more of them) x (1 + compute_cv x
// sqrt(2 ln N) when N >= 2 and the plan is synchronous); the overhead applies when N >= 2.
// The losses are ResolveLosses(o.losses, cluster).
void ApplyLosses(Plan& p, const topo::Cluster& cluster, const StrategyOptions& o);

Plan Lower(const graph::Network& net, const topo::Cluster& cluster, const StrategyOptions& o);

// A parameter-server plan in outline: what its lower bound (cost::LowerBound) needs, without the
// workers x shards messages that make the whole plan millions of tasks at scale. `plan` holds
// every rank as Lower gives it (endpoint, role, memory, the plan's header and losses) but only
// rank 0 has tasks: every worker runs the same forward and backward, and rank 0 also sums its
// node's pushes when it leads a node (--ps-aggregation node). `traffic` holds the bytes each
// ordered pair of ranks sends per iteration, summed over its messages; `server_compute` each
// server's compute tasks, one per shard, with how many times an iteration runs it.
struct PsOutline {
  struct Traffic {
    int from = 0, to = 0;  // ranks
    double bytes = 0;
  };
  struct Repeated {
    int rank = 0;
    Task task;
    int64_t times = 1;
  };
  Plan plan;
  std::vector<Traffic> traffic;
  std::vector<Repeated> server_compute;
};
PsOutline OutlineParameterServer(const graph::Network& net, const topo::Cluster& cluster,
                                 const StrategyOptions& o);

// Parameter servers, decided here only. Without --servers a plan has one server per node its
// workers use, whatever the placement: a dedicated host per node, each node's host CPU, or the
// first device of each node (colocated servers are spread round-robin over the nodes, so no NIC
// carries more than its share).
int DefaultServers(const StrategyOptions& o, const topo::Cluster& cluster);
// The dedicated server hosts the cluster must be loaded with for `o` (0 unless o is a parameter
// server on dedicated hosts). `cluster` may be loaded without them: only its devices are read.
int DedicatedServerHosts(const StrategyOptions& o, const topo::Cluster& cluster);
// Where the servers are, for labels: "8 servers, 1 per node, colocated", "3 servers, 0-1 per
// node, on host CPUs", "8 servers, dedicated hosts". o.servers 0 means DefaultServers.
std::string ServerPlacement(const StrategyOptions& o, const topo::Cluster& cluster);

// The compute precision a plan of `o` on `cluster` uses: o.precision when given, else the default
// of the cluster's compute devices (topo::DefaultComputePrecision of the first one).
std::string ComputePrecision(const StrategyOptions& o, const topo::Cluster& cluster);

// The resolved options as recorded in Plan::context.options.
Json OptionsToJson(const StrategyOptions& o);

}  // namespace convscale::plan
