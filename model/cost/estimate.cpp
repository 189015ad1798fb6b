// The closed-form estimator (estimate.h).
#include "model/cost/estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <tuple>
#include <unordered_map>

#include "model/cost/timeline.h"
#include "model/plan/collectives.h"
#include "model/plan/lower_common.h"
#include "model/util/context.h"
#include "model/util/error.h"
#include "model/util/units.h"

namespace convscale::cost {

using plan::Algorithm;
using plan::Collective;
using plan::Phase;
using plan::Task;
using plan::TaskKind;

namespace {

// A link direction's slot in per-direction tables: 2 x link + 1 forward, 2 x link backward; a
// shared link (a bus) pools both directions in its even slot.
int LinkSlot(const topo::Cluster& cluster, const topo::Hop& h) {
  return h.link * 2 + (cluster.links()[h.link].shared ? 0 : (h.forward ? 1 : 0));
}

int PrecisionIndex(const std::string& p) {
  if (p == "tf32") return 1;
  if (p == "fp16") return 2;
  if (p == "bf16") return 3;
  return 0;
}

// Device assumed for an endpoint without a type (a bare server host): one CPU socket.
const topo::DeviceType& DefaultCpu() {
  static const topo::DeviceType t = [] {
    topo::DeviceType d;
    d.name = "cpu";
    d.kind = "cpu";
    d.peak_flops = {1e12, 0, 0, 0};
    d.memory_bytes = 0;
    d.memory_bandwidth_Bps = 100e9;
    d.efficiency = 0.5;
    d.kernel_overhead_s = 5e-6;
    return d;
  }();
  return t;
}

std::string LayerNameOf(const std::string& task_name) {
  return task_name.substr(0, task_name.find('/'));
}

// Bytes each ordered pair of members (src, dst) moves in a collective per byte of its size,
// summed over its schedule's steps; remembered for the life of the process, as a pure function
// of its arguments (a ring of 512 members has 523,264 transfers, 512 pairs).
const std::vector<std::tuple<int, int, double>>& PairBytes(Collective c, Algorithm a, int n,
                                                           const std::vector<int>& node_of) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int, std::vector<int>>,
                  std::unique_ptr<std::vector<std::tuple<int, int, double>>>>
      memo;
  auto key = std::make_tuple(static_cast<int>(c), static_cast<int>(a), n, node_of);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = memo.find(key);
    if (it != memo.end()) return *it->second;
  }
  std::map<std::pair<int, int>, double> sum;
  for (const plan::Step& st : plan::BuildSchedule(c, a, n, 1.0, node_of).steps)
    for (const plan::Transfer& t : st.transfers)
      if (t.src != t.dst) sum[{t.src, t.dst}] += t.bytes;
  auto pairs = std::make_unique<std::vector<std::tuple<int, int, double>>>();
  for (const auto& [pair, bytes] : sum) pairs->emplace_back(pair.first, pair.second, bytes);
  std::lock_guard<std::mutex> lock(mu);
  return *memo.emplace(std::move(key), std::move(pairs)).first->second;
}

}  // namespace

// ---- Profile ----

Profile ProfileFromJson(const Json& j, const std::string& file) {
  CheckDocumentKind(j, file, "profile");
  JsonObject root(j, file, "");
  // The keys `convscale profile` writes; "measured", "network" (the link fit and the
  // point-to-point and all-reduce sweeps behind it) and "iteration" (a whole iteration's median
  // and the scale applied to the tasks) are informative here.
  root.CheckKeys({"context", "measured", "model", "device", "precision", "batch", "layers",
                  "update_s", "params", "network", "iteration"});
  Profile p;
  p.model = root.String("model", "");
  p.device = root.String("device", "");
  p.precision = root.String("precision", "fp32");
  const std::vector<std::string> precisions = {"fp32", "tf32", "fp16", "bf16"};
  if (std::find(precisions.begin(), precisions.end(), p.precision) == precisions.end())
    throw root.Error("precision", "\"" + p.precision +
                                      "\" is not a compute precision (fp32, tf32, fp16, bf16)" +
                                      DidYouMean(p.precision, precisions));
  p.batch = root.Int("batch", 1, INT64_MAX);
  p.update_s = root.Number("update_s", 0.0);
  p.params = root.Number("params", 0.0);
  if (!(p.update_s >= 0 && std::isfinite(p.update_s)))
    throw root.Error(
        "update_s", "a time must be finite and not negative, found " + root.Get("update_s").dump());
  if (!(p.params >= 0 && std::isfinite(p.params)))
    throw root.Error("params", "a parameter count must be finite and not negative, found " +
                                   root.Get("params").dump());
  for (const auto& l : root.ObjectArray("layers")) {
    // "choices": the kernels the times belong to (execute --profile); not a cost.
    l.CheckKeys({"name", "type", "forward_s", "backward_data_s", "backward_weight_s", "choices"});
    LayerProfile lp;
    lp.forward_s = l.Number("forward_s", 0.0);
    lp.backward_data_s = l.Number("backward_data_s", 0.0);
    lp.backward_weight_s = l.Number("backward_weight_s", 0.0);
    if (lp.forward_s < 0 || lp.backward_data_s < 0 || lp.backward_weight_s < 0)
      throw l.Error("times must not be negative");
    const std::string name = l.String("name");
    if (!p.layers.emplace(name, lp).second)
      throw l.Error("name", "layer \"" + name + "\" appears twice");
  }
  return p;
}

Profile LoadProfile(const std::string& path) {
  return ProfileFromJson(ReadJsonFile(path), path);
}

Json ToJson(const Profile& p) {
  Json j = Json::object();
  j["context"] = MakeContext("profile", 1);
  j["model"] = p.model;
  j["device"] = p.device;
  j["precision"] = p.precision;
  j["batch"] = p.batch;
  Json layers = Json::array();
  for (const auto& [name, l] : p.layers)
    layers.push_back(Json{{"name", name},
                          {"forward_s", l.forward_s},
                          {"backward_data_s", l.backward_data_s},
                          {"backward_weight_s", l.backward_weight_s}});
  j["layers"] = std::move(layers);
  j["update_s"] = p.update_s;
  j["params"] = p.params;
  return j;
}

// ---- Compute ----

