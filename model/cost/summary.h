// The neutral result record of one evaluated plan. The closed-form estimator, the simulator and
// the executor all fill it and emit the same JSON keys (ToJson); its timing and byte figures come
// from one reducer (timeline.h) in all three. The simulator and executor add their own fields
// under `extra` (per-link bytes, staleness, per-iteration times, ...).
//
// Units: seconds, bytes, samples/s.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/plan/plan.h"
#include "model/util/json.h"

namespace convscale::cost {

struct RankSummary {
  int rank = 0;
  std::string endpoint;            // endpoint name ("node0/gpu3")
  std::string role;                // "worker", "server", "stage"
  double finish_s = 0;             // when the rank's last task ends
  double compute_time_s = 0;       // sum of its compute task durations
  double comm_time_s = 0;          // time its communication is active (union of intervals)
  double exposed_comm_time_s = 0;  // communication not overlapped by its compute
  double idle_time_s = 0;          // neither computing nor communicating, until the iteration ends
  double memory_weights_bytes = 0, memory_gradients_bytes = 0, memory_optimizer_bytes = 0,
         memory_activations_bytes = 0, memory_buffers_bytes = 0, memory_workspace_bytes = 0;
  double memory_peak_bytes = 0;
  double memory_capacity_bytes = 0;  // of the endpoint's device (0 = unknown)
  double comm_bytes_sent = 0;        // bytes this rank sends in one iteration
  Json extra = Json::object();       // interpreter-specific fields of the rank, copied as is
};

struct Summary {
  std::string source = "estimate";  // "estimate", "simulate", "execute"
  std::string model, cluster, strategy;
  Json options = Json::object();
  Json context_extra = Json::object();  // further context fields (the executor's backend, ...)
  int64_t global_batch = 0;
  int devices = 0;  // compute devices used (workers and stages, not CPU servers)
  double iteration_time_s = 0;
  double throughput_samples_per_s = 0;
  double single_device_time_s = 0;  // the same model on one device at the same per-device batch
  double speedup = 0;
  double scaling_efficiency = 0;   // speedup / devices
  double compute_time_s = 0;       // max over ranks
  double comm_time_s = 0;          // max over ranks
  double exposed_comm_time_s = 0;  // max over ranks
  double bubble_time_s = 0;        // max over workers and stages of idle time (bubbles, waiting)
  int critical_rank = 0;           // the worker or stage that finishes last (timeline.h)
  double comm_bytes_total = 0;     // bytes sent by all ranks together in one iteration
  double memory_peak_bytes = 0;    // max over ranks
  std::vector<RankSummary> ranks;
  Json extra = Json::object();  // interpreter-specific fields, copied into the JSON as is
};

// {"context": {...}, "iteration_time_s": ..., ..., "ranks": [...], extra keys...}. Deterministic
// apart from context.timestamp (pin it with CONVSCALE_FIXED_TIMESTAMP).
Json ToJson(const Summary& s);

// Fills the memory fields and the context fields of `s` from the plan.
void FillFromPlan(Summary& s, const plan::Plan& p);

}  // namespace convscale::cost
