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
#include <string>

#include "model/graph/network.h"
#include "model/plan/plan.h"
#include "topologies/cluster.h"

namespace convscale::plan {

enum class PsPlacement { kDedicated, kHost, kColocated };
const char* Name(PsPlacement);
PsPlacement ParsePsPlacement(const std::string&);  // "dedicated", "host", "colocated"

enum class PipelineSchedule { kGpipe, k1F1B };
const char* Name(PipelineSchedule);
PipelineSchedule ParsePipelineSchedule(const std::string&);  // "gpipe", "1f1b"

enum class HybridKind { kDataPipeline, kOneWeirdTrick };
const char* Name(HybridKind);
HybridKind ParseHybridKind(const std::string&);  // "dp-pp", "owt"

inline constexpr double kDefaultBucketBytes = 25.0 * 1024 * 1024;  // PyTorch DDP: 25 MiB
inline constexpr int64_t kDefaultBatchPerDevice = 32;

struct StrategyOptions {
  std::string strategy = "dp";  // "dp", "mp", "ps", "hybrid"
  std::string model;            // names for the context block
  std::string cluster;
  int gpus = 0;              // compute devices used (0 = all of the cluster)
  int64_t batch = 0;         // per device (per replica for mp/pipelines); 0 = from global_batch
  int64_t global_batch = 0;  // 0 = batch x replicas
  std::string precision = "fp32";  // compute precision: fp32, tf32, fp16, bf16
  std::string optimizer = "sgd";   // "sgd" (with momentum) or "adam"

  // dp (and the data-parallel part of the hybrids)
  Algorithm algorithm = Algorithm::kRing;
  double bucket_bytes = kDefaultBucketBytes;  // cap, bytes of communicated gradients
  CommPrecision grad_precision = CommPrecision::kFP32;

  // mp, hybrid dp-pp
  int stages = 0;  // 0 = mp: one stage per device; hybrid: 2
  int micro_batches = 1;
  PipelineSchedule schedule = PipelineSchedule::kGpipe;
  HybridKind hybrid = HybridKind::kDataPipeline;

  // ps
  int servers = 0;  // 0 = one per node
  PsPlacement ps_placement = PsPlacement::kDedicated;
  bool async = false;
  int staleness = -1;  // async: iterations a worker may run ahead of the slowest (-1: no bound)
};

Plan Lower(const graph::Network& net, const topo::Cluster& cluster, const StrategyOptions& o);

// The resolved options as recorded in Plan::context.options.
Json OptionsToJson(const StrategyOptions& o);

}  // namespace convscale::plan
