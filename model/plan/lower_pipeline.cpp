// mp: model parallel over K stages, sequential or pipelined with M micro-batches (gpipe, 1f1b);
// hybrid dp-pp: R = devices/K data-parallel replicas of that pipeline.
//
// Partition. Layers are taken in topological (vertex) order. A stage boundary may only fall at a
// point of that order where exactly one tensor crosses: the output of one layer is the only value
// produced before the point and read after it. Inside an Inception module or a residual block
// several tensors are alive at every point (the branches, or the skip connection), so such
// points are never cut and the module stays whole on one stage. Among the allowed points, an
// optimal contiguous split into K stages minimising the slowest stage (forward + backward roofline
// time of one micro-batch on the stage's device) is found by dynamic programming.
//
// Tasks. Stage s runs its micro-batches in schedule order on its compute stream: gpipe runs all
// forwards then all backwards (last micro-batch first); 1f1b runs min(K-s-1, M) warm-up forwards,
// then alternates one forward and one backward, then the remaining backwards. An activation
// crossing a boundary is a send on the producing stage and a receive on the consuming stage; its
// gradient travels back the same way. Tags are (micro_batch * layers + producer) * 2 + {0: act,
// 1: grad}. With R > 1 replicas each stage's gradients are bucketed and all-reduced among the R
// replicas of that stage after its last backward, as dp does.
#include <algorithm>
#include <cmath>
#include <limits>

#include "model/plan/lower_common.h"
#include "model/util/error.h"

