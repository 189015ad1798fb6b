// dp: synchronous data parallel in the style of PyTorch DDP.
//
// Every device holds a replica and processes `batch` samples. Backward runs layer by layer in
// reverse order; gradients are grouped into buckets in reverse layer order (closed when a bucket
// reaches the cap, 25 MiB by default) and each bucket's all-reduce is launched as soon as the
// backward-weight tasks of its layers are done, while backward continues. All collectives share
// one communication stream, so bucket b+1's all-reduce waits for bucket b's. The optimizer update
// runs after the last all-reduce.
#include <algorithm>

#include "model/plan/lower_common.h"
#include "model/util/error.h"

namespace convscale::plan::detail {

namespace {

// Group order for the all-reduce: the cluster's ring (NCCL-like) for flat algorithms, node-major
// for the hierarchical one (its schedule needs each node's members together).
std::vector<int> GroupOrder(const topo::Cluster& cl, const std::vector<int>& devices, Algorithm a) {
  if (a == Algorithm::kHierarchical) {
    std::vector<int> d = devices;
    std::stable_sort(d.begin(), d.end(),
                     [&](int x, int y) { return cl.endpoint(x).node < cl.endpoint(y).node; });
    // The schedule (collectives.cpp) runs a ring inside every node and one across nodes per local
    // index: every node must hold as many members as the first.
    size_t first = 0;
    for (size_t begin = 0, end; begin < d.size(); begin = end) {
      end = begin;
      while (end < d.size() && cl.endpoint(d[end]).node == cl.endpoint(d[begin]).node) ++end;
      if (begin == 0) first = end;
      if (end - begin != first)
        throw InputError(
            "--algorithm hierarchical: the all-reduce group has " + std::to_string(first) +
            " members on node " + std::to_string(cl.endpoint(d[0]).node) + " but " +
            std::to_string(end - begin) + " on node " + std::to_string(cl.endpoint(d[begin]).node) +
            "; it needs the same number on every node (give --gpus as a multiple "
            "of the devices per node, or another --algorithm)");
    }
    return d;
  }
  return cl.Ring(devices);
}

}  // namespace

int AddDeviceGroup(Plan& p, const topo::Cluster& cl, const std::vector<int>& ranks, Algorithm a) {
  std::vector<int> devices;
  for (int r : ranks) devices.push_back(p.ranks[r].endpoint);
  const std::vector<int> order = GroupOrder(cl, devices, a);
  // For each endpoint of `order` (in that order), the ranks on it (in the order given): the
  // ranks on each endpoint as linked lists.
  const int endpoints = cl.num_endpoints();
  std::vector<int> first(endpoints, -1), last(endpoints, -1), next(ranks.size(), -1);
  for (size_t i = 0; i < ranks.size(); ++i) {
    const int e = p.ranks[ranks[i]].endpoint;
    if (e < 0 || e >= endpoints) continue;
    if (first[e] < 0)
      first[e] = static_cast<int>(i);
    else
      next[last[e]] = static_cast<int>(i);
    last[e] = static_cast<int>(i);
  }
  Group g;
  for (int e : order)
    if (e >= 0 && e < endpoints)
      for (int i = first[e]; i >= 0; i = next[i]) g.ranks.push_back(ranks[i]);
  if (g.ranks.size() != ranks.size())
    throw RuntimeError("cluster ring over " + std::to_string(ranks.size()) + " devices returned " +
                       std::to_string(order.size()) + " members");
  p.groups.push_back(std::move(g));
  return static_cast<int>(p.groups.size()) - 1;
}

Plan LowerDataParallel(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& opts,
                       std::vector<int>* same_as) {
  Plan p;
  LowerDataParallelInto(p, c, cl, opts, same_as, true);
  return p;
}

void LowerDataParallelInto(Plan& p, const NetCosts& c, const topo::Cluster& cl,
                           const StrategyOptions& opts, std::vector<int>* same_as, bool named) {
  const int n = DevicesUsed(cl, opts);
  StrategyOptions o = ResolveBatch(opts, n);
  o.gpus = n;
  {
    // Start from an empty plan, keeping the ranks' task storage for RankBuilder's reuse.
    std::vector<Rank> keep = std::move(p.ranks);
    p = Plan();
    p.ranks = std::move(keep);
  }
  FillHeader(p, o, cl, o.global_batch);
  p.ranks.resize(n);
  std::vector<int> all(n);
  for (int r = 0; r < n; ++r) {
    Rank& rk = p.ranks[r];
    TaskList keep = std::move(rk.tasks);
    rk = Rank();
    rk.tasks = std::move(keep);
    rk.endpoint = r;
    rk.role = Role::kWorker;
    rk.replica = r;
    all[r] = r;
  }
  int group = -1;
  if (n > 1) group = AddDeviceGroup(p, cl, all, o.algorithm);
  const auto buckets =
      Buckets(c, c.param_layers, o.bucket_bytes, BytesPerElement(o.grad_precision));
  std::vector<char> in_set(c.n, 0);
  for (int v : c.order) in_set[v] = 1;

  // Every replica runs the same program (task names, ids and dependencies do not depend on the
  // rank): rank 0's tasks are built once and copied. With `same_as`, only the first rank of each
  // class of identical devices (same device type and speed factor, the estimator's own test of
  // identical ranks) gets its tasks; same_as[r] names that representative.
  {
    RankBuilder b(p.ranks[0], /*reuse=*/true, named);
    p.ranks[0].tasks.reserve(2 * c.order.size() + buckets.size() + 1);
    Pass pass(c.n);
    EmitForward(b, c, c.order, 0, o.batch, pass, "");
    EmitBackward(b, c, c.order, in_set, 0, o.batch, pass, "");
    const int last_ar = n > 1 ? EmitBuckets(b, c, buckets, pass.bwd_weight, o, group, 0) : -1;
    const int u = b.Compute("update", Phase::kUpdate, -1, 0, 0,
                            c.total_params * UpdateFlopsPerParam(o.optimizer),
                            c.total_params * UpdateBytesPerParam(o.optimizer), {last_ar});
    b.task(u).layers = c.param_layers;
  }
  if (same_as) {
    same_as->assign(n, -1);
    std::vector<int> reps;
    for (int r = 0; r < n; ++r) {
      const topo::Endpoint& e = cl.endpoint(p.ranks[r].endpoint);
      for (int q : reps) {
        const topo::Endpoint& f = cl.endpoint(p.ranks[q].endpoint);
        if (f.type == e.type && f.speed_factor == e.speed_factor) {
          (*same_as)[r] = q;
          break;
        }
      }
      if ((*same_as)[r] < 0) {
        (*same_as)[r] = r;
        reps.push_back(r);
      }
    }
  }
  for (int r = 1; r < n; ++r) {
    if (!same_as || (*same_as)[r] == r)
      p.ranks[r].tasks = p.ranks[0].tasks;
    else
      p.ranks[r].tasks.clear();
  }
  MemoryInput m;
  m.params = c.total_params;
  m.activations = PlannedActivations(c, p.ranks[0], o.batch);  // every replica the same
  m.workspace = Workspace(c, c.order, o.batch);
  // fp32 buckets are views of the gradient buffer (the executor reduces them in place); other
  // wire precisions stage every bucket in a buffer of its own.
  m.buffers = n > 1 && o.grad_precision != CommPrecision::kFP32
                  ? c.total_params * BytesPerElement(o.grad_precision)
                  : 0;
  m.precision = o.precision;
  m.optimizer = o.optimizer;
  for (int r = 0; r < n; ++r) FillMemory(p.ranks[r], m);
}

}  // namespace convscale::plan::detail