namespace {
// The roofline part of ComputeTime; `precision` as PrecisionIndex gives it.
double RooflineTime(const Task& t, const topo::Endpoint& e, int precision, const Calibration& cal) {
  if (t.flops <= 0 && t.bytes <= 0) return 0;
  const double speed = e.speed_factor > 0 ? e.speed_factor : 1;
  const topo::DeviceType& d = e.type ? *e.type : DefaultCpu();
  double peak = d.peak_flops[precision];
  if (peak <= 0) peak = d.peak_flops[0];
  if (peak <= 0) peak = DefaultCpu().peak_flops[0];
  const double eff = cal.efficiency > 0 ? cal.efficiency : (d.efficiency > 0 ? d.efficiency : 0.5);
  const double bw = d.memory_bandwidth_Bps > 0 ? d.memory_bandwidth_Bps : 100e9;
  const double overhead = cal.kernel_overhead_s >= 0 ? cal.kernel_overhead_s : d.kernel_overhead_s;
  return (std::max(t.flops / (peak * eff * speed), t.bytes / (bw * speed)) + overhead) *
         cal.compute_scale;
}
}  // namespace

double ComputeTime(const Task& t, const topo::Endpoint& e, const std::string& precision,
                   const Calibration& cal, const std::string& layer_name) {
  if (t.flops <= 0 && t.bytes <= 0) return 0;
  const double speed = e.speed_factor > 0 ? e.speed_factor : 1;
  if (cal.profile && cal.profile->batch > 0 && !layer_name.empty()) {
    auto it = cal.profile->layers.find(layer_name);
    if (it != cal.profile->layers.end()) {
      const double scale = static_cast<double>(t.samples) / cal.profile->batch / speed;
      switch (t.phase) {
        case Phase::kForward:
          return it->second.forward_s * scale;
        case Phase::kBackwardData:
          return it->second.backward_data_s * scale;
        case Phase::kBackwardWeight:
          return it->second.backward_weight_s * scale;
        default:
          break;
      }
    }
  }
  return RooflineTime(t, e, PrecisionIndex(precision), cal);
}

// ---- Communication ----

namespace {

// Alpha and bottleneck bandwidth of a set of concurrent flows (endpoint pairs): each link
// direction's bandwidth is shared by the flows crossing it (a shared link: both directions).
AlphaBeta Flows(const topo::Cluster& cl, const std::vector<std::pair<int, int>>& flows,
                bool contention = true) {
  std::unordered_map<int64_t, int> load;
  const auto& links = cl.links();
  auto key = [&](const topo::Hop& h) {
    return static_cast<int64_t>(h.link) * 2 + (links[h.link].shared ? 0 : (h.forward ? 1 : 0));
  };
  if (contention)
    for (auto [a, b] : flows)
      if (a != b)
        for (const auto& h : cl.route(a, b).hops) ++load[key(h)];
  AlphaBeta ab;
  ab.bandwidth_Bps = std::numeric_limits<double>::infinity();
  for (auto [a, b] : flows) {
    if (a == b) continue;
    const topo::Route& r = cl.route(a, b);
    ab.alpha_s = std::max(ab.alpha_s, r.latency_s);
    double bw = r.bandwidth_Bps > 0 ? r.bandwidth_Bps : std::numeric_limits<double>::infinity();
    for (const auto& h : r.hops) {
      const int n = contention ? load[key(h)] : 1;
      bw = std::min(bw, links[h.link].bandwidth_Bps / std::max(1, n));
    }
    ab.bandwidth_Bps = std::min(ab.bandwidth_Bps, bw);
  }
  return ab;
}

}  // namespace

AlphaBeta CollectiveTerms(const topo::Cluster& cl, const std::vector<int>& e, Algorithm a) {
  const int n = static_cast<int>(e.size());
  std::vector<std::pair<int, int>> flows;
  if (n < 2) return {0, std::numeric_limits<double>::infinity()};
  switch (a) {
    case Algorithm::kRing:
    case Algorithm::kHierarchical:
      for (int i = 0; i < n; ++i) flows.push_back({e[i], e[(i + 1) % n]});
      return Flows(cl, flows);
    case Algorithm::kTree: {
      // Both trees of the double binary tree move data up and down at once.
      plan::Schedule s = plan::BuildSchedule(Collective::kAllReduce, a, n, 1);
      for (const auto& st : s.steps)
        for (const auto& t : st.transfers) flows.push_back({e[t.src], e[t.dst]});
      std::sort(flows.begin(), flows.end());
      flows.erase(std::unique(flows.begin(), flows.end()), flows.end());
      return Flows(cl, flows);
    }
    case Algorithm::kHalvingDoubling: {
      // The slowest of the pairwise-exchange steps.
      AlphaBeta worst{0, std::numeric_limits<double>::infinity()};
      const plan::Schedule s = plan::BuildSchedule(Collective::kAllReduce, a, n, 1);
      for (const auto& st : s.steps) {
        flows.clear();
        for (const auto& t : st.transfers) flows.push_back({e[t.src], e[t.dst]});
        const AlphaBeta ab = Flows(cl, flows);
        worst.alpha_s = std::max(worst.alpha_s, ab.alpha_s);
        worst.bandwidth_Bps = std::min(worst.bandwidth_Bps, ab.bandwidth_Bps);
      }
      return worst;
    }
    case Algorithm::kDirect:
      // The closed form already charges each rank's link with all its messages.
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
          if (i != j) flows.push_back({e[i], e[j]});
      return Flows(cl, flows, false);
  }
  return {};
}

HierarchicalTerms Hierarchical(const topo::Cluster& cl, const std::vector<int>& e) {
  HierarchicalTerms h;
  std::vector<int> nodes;
  std::vector<std::vector<int>> local;
  for (int x : e) {
    const int node = cl.endpoint(x).node;
    auto it = std::find(nodes.begin(), nodes.end(), node);
    if (it == nodes.end()) {
      nodes.push_back(node);
      local.push_back({});
      it = nodes.end() - 1;
    }
    local[it - nodes.begin()].push_back(x);
  }
  h.nodes = static_cast<int>(nodes.size());
  h.local_size = static_cast<int>(local[0].size());
  for (const auto& l : local)
    if (static_cast<int>(l.size()) != h.local_size)
      throw InputError("--algorithm hierarchical needs the same number of devices on every node");
  std::vector<std::pair<int, int>> intra, inter;
  for (const auto& l : local)
    for (size_t i = 0; l.size() > 1 && i < l.size(); ++i)
      intra.push_back({l[i], l[(i + 1) % l.size()]});
  for (int j = 0; j < h.local_size && h.nodes > 1; ++j)
    for (int k = 0; k < h.nodes; ++k) inter.push_back({local[k][j], local[(k + 1) % h.nodes][j]});
  h.intra =
      intra.empty() ? AlphaBeta{0, std::numeric_limits<double>::infinity()} : Flows(cl, intra);
  h.inter =
      inter.empty() ? AlphaBeta{0, std::numeric_limits<double>::infinity()} : Flows(cl, inter);
  return h;
}

