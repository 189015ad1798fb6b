// Hand-built plans for simulator tests.
#pragma once

#include <string>
#include <vector>

#include "model/plan/plan.h"

namespace convscale::sim::testing {

inline plan::Task ComputeTask(int id, double flops, std::vector<int> deps, std::string name,
                              plan::Phase phase = plan::Phase::kForward) {
  plan::Task t;
  t.id = id;
  t.kind = plan::TaskKind::kCompute;
  t.flops = flops;
  t.deps = std::move(deps);
  t.name = std::move(name);
  t.phase = phase;
  return t;
}

inline plan::Task CollectiveTask(int id, int group, int64_t cid, double bytes,
                                 std::vector<int> deps, plan::Algorithm a = plan::Algorithm::kRing,
                                 int bucket = -1) {
  plan::Task t;
  t.id = id;
  t.kind = plan::TaskKind::kCollective;
  t.collective = plan::Collective::kAllReduce;
  t.algorithm = a;
  t.group = group;
  t.collective_id = cid;
  t.comm_bytes = bytes;
  t.deps = std::move(deps);
  t.bucket = bucket;
  t.name = "bucket" + std::to_string(bucket) + "/allreduce";
  return t;
}

inline plan::Task P2PTask(int id, plan::TaskKind kind, int peer, int64_t tag, double bytes,
                          std::vector<int> deps, std::string name) {
  plan::Task t;
  t.id = id;
  t.kind = kind;
  t.peer = peer;
  t.tag = tag;
  t.comm_bytes = bytes;
  t.deps = std::move(deps);
  t.name = std::move(name);
  return t;
}

// `n` ranks on endpoints 0..n-1, each with one all-reduce of `bytes` (group 0).
inline plan::Plan AllReducePlan(int n, double bytes, plan::Algorithm a = plan::Algorithm::kRing) {
  plan::Plan p;
  p.context.strategy = "dp";
  p.global_batch = n;
  p.groups.push_back({});
  for (int r = 0; r < n; ++r) {
    plan::Rank rk;
    rk.endpoint = r;
    rk.tasks.push_back(CollectiveTask(0, 0, 0, bytes, {}, a, 0));
    p.ranks.push_back(rk);
    p.groups[0].ranks.push_back(r);
  }
  return p;
}

// Data-parallel-like plan on `n` ranks: `layers` forward then backward compute tasks of `flops`
// each; after backward layer boundaries, `buckets` all-reduces of `bucket_bytes`. With
// `serialize`, bucket b+1 also waits for bucket b (one communication stream).
inline plan::Plan BucketPlan(int n, int layers, double flops, int buckets, double bucket_bytes,
                             bool serialize, std::vector<int> endpoints = {}) {
  plan::Plan p;
  p.context.strategy = "dp";
  p.global_batch = 32 * n;
  p.groups.push_back({});
  for (int r = 0; r < n; ++r) p.groups[0].ranks.push_back(r);
  for (int r = 0; r < n; ++r) {
    plan::Rank rk;
    rk.endpoint = endpoints.empty() ? r : endpoints[r];
    auto& ts = rk.tasks;
    for (int l = 0; l < layers; ++l)
      ts.push_back(ComputeTask(
          static_cast<int>(ts.size()), flops,
          ts.empty() ? std::vector<int>{} : std::vector<int>{static_cast<int>(ts.size()) - 1},
          "layer" + std::to_string(l) + "/fwd"));
    int prev_bucket = -1;
    int last_bwd = static_cast<int>(ts.size()) - 1;
    for (int l = layers - 1; l >= 0; --l) {
      ts.push_back(ComputeTask(static_cast<int>(ts.size()), flops, {last_bwd},
                               "layer" + std::to_string(l) + "/bwd", plan::Phase::kBackwardData));
      last_bwd = static_cast<int>(ts.size()) - 1;
      const int done = layers - l;
      if (done % (layers / buckets) == 0) {
        const int b = done / (layers / buckets) - 1;
        std::vector<int> deps = {last_bwd};
        if (serialize && prev_bucket >= 0) deps.push_back(prev_bucket);
        ts.push_back(CollectiveTask(static_cast<int>(ts.size()), 0, b, bucket_bytes, deps,
                                    plan::Algorithm::kRing, b));
        prev_bucket = static_cast<int>(ts.size()) - 1;
      }
    }
    p.ranks.push_back(rk);
  }
  return p;
}

}  // namespace convscale::sim::testing
