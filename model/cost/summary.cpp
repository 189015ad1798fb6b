#include "model/cost/summary.h"

#include <algorithm>

#include "model/util/context.h"

namespace convscale::cost {

Json ToJson(const Summary& s) {
  Json j = Json::object();
  Json ctx = MakeContext("summary", plan::kSchemaVersion);
  ctx["source"] = s.source;
  ctx["model"] = s.model;
  ctx["cluster"] = s.cluster;
  ctx["strategy"] = s.strategy;
  ctx["options"] = s.options;
  for (const auto& [k, v] : s.context_extra.items()) ctx[k] = v;
  j["context"] = std::move(ctx);
  j["global_batch"] = s.global_batch;
  j["devices"] = s.devices;
  j["iteration_time_s"] = s.iteration_time_s;
  j["throughput_samples_per_s"] = s.throughput_samples_per_s;
  j["single_device_time_s"] = s.single_device_time_s;
  j["speedup"] = s.speedup;
  j["scaling_efficiency"] = s.scaling_efficiency;
  j["compute_time_s"] = s.compute_time_s;
  j["comm_time_s"] = s.comm_time_s;
  j["exposed_comm_time_s"] = s.exposed_comm_time_s;
  j["bubble_time_s"] = s.bubble_time_s;
  j["critical_rank"] = s.critical_rank;
  j["comm_bytes_total"] = s.comm_bytes_total;
  j["memory_peak_bytes"] = s.memory_peak_bytes;
  Json ranks = Json::array();
  for (const auto& r : s.ranks) {
    Json row = Json{{"rank", r.rank},
                    {"endpoint", r.endpoint},
                    {"role", r.role},
                    {"finish_s", r.finish_s},
                    {"compute_time_s", r.compute_time_s},
                    {"comm_time_s", r.comm_time_s},
                    {"exposed_comm_time_s", r.exposed_comm_time_s},
                    {"idle_time_s", r.idle_time_s},
                    {"memory_peak_bytes", r.memory_peak_bytes},
                    {"memory_capacity_bytes", r.memory_capacity_bytes},
                    {"memory", Json{{"weights_bytes", r.memory_weights_bytes},
                                    {"gradients_bytes", r.memory_gradients_bytes},
                                    {"optimizer_bytes", r.memory_optimizer_bytes},
                                    {"activations_bytes", r.memory_activations_bytes},
                                    {"buffers_bytes", r.memory_buffers_bytes},
                                    {"workspace_bytes", r.memory_workspace_bytes}}},
                    {"comm_bytes_sent", r.comm_bytes_sent}};
    for (const auto& [k, v] : r.extra.items()) row[k] = v;
    ranks.push_back(std::move(row));
  }
  j["ranks"] = std::move(ranks);
  for (const auto& [k, v] : s.extra.items()) j[k] = v;
  return j;
}

void FillFromPlan(Summary& s, const plan::Plan& p) {
  s.model = p.context.model;
  s.cluster = p.context.cluster;
  s.strategy = p.context.strategy;
  s.options = p.context.options;
  s.global_batch = p.global_batch;
  if (s.ranks.size() != p.ranks.size()) s.ranks.resize(p.ranks.size());
  s.memory_peak_bytes = 0;
  for (size_t r = 0; r < p.ranks.size(); ++r) {
    const plan::Rank& rk = p.ranks[r];
    RankSummary& o = s.ranks[r];
    o.rank = static_cast<int>(r);
    o.role = plan::Name(rk.role);
    o.memory_weights_bytes = rk.memory_weights;
    o.memory_gradients_bytes = rk.memory_gradients;
    o.memory_optimizer_bytes = rk.memory_optimizer;
    o.memory_activations_bytes = rk.memory_activations;
    o.memory_buffers_bytes = rk.memory_buffers;
    o.memory_workspace_bytes = rk.memory_workspace;
    o.memory_peak_bytes = rk.memory_peak();
    s.memory_peak_bytes = std::max(s.memory_peak_bytes, o.memory_peak_bytes);
  }
}

}  // namespace convscale::cost