namespace {
double HierarchicalTime(const HierarchicalTerms& h, double bytes) {
  const double g = h.local_size, N = h.nodes;
  double t = 0;
  if (g > 1) t += 2 * (g - 1) * h.intra.alpha_s + 2 * (g - 1) / g * bytes / h.intra.bandwidth_Bps;
  if (N > 1)
    t += 2 * (N - 1) * h.inter.alpha_s + 2 * (N - 1) / N * (bytes / g) / h.inter.bandwidth_Bps;
  return t;
}
}  // namespace

double CollectiveTime(const topo::Cluster& cl, const std::vector<int>& e, Collective c, Algorithm a,
                      double bytes) {
  const int n = static_cast<int>(e.size());
  if (n < 2) return 0;
  if (a == Algorithm::kHierarchical) {
    if (c != Collective::kAllReduce) plan::ClosedFormTime(c, a, n, bytes, 0, 1);  // throws
    return HierarchicalTime(Hierarchical(cl, e), bytes);
  }
  const AlphaBeta ab = CollectiveTerms(cl, e, a);
  return plan::ClosedFormTime(c, a, n, bytes, ab.alpha_s, ab.bandwidth_Bps);
}

// ---- The estimator ----

struct Estimator::Impl {
  const plan::Plan* plan = nullptr;
  const topo::Cluster& cl;
  Calibration cal;

  std::vector<int> rep;       // rank -> representative rank
  std::vector<int> reps;      // representatives, increasing
  std::vector<int> rep_slot;  // rank -> index in reps (for representatives)
  std::vector<int> offset;    // first node of each representative
  int task_nodes = 0;

  // Nodes: [0, task_nodes) tasks of representatives, then joints.
  enum Kind : uint8_t { kCompute, kMember, kJointColl, kJointP2P, kSendAlone };
  std::vector<Kind> kind;
  std::vector<double> dur;             // compute / joint durations
  std::vector<int> joint_of;           // member -> joint
  std::vector<const Task*> task_of;    // task node -> its task
  std::vector<int> order;              // topological order of all nodes
  std::vector<int> pred_begin, preds;  // CSR of predecessors (for start times)
  std::vector<int> succ_begin, succs;  // CSR of successors (for the order)
  std::vector<int> indeg, cursor;      // scratch
  struct CollInfo {
    Collective c;
    Algorithm a;
    double bytes;
    int group;
  };
  std::vector<CollInfo> coll;  // per joint node - task_nodes (only for collective joints)
  // Alpha-beta terms per (algorithm, endpoints in group order): they depend on the cluster
  // only, so they are kept from one plan to the next (Reset).
  std::map<std::pair<int, std::vector<int>>, AlphaBeta> terms;
  std::map<std::vector<int>, HierarchicalTerms> hier;
  std::vector<int> endpoints;     // scratch
  std::vector<double> sent;       // per task node: bytes its rank sends (SentBytes)
  std::vector<int> node_of_rank;  // each rank's node (hierarchical collectives' bytes)
  int devices = 0;
  // Link queues (LinkLoads): for each transfer node, the seconds it occupies each link direction
  // it crosses (CSR); empty when the plan has no point-to-point transfer.
  bool queued = false;
  std::vector<int> load_begin, load_slot;
  std::vector<double> load_s;
  // Seconds per byte of a collective's size on each link direction its schedule crosses, per
  // (collective, algorithm, endpoints in group order): they depend on the cluster only, so they
  // are kept from one plan to the next, like `terms`.
  std::map<std::tuple<int, int, std::vector<int>>, std::vector<std::pair<int, double>>> coll_loads;

  Impl(const plan::Plan& p, const topo::Cluster& c, const Calibration& k,
       const std::vector<int>* same_as = nullptr)
      : cl(c), cal(k) {
    Reset(p, same_as);
  }

  void Reset(const plan::Plan& p, const std::vector<int>* same_as) {
    plan = &p;
    reps.clear();
    devices = 0;
    if (same_as)
      GivenClasses(*same_as);
    else
      Classes();
    Build();
    LinkLoads();
    Durations();
  }

  // Classes given by the lowering (identical ranks, provably): same_as[r] is r's representative.
  void GivenClasses(const std::vector<int>& same_as) {
    const int n = static_cast<int>(plan->ranks.size());
    if (static_cast<int>(same_as.size()) != n)
      throw RuntimeError("estimator: " + std::to_string(same_as.size()) + " rank classes for " +
                         std::to_string(n) + " ranks");
    rep = same_as;
    rep_slot.assign(n, -1);
    for (int r = 0; r < n; ++r)
      if (rep[r] == r) {
        rep_slot[r] = static_cast<int>(reps.size());
        reps.push_back(r);
      }
    offset.assign(reps.size() + 1, 0);
    for (size_t i = 0; i < reps.size(); ++i)
      offset[i + 1] = offset[i] + static_cast<int>(plan->ranks[reps[i]].tasks.size());
    task_nodes = offset.back();
  }

  // Ranks with identical programs on identical devices, whose peers are also alike.
  void Classes() {
    const int n = static_cast<int>(plan->ranks.size());
    std::vector<size_t> sig(n);
    auto mix = [](size_t h, size_t v) {
      return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    };
    for (int r = 0; r < n; ++r) {
      const plan::Rank& rk = plan->ranks[r];
      const topo::Endpoint& e = cl.endpoint(rk.endpoint);
      size_t h = std::hash<const void*>()(e.type);
      h = mix(h, std::hash<double>()(e.speed_factor));
      h = mix(h, static_cast<size_t>(rk.role));
      h = mix(h, static_cast<size_t>(rk.stage + 1));
      h = mix(h, rk.tasks.size());
      for (const Task& t : rk.tasks) {
        h = mix(h, static_cast<size_t>(t.kind) * 31 + static_cast<size_t>(t.phase));
        h = mix(h, std::hash<double>()(t.flops));
        h = mix(h, std::hash<double>()(t.bytes));
        h = mix(h, std::hash<double>()(t.comm_bytes));
        h = mix(h, static_cast<size_t>(t.group + 1));
        h = mix(h, static_cast<size_t>(t.collective_id + 1));
        h = mix(h, static_cast<size_t>(t.tag));
        for (int d : t.deps) h = mix(h, static_cast<size_t>(d));
      }
      sig[r] = h;
    }
    // Refine with the classes of point-to-point peers until stable.
    std::vector<int> cls(n);
    size_t count = 0;
    for (int round = 0; round < 8; ++round) {
      std::map<size_t, int> ids;
      for (int r = 0; r < n; ++r)
        cls[r] = ids.emplace(sig[r], static_cast<int>(ids.size())).first->second;
      if (ids.size() == count) break;
      count = ids.size();
      std::vector<size_t> next(n);
      for (int r = 0; r < n; ++r) {
        size_t h = static_cast<size_t>(cls[r]);
        for (const Task& t : plan->ranks[r].tasks)
          if (t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv)
            h = mix(h, static_cast<size_t>(cls[t.peer]) + 1);
        next[r] = h;
      }
      sig = next;
    }
    rep.assign(n, -1);
    std::map<int, int> first;
    for (int r = 0; r < n; ++r) {
      auto [it, fresh] = first.emplace(cls[r], r);
      rep[r] = it->second;
      if (fresh) reps.push_back(r);
    }
    rep_slot.assign(n, -1);
    offset.assign(reps.size() + 1, 0);
    for (size_t i = 0; i < reps.size(); ++i) {
      rep_slot[reps[i]] = static_cast<int>(i);
      offset[i + 1] = offset[i] + static_cast<int>(plan->ranks[reps[i]].tasks.size());
    }
    task_nodes = offset.back();
  }

