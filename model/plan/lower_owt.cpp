// hybrid owt: Krizhevsky's "one weird trick" (arXiv:1404.5997): data parallel for the
// convolutional part, model parallel for the fully connected part.
//
// The fully connected part starts at the first linear layer before which exactly one tensor
// crosses. Each of the N devices runs the convolutional layers on its own `batch` samples; the
// boundary activation is all-gathered so that every device holds all N x batch samples. Each
// linear layer is split by output features (1/N of its weights per device) and runs on all N x
// batch samples; its output is all-gathered (forward) and its input gradient, a partial sum over
// the feature shards, is all-reduced (reduce-scattered back to the sample owners at the
// boundary). The element-wise layers and the loss of the fully connected part run replicated on
// the gathered N x batch samples. Convolutional gradients are bucketed and all-reduced as in dp;
// the linear layers' gradients stay local.
#include <algorithm>

#include "model/plan/lower_common.h"
#include "model/util/error.h"

namespace convscale::plan::detail {

Plan LowerOneWeirdTrick(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& opts) {
  const int N = DevicesUsed(cl, opts);
  StrategyOptions o = ResolveBatch(opts, N);
  o.gpus = N;
  const int L = static_cast<int>(c.order.size());
  const std::vector<int> cuts = AllowedCuts(c);
  int start = -1;  // first position of the fully connected part
  for (int i = 1; i < L && start < 0; ++i)
    if (c.net.layer(c.order[i]).type == graph::LayerType::kLinear &&
        std::find(cuts.begin(), cuts.end(), i - 1) != cuts.end())
      start = i;
  if (start < 0)
    throw InputError("--hybrid owt: " + c.net.name() +
                     " has no fully connected layer after a single-tensor boundary");
  std::vector<int> conv(c.order.begin(), c.order.begin() + start);
  std::vector<int> fc(c.order.begin() + start, c.order.end());
  const int boundary = c.order[start - 1];
  Plan p;
  FillHeader(p, o, cl, o.global_batch);
  p.context.options["fc_first"] = c.net.layer(c.order[start]).name;
  p.ranks.resize(N);
  std::vector<int> all(N);
  for (int r = 0; r < N; ++r) {
    p.ranks[r].endpoint = r;
    p.ranks[r].role = Role::kWorker;
    p.ranks[r].replica = r;
    all[r] = r;
  }
  const int group = N > 1 ? AddDeviceGroup(p, cl, all, Algorithm::kRing) : -1;
  std::vector<int> conv_params;
  for (int v : conv)
    if (c.has_bwd_weight[v]) conv_params.push_back(v);
  const auto buckets = Buckets(c, conv_params, o.bucket_bytes, BytesPerElement(o.grad_precision));
  const Algorithm fc_alg = Algorithm::kRing;
  const CommPrecision act_prec =
      (o.precision == "fp16")
          ? CommPrecision::kFP16
          : (o.precision == "bf16" ? CommPrecision::kBF16 : CommPrecision::kFP32);
  const int64_t all_samples = o.batch * N;
  auto is_linear = [&](int v) { return c.net.layer(v).type == graph::LayerType::kLinear; };
  std::vector<char> in_set(c.n, 0);
  for (int v : c.order) in_set[v] = 1;

  double held = 0, saved = 0, boundary_max = 0;
  for (int v : conv) {
    held += c.params[v];
    saved += c.saved_bytes[v] * static_cast<double>(o.batch);
  }
  for (int v : fc) {
    held += is_linear(v) ? c.params[v] / N : c.params[v];
    saved += c.saved_bytes[v] * static_cast<double>(all_samples) / (is_linear(v) ? N : 1);
    boundary_max = std::max(boundary_max, c.out_bytes[v] * static_cast<double>(all_samples));
  }
  boundary_max = std::max(boundary_max, c.out_bytes[boundary] * static_cast<double>(all_samples));

  for (int r = 0; r < N; ++r) {
    RankBuilder b(p.ranks[r]);
    Pass pass(c.n);
    int64_t id = 0;
    auto collective = [&](const std::string& name, Collective k, double bytes, int dep) {
      if (N == 1) return dep;
      return b.Collective(name, k, fc_alg, act_prec, group, id++, bytes, {dep});
    };
    auto fc_compute = [&](int v, Phase ph, std::vector<int> deps) {
      const double share = is_linear(v) ? 1.0 / N : 1.0;
      const char* tag = ph == Phase::kForward        ? "/fwd"
                        : ph == Phase::kBackwardData ? "/bwd-data"
                                                     : "/bwd-weight";
      return b.Compute(c.net.layer(v).name + tag, ph, v, 0, all_samples,
                       c.Flops(v, ph, all_samples) * share, c.Bytes(v, ph, all_samples) * share,
                       std::move(deps));
    };
    EmitForward(b, c, conv, 0, o.batch, pass, "");
    pass.fwd[boundary] =
        collective("gather " + c.net.layer(boundary).name, Collective::kAllGather,
                   c.out_bytes[boundary] * static_cast<double>(all_samples), pass.fwd[boundary]);
    for (int v : fc) {
      std::vector<int> deps;
      for (int u : c.net.layer(v).inputs) deps.push_back(pass.fwd[u]);
      pass.fwd[v] = fc_compute(v, Phase::kForward, deps);
      if (is_linear(v))
        pass.fwd[v] = collective("gather " + c.net.layer(v).name, Collective::kAllGather,
                                 c.out_bytes[v] * static_cast<double>(all_samples), pass.fwd[v]);
    }
    for (auto it = fc.rbegin(); it != fc.rend(); ++it) {
      const int v = *it;
      if (!c.needs_bwd[v]) continue;
      std::vector<int> deps;
      for (int w : c.consumers[v])
        if (pass.bwd_data[w] >= 0) deps.push_back(pass.bwd_data[w]);
      if (c.consumers[v].empty()) deps.push_back(pass.fwd[v]);
      if (c.has_bwd_data[v]) pass.bwd_data[v] = fc_compute(v, Phase::kBackwardData, deps);
      if (c.has_bwd_weight[v]) pass.bwd_weight[v] = fc_compute(v, Phase::kBackwardWeight, deps);
      if (is_linear(v) && c.has_bwd_data[v]) {
        const bool at_boundary = c.net.layer(v).inputs.front() == boundary;
        pass.bwd_data[v] =
            collective((at_boundary ? "scatter grad " : "reduce grad ") + c.net.layer(v).name,
                       at_boundary ? Collective::kReduceScatter : Collective::kAllReduce,
                       c.in_bytes[v] * static_cast<double>(all_samples), pass.bwd_data[v]);
      }
    }
    EmitBackward(b, c, conv, in_set, 0, o.batch, pass, "");
    int last = -1;
    if (N > 1 && !buckets.empty()) {
      StrategyOptions dp = o;
      last = EmitBuckets(b, c, buckets, pass.bwd_weight, dp, group, id);
    }
    std::vector<int> pl = conv_params;
    for (int v : fc)
      if (c.has_bwd_weight[v]) pl.push_back(v);
    const int u =
        b.Compute("update", Phase::kUpdate, -1, 0, 0, held * UpdateFlopsPerParam(o.optimizer),
                  held * UpdateBytesPerParam(o.optimizer), {last});
    b.task(u).layers = pl;
    double bucket_max = 0;
    for (const auto& bk : buckets) {
      double x = 0;
      for (int v : bk) x += c.params[v] * BytesPerElement(o.grad_precision);
      bucket_max = std::max(bucket_max, x);
    }
    MemoryInput m;
    m.params = held;
    m.saved_per_sample = saved;
    m.samples_in_flight = 1;
    m.workspace = std::max(Workspace(c, conv, o.batch), Workspace(c, fc, all_samples));
    m.buffers = (N > 1 ? 2 * bucket_max : 0) + 2 * boundary_max;
    m.precision = o.precision;
    m.optimizer = o.optimizer;
    FillMemory(p.ranks[r], m);
  }
  return p;
}

}  // namespace convscale::plan::detail
