// ps: parameter server (Li et al., OSDI'14; BytePS placements).
//
// W workers (one per device) and S servers. Servers live on dedicated server hosts
// (--ps-placement dedicated, the cluster's ClusterOptions::server_hosts), on the host CPUs of the
// workers' nodes (host), or on the worker devices themselves (colocated: server k shares device
// k's endpoint). Parameters are sharded by bytes: a layer whose gradient exceeds 4,096,000 bytes
// (BytePS's default partition) is split evenly over all servers; smaller layers go whole to the
// least-loaded server, largest first.
//
// Sync: after a layer's backward-weight, each worker pushes its gradient shards (send); each
// server receives the W pushes of a shard, sums them (aggregate), applies the optimizer (update)
// and sends the new parameters back (pull, a receive on the worker). Async: a server applies each
// worker's push on its own (update, which depends on that push only: updates run in arrival
// order) and answers that worker at once; Plan::async is set and the staleness bound recorded
// (the interpreters enforce it across iterations: docs/simulator.md, "Staleness").
//
// In-node aggregation (--ps-aggregation node, sync only): the first worker of each node (its
// leader) receives every shard from the node's other workers over the node's own links, sums them
// (aggregate, (L-1) x elements FLOPs for L workers), pushes the sum alone, receives the pull and
// sends the new parameters to the node's other workers. The servers then hear from one worker per
// node. Local messages use tags 2 x shards + 2i (gradient) and 2 x shards + 2i + 1 (parameters).
#include <algorithm>
#include <map>
#include <numeric>
#include <utility>

#include "model/plan/lower_common.h"
#include "model/util/error.h"