  int Node(int rank, int task) const { return offset[rep_slot[rank]] + task; }

  // The node graph: task nodes of the representatives, one joint node per collective call and
  // per matched message. A joint's predecessors are its members' dependencies (members in node
  // order); each member's only predecessor is its joint.
  void Build() {
    kind.assign(task_nodes, kCompute);
    joint_of.assign(task_nodes, -1);
    task_of.resize(task_nodes);
    coll.clear();
    // Sends of every rank, for matching receives.
    std::map<std::tuple<int, int, int64_t>, std::pair<int, int>> sends;
    for (size_t r = 0; r < plan->ranks.size(); ++r)
      for (const Task& t : plan->ranks[r].tasks)
        if (t.kind == TaskKind::kSend) {
          sends[{static_cast<int>(r), t.peer, t.tag}] = {static_cast<int>(r), t.id};
        }
    std::map<int64_t, int> coll_joint;
    auto new_joint = [&](Kind k) {
      kind.push_back(k);
      joint_of.push_back(-1);
      return static_cast<int>(kind.size()) - 1;
    };
    for (size_t i = 0; i < reps.size(); ++i) {
      const int r = reps[i];
      for (const Task& t : plan->ranks[r].tasks) {
        const int v = offset[i] + t.id;
        task_of[v] = &t;
        if (t.kind == TaskKind::kCollective) {
          kind[v] = kMember;
          auto it = coll_joint.find(t.collective_id);
          int j;
          if (it == coll_joint.end()) {
            j = new_joint(kJointColl);
            coll_joint[t.collective_id] = j;
            coll.resize(j - task_nodes + 1);
            coll[j - task_nodes] = {t.collective, t.algorithm, t.comm_bytes, t.group};
          } else {
            j = it->second;
          }
          joint_of[v] = j;
        } else if (t.kind == TaskKind::kRecv) {
          auto it = sends.find({t.peer, r, t.tag});
          if (it == sends.end()) throw InputError("plan: unmatched receive");
          const int sv = Node(rep[it->second.first], it->second.second);
          int j = joint_of[sv];
          if (j < 0) {
            j = new_joint(kJointP2P);
            joint_of[sv] = j;
            kind[sv] = kMember;
          }
          kind[v] = kMember;
          joint_of[v] = j;
        } else if (t.kind == TaskKind::kSend) {
          if (kind[v] != kMember) kind[v] = kSendAlone;
        }
      }
    }
    // Sends first seen alone may have been joined later by a receive.
    for (int v = 0; v < task_nodes; ++v)
      if (kind[v] == kSendAlone && joint_of[v] >= 0) kind[v] = kMember;
    const int n = static_cast<int>(kind.size());
    // Predecessors (CSR): a task its dependencies; a member its joint; a joint the dependencies
    // of its members, in node order.
    pred_begin.assign(n + 1, 0);
    for (int v = 0; v < task_nodes; ++v) {
      const int deps = static_cast<int>(task_of[v]->deps.size());
      if (joint_of[v] >= 0) {
        pred_begin[v + 1] += 1;
        pred_begin[joint_of[v] + 1] += deps;
      } else {
        pred_begin[v + 1] += deps;
      }
    }
    for (int v = 0; v < n; ++v) pred_begin[v + 1] += pred_begin[v];
    preds.resize(pred_begin[n]);
    cursor.assign(pred_begin.begin(), pred_begin.end() - 1);
    for (size_t i = 0; i < reps.size(); ++i)
      for (int v = offset[i]; v < offset[i + 1]; ++v) {
        const int at = joint_of[v] >= 0 ? joint_of[v] : v;
        for (int d : task_of[v]->deps) preds[cursor[at]++] = offset[i] + d;
        if (joint_of[v] >= 0) preds[cursor[v]++] = joint_of[v];
      }
    // Bytes each representative sends per task (the reducer sums them over all ranks).
    node_of_rank.resize(plan->ranks.size());
    for (size_t r = 0; r < plan->ranks.size(); ++r)
      node_of_rank[r] = cl.endpoint(plan->ranks[r].endpoint).node;
    sent.assign(task_nodes, 0);
    for (size_t i = 0; i < reps.size(); ++i)
      for (const Task& t : plan->ranks[reps[i]].tasks)
        sent[offset[i] + t.id] = SentBytes(*plan, t, node_of_rank);
    // Successors (CSR), each list in the order of its successors' nodes.
    succ_begin.assign(n + 1, 0);
    for (int k = 0; k < pred_begin[n]; ++k) ++succ_begin[preds[k] + 1];
    for (int v = 0; v < n; ++v) succ_begin[v + 1] += succ_begin[v];
    succs.resize(succ_begin[n]);
    cursor.assign(succ_begin.begin(), succ_begin.end() - 1);
    for (int v = 0; v < n; ++v)
      for (int k = pred_begin[v]; k < pred_begin[v + 1]; ++k) succs[cursor[preds[k]]++] = v;
    // Topological order (Kahn, lowest node first for determinism).
    indeg.resize(n);
    for (int v = 0; v < n; ++v) indeg[v] = pred_begin[v + 1] - pred_begin[v];
    order.clear();
    order.reserve(n);
    for (int v = 0; v < n; ++v)
      if (indeg[v] == 0) order.push_back(v);
    for (size_t head = 0; head < order.size(); ++head) {
      const int v = order[head];
      for (int k = succ_begin[v]; k < succ_begin[v + 1]; ++k)
        if (--indeg[succs[k]] == 0) order.push_back(succs[k]);
    }
    if (static_cast<int>(order.size()) != n)
      throw InputError(
          "plan: the ranks wait for each other in a cycle (a collective or message "
          "order that deadlocks)");
    std::vector<char> used(cl.num_devices(), 0);
    for (const auto& r : plan->ranks)
      if (r.endpoint < cl.num_devices() && !used[r.endpoint]) {
        used[r.endpoint] = 1;
        ++devices;
      }
  }