namespace convscale::plan::detail {

namespace {

int PrecisionIndex(const std::string& p) {
  if (p == "tf32") return 1;
  if (p == "fp16") return 2;
  if (p == "bf16") return 3;
  return 0;
}

// Roofline seconds of forward + backward of layer v for `samples` samples on `type`.
double LayerTime(const NetCosts& c, int v, int64_t samples, const topo::DeviceType* type,
                 const std::string& precision) {
  double peak = 10e12, bw = 1e12, eff = 0.5, overhead = 5e-6;
  if (type) {
    peak = type->peak_flops[PrecisionIndex(precision)];
    if (peak <= 0) peak = type->peak_flops[0];
    bw = type->memory_bandwidth_Bps > 0 ? type->memory_bandwidth_Bps : bw;
    eff = type->efficiency > 0 ? type->efficiency : eff;
    overhead = type->kernel_overhead_s;
  }
  if (peak <= 0) peak = 1e12;
  double t = 0;
  for (Phase ph : {Phase::kForward, Phase::kBackwardData, Phase::kBackwardWeight}) {
    const double f = c.Flops(v, ph, samples), b = c.Bytes(v, ph, samples);
    if (ph == Phase::kBackwardData && !c.has_bwd_data[v]) continue;
    if (ph == Phase::kBackwardWeight && !c.has_bwd_weight[v]) continue;
    if (f <= 0 && b <= 0) continue;
    t += std::max(f / (peak * eff), b / bw) + overhead;
  }
  return t;
}

}  // namespace

std::vector<int> AllowedCuts(const NetCosts& c) {
  const int L = static_cast<int>(c.order.size());
  std::vector<int> pos(c.n, -1);
  for (int i = 0; i < L; ++i) pos[c.order[i]] = i;
  std::vector<int> ends_at(L + 1, 0);  // producers whose last consumer is at position i
  std::vector<int> cuts;
  int alive = 0;
  for (int i = 0; i < L; ++i) {
    alive -= ends_at[i];
    const int v = c.order[i];
    int last = -1;
    for (int w : c.consumers[v]) last = std::max(last, pos[w]);
    if (last > i) {
      ++alive;
      ++ends_at[last];
    }
    // Cut after position i: the tensors alive are those produced at <= i read after i.
    if (i < L - 1 && alive == 1) cuts.push_back(i);
  }
  return cuts;
}

// Optimal contiguous split of c.order into k stages at allowed cuts; returns each stage's first
// position (size k).
std::vector<int> Partition(const NetCosts& c, int k, int64_t samples, const topo::DeviceType* type,
                           const std::string& precision, const std::string& model) {
  const int L = static_cast<int>(c.order.size());
  std::vector<double> prefix(L + 1, 0);
  for (int i = 0; i < L; ++i)
    prefix[i + 1] = prefix[i] + LayerTime(c, c.order[i], samples, type, precision);
  std::vector<int> ends = AllowedCuts(c);  // a stage may end after these positions
  if (static_cast<int>(ends.size()) + 1 < k)
    throw InputError("--stages " + std::to_string(k) + ": " + model + " has only " +
                     std::to_string(ends.size()) +
                     " points where exactly one tensor crosses, so at most " +
                     std::to_string(ends.size() + 1) + " stages");
  ends.push_back(L - 1);
  const int m = static_cast<int>(ends.size());
  const double inf = std::numeric_limits<double>::infinity();
  // best[j][e]: slowest stage when positions 0..ends[e] form j+1 stages.
  std::vector<std::vector<double>> best(k, std::vector<double>(m, inf));
  std::vector<std::vector<int>> from(k, std::vector<int>(m, -1));
  for (int e = 0; e < m; ++e) best[0][e] = prefix[ends[e] + 1];
  for (int j = 1; j < k; ++j)
    for (int e = j; e < m; ++e)
      for (int s = j - 1; s < e; ++s) {
        const double v = std::max(best[j - 1][s], prefix[ends[e] + 1] - prefix[ends[s] + 1]);
        if (v < best[j][e]) {
          best[j][e] = v;
          from[j][e] = s;
        }
      }
  std::vector<int> first(k, 0);
  int e = m - 1;
  for (int j = k - 1; j >= 1; --j) {
    const int s = from[j][e];
    first[j] = ends[s] + 1;
    e = s;
  }
  return first;
}

Plan LowerPipeline(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& opts) {
  const int n = DevicesUsed(cl, opts);
  const bool hybrid = opts.strategy == "hybrid";
  const int K = opts.stages > 0 ? opts.stages : (hybrid ? 2 : n);
  if (K > n)
    throw InputError("--stages " + std::to_string(K) + ": only " + std::to_string(n) +
                     " devices are used");
  if (hybrid && n % K != 0)
    throw InputError("--stages " + std::to_string(K) + ": does not divide the " +
                     std::to_string(n) + " devices into data-parallel replicas");
  const int R = hybrid ? n / K : 1;
  StrategyOptions o = ResolveBatch(opts, R);
  o.gpus = R * K;
  o.stages = K;
  const int M = o.micro_batches;
  if (o.batch % M != 0)
    throw InputError("--micro-batches " + std::to_string(M) + ": does not divide the batch of " +
                     std::to_string(o.batch) + " samples per replica");
  const int64_t mbs = o.batch / M;
  Plan p;
  FillHeader(p, o, cl, o.global_batch);
  p.context.options["replicas"] = R;

  const std::vector<int> first =
      Partition(c, K, mbs, cl.endpoint(0).type, o.precision, c.net.name());
  const int L = static_cast<int>(c.order.size());
  std::vector<int> stage_of(c.n, -1);
  std::vector<std::vector<int>> layers(K);
  for (int s = 0; s < K; ++s) {
    const int end = s + 1 < K ? first[s + 1] : L;
    for (int i = first[s]; i < end; ++i) {
      layers[s].push_back(c.order[i]);
      stage_of[c.order[i]] = s;
    }
  }
  Json parts = Json::array();
  for (int s = 0; s < K; ++s)
    parts.push_back(Json{{"first", c.net.layer(layers[s].front()).name},
                         {"last", c.net.layer(layers[s].back()).name},
                         {"layers", layers[s].size()}});
  p.context.options["partition"] = parts;

  p.ranks.resize(R * K);
  for (int r = 0; r < R; ++r)
    for (int s = 0; s < K; ++s) {
      Rank& rk = p.ranks[r * K + s];
      rk.endpoint = r * K + s;
      rk.role = Role::kStage;
      rk.stage = s;
      rk.replica = r;
    }
  // Per stage: buckets and their group (R > 1).
  std::vector<std::vector<std::vector<int>>> buckets(K);
  std::vector<int> group(K, -1);
  std::vector<int64_t> first_id(K, 0);
  int64_t next_id = 0;
  for (int s = 0; s < K; ++s) {
    std::vector<int> pl;
    for (int v : layers[s])
      if (c.has_bwd_weight[v]) pl.push_back(v);
    if (R > 1) {
      buckets[s] = Buckets(c, pl, o.bucket_bytes, BytesPerElement(o.grad_precision));
      std::vector<int> members;
      for (int r = 0; r < R; ++r) members.push_back(r * K + s);
      group[s] = AddDeviceGroup(p, cl, members, o.algorithm);
      first_id[s] = next_id;
      next_id += static_cast<int64_t>(buckets[s].size());
    }
  }
  // The compute order of stage s: (micro-batch, backward?) pairs.
  auto order_of = [&](int s) {
    std::vector<std::pair<int, bool>> ops;
    if (o.schedule == PipelineSchedule::kGpipe || M == 1) {
      for (int m = 0; m < M; ++m) ops.push_back({m, false});
      for (int m = M - 1; m >= 0; --m) ops.push_back({m, true});
    } else {
      const int warm = std::min(K - s - 1, M);
      for (int m = 0; m < warm; ++m) ops.push_back({m, false});
      for (int i = 0; i < M - warm; ++i) {
        ops.push_back({warm + i, false});
        ops.push_back({i, true});
      }
      for (int m = M - warm; m < M; ++m) ops.push_back({m, true});
    }
    return ops;
  };
  const CommPrecision act_prec =
      (o.precision == "fp16")
          ? CommPrecision::kFP16
          : (o.precision == "bf16" ? CommPrecision::kBF16 : CommPrecision::kFP32);
  auto tag = [&](int m, int u, bool grad) {
    return (static_cast<int64_t>(m) * c.n + u) * 2 + (grad ? 1 : 0);
  };

  for (int r = 0; r < R; ++r)
    for (int s = 0; s < K; ++s) {
      const int me = r * K + s;
      auto rank_of = [&](int stage) { return r * K + stage; };
      std::vector<char> in_set(c.n, 0);
      for (int v : layers[s]) in_set[v] = 1;
      // Tensors arriving (producer on another stage) and leaving (to each consuming stage).
      std::vector<int> incoming;
      std::vector<std::pair<int, int>> outgoing;  // (producer, consuming stage)
      for (int v : layers[s])
        for (int u : c.net.layer(v).inputs)
          if (u != 0 && stage_of[u] != s &&
              std::find(incoming.begin(), incoming.end(), u) == incoming.end())
            incoming.push_back(u);
      for (int v : layers[s]) {
        std::vector<int> seen;
        for (int w : c.consumers[v])
          if (stage_of[w] != s && std::find(seen.begin(), seen.end(), stage_of[w]) == seen.end()) {
            seen.push_back(stage_of[w]);
            outgoing.push_back({v, stage_of[w]});
          }
      }
      RankBuilder b(p.ranks[me]);
      std::vector<Pass> pass(M, Pass(c.n));
      double grad_recv_bytes = 0;
      int last_b = -1;
      for (auto [m, backward] : order_of(s)) {
        const std::string sfx = "/mb" + std::to_string(m);
        Pass& ps = pass[m];
        if (!backward) {
          for (int u : incoming) {
            const double bytes = c.out_bytes[u] * static_cast<double>(mbs);
            ps.fwd[u] = b.Recv("recv act " + c.net.layer(u).name + sfx, rank_of(stage_of[u]),
                               tag(m, u, false), bytes, act_prec, {}, m);
          }
          EmitForward(b, c, layers[s], m, mbs, ps, sfx);
          for (auto [u, t] : outgoing) {
            const double bytes = c.out_bytes[u] * static_cast<double>(mbs);
            b.Send("send act " + c.net.layer(u).name + sfx, rank_of(t), tag(m, u, false), bytes,
                   act_prec, {ps.fwd[u]}, m);
          }
        } else {
          for (auto [u, t] : outgoing) {
            if (!c.needs_bwd[u]) continue;
            const int id =
                b.Recv("recv grad " + c.net.layer(u).name + sfx, rank_of(t), tag(m, u, true),
                       c.out_bytes[u] * static_cast<double>(mbs), act_prec, {}, m);
            grad_recv_bytes += c.out_bytes[u] * static_cast<double>(mbs);
            for (int w : c.consumers[u])
              if (stage_of[w] == t) ps.bwd_data[w] = id;
          }
          EmitBackward(b, c, layers[s], in_set, m, mbs, ps, sfx);
          for (int u : incoming) {
            std::vector<int> deps;
            for (int w : c.consumers[u])
              if (stage_of[w] == s && ps.bwd_data[w] >= 0) deps.push_back(ps.bwd_data[w]);
            if (deps.empty()) continue;
            b.Send("send grad " + c.net.layer(u).name + sfx, rank_of(stage_of[u]), tag(m, u, true),
                   c.out_bytes[u] * static_cast<double>(mbs), act_prec, deps, m);
          }
          last_b = m;
        }
      }
      int last_ar = -1;
      if (R > 1 && !buckets[s].empty())
        last_ar = EmitBuckets(b, c, buckets[s], pass[last_b].bwd_weight, o, group[s], first_id[s]);
      double params = 0;
      std::vector<int> pl;
      for (int v : layers[s]) {
        params += c.params[v];
        if (c.has_bwd_weight[v]) pl.push_back(v);
      }
      if (!pl.empty()) {
        const int u =
            b.Compute("update", Phase::kUpdate, -1, 0, 0, params * UpdateFlopsPerParam(o.optimizer),
                      params * UpdateBytesPerParam(o.optimizer), {last_ar});
        b.task(u).layers = pl;
      }
      MemoryInput mi;
      mi.params = params;
      mi.activations = PlannedActivations(c, p.ranks[me], mbs);
      mi.workspace = Workspace(c, layers[s], mbs, M);
      // Boundary activations live in the activation plan (pinned); each received gradient is
      // staged before it is added into the producer's (one buffer per receive); non-fp32
      // buckets are staged too (fp32 ones are views of the gradient buffer).
      mi.buffers = grad_recv_bytes;
      if (R > 1 && o.grad_precision != CommPrecision::kFP32)
        mi.buffers += params * BytesPerElement(o.grad_precision);
      mi.precision = o.precision;
      mi.optimizer = o.optimizer;
      FillMemory(p.ranks[me], mi);
    }
  return p;
}

}  // namespace convscale::plan::detail