namespace convscale::plan {

namespace {
// The compute devices of each node the first `workers` devices span, nodes in device order.
std::vector<std::vector<int>> DevicesByNode(const topo::Cluster& cl, int workers) {
  std::vector<int> node_ids;
  std::vector<std::vector<int>> out;
  for (int d = 0; d < workers; ++d) {
    const int node = cl.endpoint(d).node;
    auto it = std::find(node_ids.begin(), node_ids.end(), node);
    if (it == node_ids.end()) {
      node_ids.push_back(node);
      out.push_back({d});
    } else {
      out[it - node_ids.begin()].push_back(d);
    }
  }
  return out;
}
}  // namespace

int DefaultServers(const StrategyOptions& o, const topo::Cluster& cluster) {
  return std::max<int>(1, DevicesByNode(cluster, detail::DevicesUsed(cluster, o)).size());
}

int DedicatedServerHosts(const StrategyOptions& o, const topo::Cluster& cluster) {
  if (o.strategy != "ps" || o.ps_placement != PsPlacement::kDedicated) return 0;
  return o.servers > 0 ? o.servers : DefaultServers(o, cluster);
}

std::string ServerPlacement(const StrategyOptions& o, const topo::Cluster& cluster) {
  const int S = o.servers > 0 ? o.servers : DefaultServers(o, cluster);
  std::string s = std::to_string(S) + (S == 1 ? " server, " : " servers, ");
  if (o.ps_placement == PsPlacement::kDedicated) return s + "dedicated hosts";
  const int nodes =
      static_cast<int>(DevicesByNode(cluster, detail::DevicesUsed(cluster, o)).size());
  const int low = S / std::max(1, nodes), high = (S + nodes - 1) / std::max(1, nodes);
  s += std::to_string(low) + (low == high ? "" : "-" + std::to_string(high)) + " per node, ";
  return s + (o.ps_placement == PsPlacement::kHost ? "on host CPUs" : "colocated");
}

namespace detail {

namespace {
constexpr double kPartitionBytes = 4096000;  // BYTEPS_PARTITION_BYTES default
// The most servers one plan may have. Large layers are split over every server, so tasks grow
// with workers x servers; the bound keeps a mistyped count from exhausting memory.
constexpr int kMaxServers = 4096;

struct Shard {
  int layer;
  int server;
  double bytes;  // communicated gradient bytes
  // The elements of the layer's parameters it holds; elements 0: the whole layer.
  int64_t offset = 0, elements = 0;
};

// Marks a message or an update as touching shard `s` of its layer.
void SetShard(Task& t, const Shard& s) {
  t.layers = {s.layer};
  t.slice_offset = s.offset;
  t.slice_elements = s.elements;
}

// The buffers of a rank that sums other workers' pushes (a server, or a node's leader): each
// gradient receive lands in a slot of its own, in fp32 whatever the gradients travel in (the
// executor sums them there), so the rank holds the parameters it sums once per pusher.
double PushSlotBytes(size_t pushers, double params) {
  return static_cast<double>(pushers) * params * 4;
}

// A worker's memory: its parameters and gradients (the optimizer runs on the servers), the
// planned activations of its program, and the slots of the peers that push to it (a leader).
void FillWorkerMemory(Rank& r, const NetCosts& c, const StrategyOptions& o, double activations,
                      size_t peers) {
  MemoryInput m;
  m.params = c.total_params;
  m.activations = activations;
  m.workspace = Workspace(c, c.order, o.batch);
  // Pushes and pulls read and write the gradient and parameter buffers in place; a leader also
  // holds every gradient its node's other workers push to it.
  m.buffers = PushSlotBytes(peers, c.total_params);
  m.precision = o.precision;
  m.optimizer = o.optimizer;
  m.optimizer_here = false;
  FillMemory(r, m);
}
}  // namespace

Plan LowerParameterServer(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& opts,
                          PsOutline* outline) {
  const int W = DevicesUsed(cl, opts);
  StrategyOptions o = ResolveBatch(opts, W);
  o.gpus = W;
  const int dedicated_hosts = cl.num_endpoints() - cl.num_devices() - cl.num_nodes();
  const std::vector<std::vector<int>> by_node = DevicesByNode(cl, W);
  const int S = o.servers == 0 ? DefaultServers(o, cl) : o.servers;
  // Colocated servers take the devices round-robin over the nodes (each node's first device,
  // then each node's second...), so that servers share the nodes' NICs evenly.
  std::vector<int> spread;
  for (size_t i = 0; spread.size() < static_cast<size_t>(W); ++i)
    for (const std::vector<int>& on : by_node)
      if (i < on.size()) spread.push_back(on[i]);
  if (S < 1) throw InputError("--servers " + std::to_string(S) + ": must be at least 1");
  if (S > kMaxServers)
    throw InputError("--servers " + std::to_string(S) +
                     ": more parameter servers than a plan may have (" +
                     std::to_string(kMaxServers) + "; see docs/limits.md)");
  if (o.ps_placement == PsPlacement::kDedicated && S > dedicated_hosts)
    throw InputError("--servers " + std::to_string(S) +
                     " with --ps-placement dedicated needs that many server hosts; cluster \"" +
                     cl.name() + "\" has " + std::to_string(dedicated_hosts) +
                     " (use --ps-placement host or colocated)");
  if (o.ps_placement == PsPlacement::kColocated && S > W)
    throw InputError("--servers " + std::to_string(S) + " with --ps-placement colocated: only " +
                     std::to_string(W) + " workers to share");
  const bool node_sum = o.ps_aggregation == PsAggregation::kNode;
  if (node_sum && o.async)
    throw InputError("--ps-aggregation node: only with synchronous servers (drop --async)");
  o.servers = S;
  // Each worker's node leader (the node's first worker) and the workers each leader serves.
  std::vector<int> leader(W), pushers, first_of_node(cl.num_nodes(), -1);
  std::vector<std::vector<int>> peers(W);
  for (int w = 0; w < W; ++w) {
    leader[w] = w;
    if (node_sum) {
      int& first = first_of_node[cl.endpoint(w).node];
      if (first < 0) first = w;
      leader[w] = first;
    }
    if (leader[w] == w)
      pushers.push_back(w);
    else
      peers[leader[w]].push_back(w);
  }
  if (node_sum && pushers.size() == static_cast<size_t>(W)) {
    auto count = [](size_t n, const char* what) {
      return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
    };
    throw InputError("--ps-aggregation node: every node of cluster \"" + cl.name() +
                     "\" runs one worker here (" + count(W, "device") + " on " +
                     count(by_node.size(), "node") +
                     "), so there is nothing to sum inside a node (use none)");
  }
  Plan p;
  FillHeader(p, o, cl, o.global_batch);
  p.async = o.async;
  p.staleness_bound = o.async ? o.staleness : -1;

  // Sharding.
  const int eb = BytesPerElement(o.grad_precision);
  std::vector<int> by_size = c.param_layers;
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](int a, int b) { return c.params[a] > c.params[b]; });
  std::vector<double> load(S, 0);
  std::vector<std::vector<Shard>> shards_of(c.n);
  for (int v : by_size) {
    const double g = c.params[v] * eb;
    if (g > kPartitionBytes && S > 1) {
      // Whole elements: server k holds [k n / S, (k + 1) n / S), rounded down.
      const auto n = static_cast<int64_t>(c.params[v]);
      for (int k = 0; k < S; ++k) {
        const int64_t first = n / S * k + n % S * k / S;
        const int64_t end = n / S * (k + 1) + n % S * (k + 1) / S;
        const double bytes = static_cast<double>(end - first) * eb;
        shards_of[v].push_back({v, k, bytes, first, end - first});
        load[k] += bytes;
      }
    } else {
      const int k = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
      shards_of[v].push_back({v, k, g});
      load[k] += g;
    }
  }
  // Shards in push order (reverse layer order), numbered: the tag base.
  std::vector<Shard> shards;
  for (auto it = c.param_layers.rbegin(); it != c.param_layers.rend(); ++it)
    for (const Shard& s : shards_of[*it]) shards.push_back(s);
  Json load_json = Json::array();
  for (double l : load) load_json.push_back(l);
  p.context.options["server_bytes"] = load_json;