  int Slot(const topo::Hop& h) const { return LinkSlot(cl, h); }

  // The busiest-link bound. A plan with point-to-point transfers (parameter servers, pipelines,
  // hybrids) has traffic the closed forms do not see together: many workers pushing into one
  // server's NIC, one node's NIC carrying all its devices' messages, a collective sharing links
  // with activations. Each transfer node is charged, per link direction its concrete flows cross,
  // bytes / bandwidth seconds; Run serves each link direction first come, first served, so no
  // iteration is shorter than the bytes through its busiest link over that link's bandwidth.
  // Concrete flows: every send of a representative rank, and every receive of a representative
  // from a rank it represents none of (the many-to-one pushes a joint stands for). Transfers
  // between two non-representative ranks mirror their representatives' on other links and are
  // not charged.
  void LinkLoads() {
    load_begin.clear();
    load_slot.clear();
    load_s.clear();
    queued = false;
    const int n = static_cast<int>(kind.size());
    for (int v = 0; v < n && !queued; ++v) queued = kind[v] == kJointP2P || kind[v] == kSendAlone;
    if (!queued) return;
    const auto& links = cl.links();
    std::vector<std::tuple<int, int, double>> charge;  // node, slot, seconds
    auto route = [&](int node, int from, int to, double bytes) {
      if (from == to || bytes <= 0) return;
      for (const topo::Hop& h : cl.route(from, to).hops)
        charge.emplace_back(node, Slot(h), bytes / links[h.link].bandwidth_Bps);
    };
    for (size_t i = 0; i < reps.size(); ++i) {
      const plan::Rank& rk = plan->ranks[reps[i]];
      for (const Task& t : rk.tasks) {
        const int v = offset[i] + t.id;
        const int node = joint_of[v] >= 0 ? joint_of[v] : v;
        if (t.kind == TaskKind::kSend)
          route(node, rk.endpoint, plan->ranks[t.peer].endpoint, t.comm_bytes);
        else if (t.kind == TaskKind::kRecv && rep[t.peer] != t.peer)
          route(node, plan->ranks[t.peer].endpoint, rk.endpoint, t.comm_bytes);
      }
    }
    for (int j = task_nodes; j < n; ++j) {
      if (kind[j] != kJointColl) continue;
      const CollInfo& ci = coll[j - task_nodes];
      const auto& members = plan->groups[ci.group].ranks;
      if (members.size() < 2) continue;
      endpoints.clear();
      for (int m : members) endpoints.push_back(plan->ranks[m].endpoint);
      auto key = std::make_tuple(static_cast<int>(ci.c), static_cast<int>(ci.a), endpoints);
      auto it = coll_loads.find(key);
      if (it == coll_loads.end()) {
        std::vector<int> node_of;
        if (ci.a == Algorithm::kHierarchical)
          for (int e : endpoints) node_of.push_back(cl.endpoint(e).node);
        std::map<int, double> per_slot;
        for (const auto& [a, b, bytes] :
             PairBytes(ci.c, ci.a, static_cast<int>(endpoints.size()), node_of))
          if (endpoints[a] != endpoints[b])
            for (const topo::Hop& h : cl.route(endpoints[a], endpoints[b]).hops)
              per_slot[Slot(h)] += bytes / links[h.link].bandwidth_Bps;
        it =
            coll_loads
                .emplace(key, std::vector<std::pair<int, double>>(per_slot.begin(), per_slot.end()))
                .first;
      }
      for (const auto& [slot, s_per_byte] : it->second)
        charge.emplace_back(j, slot, s_per_byte * ci.bytes);
    }
    std::sort(charge.begin(), charge.end());
    load_begin.assign(n + 1, 0);
    for (size_t k = 0; k < charge.size(); ++k) {
      const auto& [node, slot, sec] = charge[k];
      if (k > 0 && std::get<0>(charge[k - 1]) == node && std::get<1>(charge[k - 1]) == slot) {
        load_s.back() += sec;
        continue;
      }
      load_slot.push_back(slot);
      load_s.push_back(sec);
      ++load_begin[node + 1];
    }
    for (int v = 0; v < n; ++v) load_begin[v + 1] += load_begin[v];
  }

  double CollDuration(const CollInfo& ci) {
    const auto& members = plan->groups[ci.group].ranks;
    const int n = static_cast<int>(members.size());
    if (n < 2) return 0;
    endpoints.clear();
    for (int m : members) endpoints.push_back(plan->ranks[m].endpoint);
    if (ci.a == Algorithm::kHierarchical) {
      auto it = hier.find(endpoints);
      if (it == hier.end()) it = hier.emplace(endpoints, Hierarchical(cl, endpoints)).first;
      return HierarchicalTime(it->second, ci.bytes);
    }
    auto key = std::make_pair(static_cast<int>(ci.a), endpoints);
    auto it = terms.find(key);
    if (it == terms.end()) it = terms.emplace(key, CollectiveTerms(cl, endpoints, ci.a)).first;
    return plan::ClosedFormTime(ci.c, ci.a, n, ci.bytes, it->second.alpha_s,
                                it->second.bandwidth_Bps);
  }

  // One message alone on its route; what it shares a link with is the link queues' part.
  double P2PDuration(int from_ep, int to_ep, double bytes) {
    if (from_ep == to_ep) return 0;
    const topo::Route& r = cl.route(from_ep, to_ep);
    return r.latency_s + bytes / r.bandwidth_Bps;
  }

  void Durations() {
    const int n = static_cast<int>(kind.size());
    dur.assign(n, 0);
    const int precision = PrecisionIndex(plan->precision);
    for (size_t i = 0; i < reps.size(); ++i) {
      const plan::Rank& rk = plan->ranks[reps[i]];
      const topo::Endpoint& e = cl.endpoint(rk.endpoint);
      // Losses apply to workers and stages (docs/simulator.md, "Losses"), as in the simulator.
      const bool lossy = rk.role != plan::Role::kServer;
      bool first_compute = true;
      for (const Task& t : rk.tasks) {
        const int v = offset[i] + t.id;
        if (t.kind == TaskKind::kCompute) {
          if (t.phase == Phase::kUpdate && cal.profile && cal.profile->params > 0 &&
              cal.profile->update_s > 0) {
            const double params = t.flops / plan::detail::UpdateFlopsPerParam(plan->optimizer);
            dur[v] = cal.profile->update_s * params / cal.profile->params;
          } else if (cal.profile) {
            dur[v] = ComputeTime(t, e, plan->precision, cal, LayerNameOf(t.name));
          } else {
            dur[v] = RooflineTime(t, e, precision, cal);
          }
          if (lossy) {
            dur[v] =
                dur[v] * plan->compute_factor + (first_compute ? plan->iteration_overhead_s : 0);
            first_compute = false;
          }
        } else if (t.kind == TaskKind::kSend && kind[v] == kSendAlone) {
          dur[v] = P2PDuration(rk.endpoint, plan->ranks[t.peer].endpoint, t.comm_bytes);
        } else if (t.kind == TaskKind::kRecv && joint_of[v] >= 0 &&
                   kind[joint_of[v]] == kJointP2P) {
          // A joint of several receives (many workers pushing one shard to its server): the
          // slowest of its messages alone.
          double& d = dur[joint_of[v]];
          d = std::max(d, P2PDuration(plan->ranks[t.peer].endpoint, rk.endpoint, t.comm_bytes));
        }
      }
    }
    for (int j = task_nodes; j < n; ++j)
      if (kind[j] == kJointColl) dur[j] = CollDuration(coll[j - task_nodes]);
  }
};

Estimator::Estimator(const plan::Plan& plan, const topo::Cluster& cluster, const Calibration& cal)
    : impl_(std::make_unique<Impl>(plan, cluster, cal)) {}
Estimator::Estimator(const plan::Plan& plan, const topo::Cluster& cluster, const Calibration& cal,
                     const std::vector<int>& same_as)
    : impl_(std::make_unique<Impl>(plan, cluster, cal, &same_as)) {}
Estimator::~Estimator() = default;
int Estimator::classes() const {
  return static_cast<int>(impl_->reps.size());
}

void Estimator::Reset(const plan::Plan& plan, const std::vector<int>* same_as) {
  impl_->Reset(plan, same_as);
}

void Estimator::Recalibrate(const Calibration& cal) {
  impl_->cal = cal;
  impl_->Durations();
}

Summary Estimator::Run(double single_device_time_s) const {
  const Impl& m = *impl_;
  const int n = static_cast<int>(m.kind.size());
  std::vector<double> start(n, 0), end(n, 0);
  // Start and end of node v once it is ready (its predecessors are done at `ready`).
  auto place = [&](int v, double ready, std::vector<double>* link_free) {
    if (m.kind[v] == Impl::kMember) {
      start[v] = start[m.preds[m.pred_begin[v]]];
      end[v] = ready;
      return;
    }
    start[v] = ready;
    end[v] = ready + m.dur[v];
    if (!link_free) return;
    for (int k = m.load_begin[v]; k < m.load_begin[v + 1]; ++k) {
      double& free = (*link_free)[m.load_slot[k]];
      free = std::max(free, ready) + m.load_s[k];
      end[v] = std::max(end[v], free);
    }
  };
  auto ready_of = [&](int v) {
    double ready = 0;
    for (int k = m.pred_begin[v]; k < m.pred_begin[v + 1]; ++k)
      ready = std::max(ready, end[m.preds[k]]);
    return ready;
  };
  if (!m.queued) {
    for (int v : m.order) place(v, ready_of(v), nullptr);
  } else {
    // Link queues serve transfers in the order they become ready, so the nodes are taken in
    // that order (lowest node first on a tie), not in the topological order.
    std::vector<double> link_free(2 * m.cl.links().size(), 0);
    std::vector<int> waiting(n);
    std::priority_queue<std::pair<double, int>, std::vector<std::pair<double, int>>, std::greater<>>
        ready;
    for (int v = 0; v < n; ++v) {
      waiting[v] = m.pred_begin[v + 1] - m.pred_begin[v];
      if (waiting[v] == 0) ready.push({0.0, v});
    }
    while (!ready.empty()) {
      const auto [at, v] = ready.top();
      ready.pop();
      place(v, at, &link_free);
      for (int k = m.succ_begin[v]; k < m.succ_begin[v + 1]; ++k) {
        const int w = m.succs[k];
        if (--waiting[w] == 0) ready.push({ready_of(w), w});
      }
    }
  }
  Summary s;
  s.source = "estimate";
  FillFromPlan(s, *m.plan);
  s.devices = m.devices;
  // One iteration from time 0, one timeline per representative.
  Timeline tl;
  tl.ranks.resize(m.reps.size());
  for (size_t i = 0; i < m.reps.size(); ++i)
    for (const Task& t : m.plan->ranks[m.reps[i]].tasks) {
      const int v = m.offset[i] + t.id;
      tl.ranks[i].intervals.push_back({t.id, t.kind, t.phase, start[v], end[v], m.sent[v]});
    }
  tl.timeline_of.resize(m.plan->ranks.size());
  for (size_t r = 0; r < m.plan->ranks.size(); ++r) {
    tl.timeline_of[r] = m.rep_slot[m.rep[r]];
    const topo::Endpoint& e = m.cl.endpoint(m.plan->ranks[r].endpoint);
    s.ranks[r].endpoint = e.name;
    s.ranks[r].memory_capacity_bytes = e.type ? e.type->memory_bytes : 0;
  }
  Reduce(*m.plan, tl, s);
  const double T = s.iteration_time_s;
  s.single_device_time_s = single_device_time_s;
  if (single_device_time_s > 0 && T > 0) {
    const auto& opt = m.plan->context.options;
    double batch = opt.contains("batch") && opt["batch"].is_number()
                       ? opt["batch"].get<double>()
                       : static_cast<double>(m.plan->global_batch) / std::max(1, m.devices);
    s.speedup = s.throughput_samples_per_s / (batch / single_device_time_s);
    s.scaling_efficiency = m.devices > 0 ? s.speedup / m.devices : 0;
  }
  return s;
}

Summary Estimate(const plan::Plan& plan, const topo::Cluster& cluster, const Calibration& cal,
                 double single_device_time_s) {
  return Estimator(plan, cluster, cal).Run(single_device_time_s);
}

struct StrategyEstimator::Impl {
  Impl(const graph::Network& n, const topo::Cluster& c, const Calibration& k)
      : cluster(c), cal(k), lowering(n, c) {}
  const topo::Cluster& cluster;
  Calibration cal;
  plan::detail::EstimateLowering lowering;
  std::vector<int> same_as;
  const plan::Plan* plan = nullptr;
  std::unique_ptr<Estimator> estimator;
};

StrategyEstimator::StrategyEstimator(const graph::Network& net, const topo::Cluster& cluster,
                                     const Calibration& cal)
    : impl_(std::make_unique<Impl>(net, cluster, cal)) {}