  p.ranks.resize(W + S);
  for (int w = 0; w < W; ++w) {
    p.ranks[w].endpoint = w;
    p.ranks[w].role = Role::kWorker;
    p.ranks[w].replica = w;
  }
  for (int k = 0; k < S; ++k) {
    Rank& r = p.ranks[W + k];
    r.role = Role::kServer;
    switch (o.ps_placement) {
      case PsPlacement::kDedicated:
        r.endpoint = cl.server(k);
        break;
      case PsPlacement::kHost:
        r.endpoint = cl.host_cpu(cl.endpoint(by_node[k % by_node.size()].front()).node);
        break;
      case PsPlacement::kColocated:
        r.endpoint = spread[k];
        break;
    }
  }
  std::vector<char> in_set(c.n, 0);
  for (int v : c.order) in_set[v] = 1;

  // Without in-node sums every worker runs the same program (the same pushes to the same
  // servers under the same tags): the workers share rank 0's task list (Rank::tasks is copy on
  // write). An outline keeps rank 0's program alone; the other workers' memory comes from the
  // first worker of the same kind (a leader with as many peers, or a worker that pushes to its
  // leader), whose program is built, measured and dropped.
  std::map<std::pair<bool, size_t>, double> activations_of;
  for (int w = 0; w < W; ++w) {
    if (w > 0 && (outline || !node_sum)) {
      const auto it = activations_of.find({leader[w] == w, peers[w].size()});
      if (it != activations_of.end()) {
        if (!outline) p.ranks[w].tasks = p.ranks[0].tasks;
        FillWorkerMemory(p.ranks[w], c, o, it->second, peers[w].size());
        continue;
      }
    }
    RankBuilder b(p.ranks[w]);
    p.ranks[w].tasks.reserve(2 * c.order.size() + (3 + 2 * peers[w].size()) * shards.size());
    Pass pass(c.n);
    EmitForward(b, c, c.order, 0, o.batch, pass, "");
    EmitBackward(b, c, c.order, in_set, 0, o.batch, pass, "");
    const int64_t local = 2 * static_cast<int64_t>(shards.size());  // first local tag
    if (leader[w] != w) {
      // A node's other worker: its gradients go to the leader, the parameters come from it.
      for (size_t i = 0; i < shards.size(); ++i) {
        const Shard& s = shards[i];
        const int t =
            b.Send("local push " + c.net.layer(s.layer).name + " s" + std::to_string(s.server),
                   leader[w], local + static_cast<int64_t>(i) * 2, s.bytes, o.grad_precision,
                   {pass.bwd_weight[s.layer]});
        SetShard(b.task(t), s);
      }
      for (size_t i = 0; i < shards.size(); ++i) {
        const Shard& s = shards[i];
        const int t = b.Recv(
            "local pull " + c.net.layer(s.layer).name + " s" + std::to_string(s.server), leader[w],
            local + static_cast<int64_t>(i) * 2 + 1, s.bytes, o.grad_precision, {});
        SetShard(b.task(t), s);
      }
    } else {
      const auto& mine = peers[w];
      for (size_t i = 0; i < shards.size(); ++i) {
        const Shard& s = shards[i];
        const std::string name = c.net.layer(s.layer).name;
        int ready = pass.bwd_weight[s.layer];
        if (!mine.empty()) {
          std::vector<int> deps = {ready};
          for (int v : mine)
            deps.push_back(b.Recv("local push " + name + " w" + std::to_string(v), v,
                                  local + static_cast<int64_t>(i) * 2, s.bytes, o.grad_precision,
                                  {}));
          const double elems = s.bytes / eb;
          ready =
              b.Compute(name + "/node-aggregate s" + std::to_string(s.server), Phase::kAggregate,
                        s.layer, 0, 0, elems * mine.size(), s.bytes * (mine.size() + 2), deps);
          // Only its data: the sum runs beside the backward on the device (its compute stream
          // orders it), not after the whole backward.
          std::sort(deps.begin(), deps.end());
          b.task(ready).deps = deps;
          SetShard(b.task(ready), s);
        }
        const int t = b.Send("push " + name + " s" + std::to_string(s.server), W + s.server,
                             static_cast<int64_t>(i) * 2, s.bytes, o.grad_precision, {ready});
        SetShard(b.task(t), s);
      }
      for (size_t i = 0; i < shards.size(); ++i) {
        const Shard& s = shards[i];
        const std::string name = c.net.layer(s.layer).name;
        const int t = b.Recv("pull " + name + " s" + std::to_string(s.server), W + s.server,
                             static_cast<int64_t>(i) * 2 + 1, s.bytes, o.grad_precision, {});
        SetShard(b.task(t), s);
        for (int v : mine) {
          const int l =
              b.Send("local pull " + name + " w" + std::to_string(v), v,
                     local + static_cast<int64_t>(i) * 2 + 1, s.bytes, o.grad_precision, {t});
          SetShard(b.task(l), s);
        }
      }
    }
    const double activations = PlannedActivations(c, p.ranks[w], o.batch);
    FillWorkerMemory(p.ranks[w], c, o, activations, peers[w].size());
    activations_of.emplace(std::make_pair(leader[w] == w, peers[w].size()), activations);
    if (outline && w > 0) p.ranks[w].tasks.clear();
  }
  if (outline) {
    // Each pusher sends every server the shards it holds and receives them back; a node's other
    // workers send their leader every shard and receive every shard back.
    double all = 0;
    for (const Shard& s : shards) all += s.bytes;
    for (int w : pushers)
      for (int k = 0; k < S; ++k)
        if (load[k] > 0) {
          outline->traffic.push_back({w, W + k, load[k]});
          outline->traffic.push_back({W + k, w, load[k]});
        }
    for (int w = 0; w < W; ++w)
      if (leader[w] != w) {
        outline->traffic.push_back({w, leader[w], all});
        outline->traffic.push_back({leader[w], w, all});
      }
  }
  // An outline's servers have no tasks: their compute, one task per shard with its count.
  Rank scratch;
  for (int k = 0; k < S; ++k) {
    scratch.tasks.clear();
    RankBuilder b(outline ? scratch : p.ranks[W + k]);
    size_t held = 0;
    for (const Shard& s : shards) held += s.server == k ? 1 : 0;
    const int P = static_cast<int>(pushers.size());
    if (!outline) p.ranks[W + k].tasks.reserve(held * (o.async ? 3 * P : 2 * P + 2));
    double params = 0;
    for (size_t i = 0; i < shards.size(); ++i) {
      const Shard& s = shards[i];
      if (s.server != k) continue;
      const double elems = s.bytes / eb;
      params += elems;
      const std::string name = c.net.layer(s.layer).name;
      const int64_t tag = static_cast<int64_t>(i) * 2;
      if (!o.async) {
        std::vector<int> got;
        for (int w : outline ? std::vector<int>() : pushers)
          got.push_back(b.Recv("push " + name + " w" + std::to_string(w), w, tag, s.bytes,
                               o.grad_precision, {}));
        const int agg = b.Compute(name + "/aggregate", Phase::kAggregate, s.layer, 0, 0,
                                  elems * (P - 1), s.bytes * (P + 1), got);
        SetShard(b.task(agg), s);
        const int up = b.Compute(name + "/update", Phase::kUpdate, s.layer, 0, 0,
                                 elems * UpdateFlopsPerParam(o.optimizer),
                                 elems * UpdateBytesPerParam(o.optimizer), {agg});
        SetShard(b.task(up), s);
        if (outline) {
          outline->server_compute.push_back({W + k, b.task(agg), 1});
          outline->server_compute.push_back({W + k, b.task(up), 1});
          continue;
        }
        for (int w : pushers)
          b.Send("pull " + name + " w" + std::to_string(w), w, tag + 1, s.bytes, o.grad_precision,
                 {up});
      } else if (outline) {
        const int up = b.Compute(name + "/update w0", Phase::kUpdate, s.layer, 0, 0,
                                 elems * UpdateFlopsPerParam(o.optimizer),
                                 elems * UpdateBytesPerParam(o.optimizer), {});
        SetShard(b.task(up), s);
        outline->server_compute.push_back({W + k, b.task(up), W});
      } else {
        for (int w = 0; w < W; ++w) {
          const int got = b.Recv("push " + name + " w" + std::to_string(w), w, tag, s.bytes,
                                 o.grad_precision, {});
          const int up = b.Compute(name + "/update w" + std::to_string(w), Phase::kUpdate, s.layer,
                                   0, 0, elems * UpdateFlopsPerParam(o.optimizer),
                                   elems * UpdateBytesPerParam(o.optimizer), {got});
          SetShard(b.task(up), s);
          // Only its push: the server applies pushes in arrival order, one at a time (its
          // compute stream), so a slow worker never holds up a fast one's update.
          b.task(up).deps = {got};
          b.Send("pull " + name + " w" + std::to_string(w), w, tag + 1, s.bytes, o.grad_precision,
                 {up});
        }
      }
    }
    MemoryInput m;
    m.params = params;
    // Every pusher's gradients land in a buffer of their own (the server sums or applies them).
    m.buffers = PushSlotBytes(pushers.size(), params);
    m.precision = "fp32";
    m.optimizer = o.optimizer;
    FillMemory(p.ranks[W + k], m);
    p.ranks[W + k].memory_weights = params * 4;
  }
  if (!outline) return p;
  outline->plan = std::move(p);
  return Plan();
}

}  // namespace detail
}  // namespace convscale::plan