StrategyEstimator::~StrategyEstimator() = default;

Summary StrategyEstimator::Estimate(const plan::StrategyOptions& o, double single_device_time_s) {
  Impl& m = *impl_;
  m.plan = nullptr;
  // Task names are needed only to find layers in a profile.
  const plan::Plan& p = m.lowering.Lower(o, m.same_as, m.cal.profile != nullptr);
  const std::vector<int>* classes = m.same_as.empty() ? nullptr : &m.same_as;
  if (m.estimator)
    m.estimator->Reset(p, classes);
  else if (classes)
    m.estimator = std::make_unique<Estimator>(p, m.cluster, m.cal, *classes);
  else
    m.estimator = std::make_unique<Estimator>(p, m.cluster, m.cal);
  m.plan = &p;
  return m.estimator->Run(single_device_time_s);
}

const plan::Plan& StrategyEstimator::last_plan() const {
  if (!impl_->plan) throw RuntimeError("StrategyEstimator::last_plan: no plan estimated yet");
  return *impl_->plan;
}

Summary EstimateStrategy(const graph::Network& net, const topo::Cluster& cluster,
                         const plan::StrategyOptions& o, const Calibration& cal,
                         double single_device_time_s) {
  return StrategyEstimator(net, cluster, cal).Estimate(o, single_device_time_s);
}

double SingleDeviceTime(const graph::Network& net, const topo::Cluster& cluster,
                        const plan::StrategyOptions& o, int64_t batch, const Calibration& cal) {
  plan::StrategyOptions one;
  one.strategy = "dp";
  one.gpus = 1;
  one.batch = batch;
  one.precision = o.precision;
  one.optimizer = o.optimizer;
  const plan::Plan p = plan::Lower(net, cluster, one);
  return Estimator(p, cluster, cal).Run().iteration_time_s;
}

namespace {
std::string DeviceName(const topo::Cluster& cluster) {
  return cluster.num_devices() > 0 && cluster.endpoint(0).type ? cluster.endpoint(0).type->name
                                                               : "device";
}
}  // namespace

Calibration CalibrateEfficiency(const graph::Network& net, const topo::Cluster& cluster,
                                const plan::StrategyOptions& o, int64_t batch, double samples_per_s,
                                const Calibration& base, std::string& note) {
  note.clear();
  if (!(samples_per_s > 0))
    throw InputError("--single-gpu-throughput must be a positive number of samples per second");
  plan::StrategyOptions one;
  one.strategy = "dp";
  one.gpus = 1;
  one.batch = batch;
  one.precision = o.precision;
  one.optimizer = o.optimizer;
  const plan::Plan p = plan::Lower(net, cluster, one);
  Calibration cal = base;
  cal.profile = nullptr;
  Estimator est(p, cluster, cal);
  const double target = static_cast<double>(batch) / samples_per_s;
  auto time_at = [&](double eff) {
    cal.efficiency = eff;
    est.Recalibrate(cal);
    return est.Run().iteration_time_s;
  };
  const double best = time_at(1.0);
  if (best > target) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "--single-gpu-throughput %g is above the roofline of %s on one %s at full "
                  "efficiency (%.1f samples/s at batch %lld): used as given, every compute time "
                  "scaled by %.4g (cuDNN's Winograd and FFT convolutions do fewer multiplies than "
                  "the direct count)",
                  samples_per_s, net.name().c_str(), DeviceName(cluster).c_str(),
                  static_cast<double>(batch) / best, static_cast<long long>(batch), target / best);
    note = buf;
    cal.efficiency = 1;
    cal.compute_scale = base.compute_scale * target / best;
    cal.profile = base.profile;
    return cal;
  }
  double lo = 1e-6, hi = 1.0;
  for (int i = 0; i < 60; ++i) {
    const double mid = std::sqrt(lo * hi);
    if (time_at(mid) > target)
      lo = mid;
    else
      hi = mid;
  }
  cal.efficiency = hi;
  cal.profile = base.profile;
  return cal;
}

std::string ProfileAboveRooflineNote(const graph::Network& net, const topo::Cluster& cluster,
                                     const plan::StrategyOptions& o, int64_t batch,
                                     const Calibration& with_profile) {
  Calibration roofline;
  roofline.efficiency = 1;
  const double bound = SingleDeviceTime(net, cluster, o, batch, roofline);
  const double measured = SingleDeviceTime(net, cluster, o, batch, with_profile);
  if (!(measured < bound)) return "";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "the profile trains %s at %.1f samples/s on one %s, above the roofline at full "
                "efficiency (%.1f samples/s at batch %lld): used as given",
                net.name().c_str(), static_cast<double>(batch) / measured,
                DeviceName(cluster).c_str(), static_cast<double>(batch) / bound,
                static_cast<long long>(batch));
  return buf;
}

namespace {

// Seconds of a rank's compute tasks one after another on endpoint `ep`, with the losses the
// interpreters apply to workers and stages (not to servers); `skip_aggregates` leaves out the
// sums a node leader runs for its node.
double SerialCompute(const plan::TaskList& tasks, const topo::Endpoint& ep, const plan::Plan& plan,
                     const Calibration& cal, bool lossy, bool skip_aggregates = false) {
  const int precision = PrecisionIndex(plan.precision);
  double s = 0;
  bool any = false;
  for (const Task& t : tasks) {
    if (t.kind != TaskKind::kCompute) continue;
    if (skip_aggregates && t.phase == plan::Phase::kAggregate) continue;
    const double d = cal.profile ? ComputeTime(t, ep, plan.precision, cal, LayerNameOf(t.name))
                                 : RooflineTime(t, ep, precision, cal);  // the same, unnamed
    s += lossy ? d * plan.compute_factor : d;
    any = true;
  }
  if (any && lossy) s += plan.iteration_overhead_s;
  return s;
}

void RaiseCompute(IterationBound& b, double s, int rank) {
  if (s > b.compute_s) {
    b.compute_s = s;
    b.rank = rank;
  }
}

// Bytes per link direction (LinkSlot), from endpoint-to-endpoint transfers.
class LinkBytes {
 public:
  explicit LinkBytes(const topo::Cluster& cluster)
      : cluster_(cluster), bytes_(2 * cluster.links().size(), 0) {}
  void Add(int from, int to, double n) {
    if (from == to || n <= 0) return;
    for (const topo::Hop& h : cluster_.route(from, to).hops) bytes_[LinkSlot(cluster_, h)] += n;
  }
  // The busiest link direction into `b`, and b.seconds.
  void Finish(IterationBound& b) const {
    const auto& links = cluster_.links();
    for (size_t k = 0; k < bytes_.size(); ++k) {
      const double s = bytes_[k] / links[k / 2].bandwidth_Bps;
      if (bytes_[k] > 0 && s > b.link_s) {
        b.link_s = s;
        b.link_bytes = bytes_[k];
        b.link = static_cast<int>(k / 2);
        b.forward = k % 2 == 1;
      }
    }
    b.seconds = std::max(b.compute_s, b.link_s);
  }

 private:
  const topo::Cluster& cluster_;
  std::vector<double> bytes_;
};

}  // namespace

IterationBound LowerBound(const plan::Plan& plan, const topo::Cluster& cluster,
                          const Calibration& cal) {
  IterationBound b;
  for (size_t r = 0; r < plan.ranks.size(); ++r) {
    const plan::Rank& rk = plan.ranks[r];
    RaiseCompute(b,
                 SerialCompute(rk.tasks, cluster.endpoint(rk.endpoint), plan, cal,
                               rk.role != plan::Role::kServer),
                 static_cast<int>(r));
  }
  LinkBytes bytes(cluster);
  std::vector<int> endpoints, node_of;
  for (size_t r = 0; r < plan.ranks.size(); ++r) {
    for (const Task& t : plan.ranks[r].tasks) {
      if (t.kind == TaskKind::kSend) {
        bytes.Add(plan.ranks[r].endpoint, plan.ranks[t.peer].endpoint, t.comm_bytes);
      } else if (t.kind == TaskKind::kCollective) {
        // Each collective once: on its group's first member.
        const auto& members = plan.groups[t.group].ranks;
        if (members.size() < 2 || members.front() != static_cast<int>(r)) continue;
        endpoints.clear();
        node_of.clear();
        for (int m : members) endpoints.push_back(plan.ranks[m].endpoint);
        if (t.algorithm == Algorithm::kHierarchical)
          for (int e : endpoints) node_of.push_back(cluster.endpoint(e).node);
        for (const auto& [a, c, per_byte] :
             PairBytes(t.collective, t.algorithm, static_cast<int>(endpoints.size()), node_of))
          bytes.Add(endpoints[a], endpoints[c], per_byte * t.comm_bytes);
      }
    }
  }
  bytes.Finish(b);
  return b;
}

IterationBound LowerBound(const plan::PsOutline& outline, const topo::Cluster& cluster,
                          const Calibration& cal) {
  const plan::Plan& plan = outline.plan;
  IterationBound b;
  // Workers: rank 0's program, in full on rank 0 and without a leader's sums on every other
  // worker (once per kind of device).
  std::set<std::pair<const void*, double>> seen;
  for (size_t r = 0; r < plan.ranks.size(); ++r) {
    const plan::Rank& rk = plan.ranks[r];
    if (rk.role == plan::Role::kServer) continue;
    const topo::Endpoint& ep = cluster.endpoint(rk.endpoint);
    if (r > 0 && !seen.insert({ep.type, ep.speed_factor}).second) continue;
    RaiseCompute(b, SerialCompute(plan.ranks[0].tasks, ep, plan, cal, true, r > 0),
                 static_cast<int>(r));
  }
  // Servers: each shard's tasks as many times as an iteration runs them.
  const int precision = PrecisionIndex(plan.precision);
  std::map<int, double> server_s;
  for (const plan::PsOutline::Repeated& c : outline.server_compute) {
    const topo::Endpoint& ep = cluster.endpoint(plan.ranks[c.rank].endpoint);
    const double d = cal.profile
                         ? ComputeTime(c.task, ep, plan.precision, cal, LayerNameOf(c.task.name))
                         : RooflineTime(c.task, ep, precision, cal);
    server_s[c.rank] += d * static_cast<double>(c.times);
  }
  for (const auto& [rank, s] : server_s) RaiseCompute(b, s, rank);
  LinkBytes bytes(cluster);
  for (const plan::PsOutline::Traffic& t : outline.traffic)
    bytes.Add(plan.ranks[t.from].endpoint, plan.ranks[t.to].endpoint, t.bytes);
  bytes.Finish(b);
  return b;
}

std::string IterationBound::Describe(const plan::Plan& plan, const topo::Cluster& cluster) const {
  if (link >= 0 && link_s >= compute_s) {
    const topo::Link& l = cluster.links()[link];
    const std::string dir = l.shared ? "" : forward ? " (up to down)" : " (down to up)";
    return units::FormatBytes(link_bytes) + " through link " + l.name + dir + " at " +
           units::FormatBandwidth(l.bandwidth_Bps);
  }
  if (rank >= 0)
    return "compute of rank " + std::to_string(rank) + " (" +
           cluster.endpoint(plan.ranks[rank].endpoint).name + ")";
  return "nothing to do";
}

void CheckMemory(const plan::Plan& plan, const topo::Cluster& cluster) {
  std::map<int, std::vector<int>> on;
  for (size_t r = 0; r < plan.ranks.size(); ++r)
    on[plan.ranks[r].endpoint].push_back(static_cast<int>(r));
  // Memory in binary units: "93.1 GiB", "12.0 MiB", "1.4 KiB", "928 B".
  auto gib = [](double b) {
    char buf[32];
    if (b >= 1024.0 * 1024 * 1024)
      std::snprintf(buf, sizeof buf, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
      std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
    else if (b >= 1024)
      std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
    else
      std::snprintf(buf, sizeof buf, "%.0f B", b);
    return std::string(buf);
  };
  for (const auto& [ep, ranks] : on) {
    const topo::Endpoint& e = cluster.endpoint(ep);
    if (!e.type || e.type->memory_bytes <= 0) continue;
    double w = 0, g = 0, o = 0, a = 0, b = 0, ws = 0;
    for (int r : ranks) {
      const plan::Rank& rk = plan.ranks[r];
      w += rk.memory_weights;
      g += rk.memory_gradients;
      o += rk.memory_optimizer;
      a += rk.memory_activations;
      b += rk.memory_buffers;
      ws += rk.memory_workspace;
    }
    const double need = w + g + o + a + b + ws;
    if (need > e.type->memory_bytes)
      throw InputError("endpoint " + e.name + " needs " + gib(need) + " but has " +
                       gib(e.type->memory_bytes) + " (weights " + gib(w) + ", gradients " + gib(g) +
                       ", optimizer " + gib(o) + ", activations " + gib(a) + ", buffers " + gib(b) +
                       ", workspace " + gib(ws) +
                       "); use a smaller --batch, more --stages or --micro-batches, or "
                       "--allow-oversubscribe");
  }
}

}  // namespace convscale::cost
