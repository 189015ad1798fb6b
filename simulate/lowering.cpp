#include "simulate/lowering.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "model/plan/collectives.h"
#include "model/util/error.h"

namespace convscale::sim {

namespace {

constexpr std::pair<CollectiveMode, const char*> kModes[] = {
    {CollectiveMode::kExact, "exact"},
    {CollectiveMode::kCoarse, "coarse"},
    {CollectiveMode::kAuto, "auto"},
};

// Above this many members a ring collective's coarse phase is built analytically instead of
// from the materialised schedule (2(n-1) steps x n transfers: 537 M transfers at n = 16,384).
constexpr int kAnalyticRingMembers = 512;

bool IsRingCollective(const plan::Task& t) {
  return t.algorithm == plan::Algorithm::kRing &&
         (t.collective == plan::Collective::kAllReduce ||
          t.collective == plan::Collective::kReduceScatter ||
          t.collective == plan::Collective::kAllGather);
}

int RingSteps(plan::Collective c, int n) {
  return c == plan::Collective::kAllReduce ? 2 * (n - 1) : n - 1;
}

// The members' nodes, for hierarchical schedules.
std::vector<int> NodeOf(const plan::Plan& p, const plan::Group& g, const topo::Cluster& cl) {
  std::vector<int> out;
  out.reserve(g.ranks.size());
  for (int r : g.ranks) out.push_back(cl.endpoint(p.ranks[r].endpoint).node);
  return out;
}

// Link-direction slot for load counting: shared links count both directions together.
int64_t Slot(const topo::Cluster& cl, const topo::Hop& h) {
  return cl.links()[h.link].shared ? 2 * int64_t{h.link}
                                   : 2 * int64_t{h.link} + (h.forward ? 0 : 1);
}

struct Pair {
  int src = 0, dst = 0;  // member indices
  bool operator<(const Pair& o) const { return src != o.src ? src < o.src : dst < o.dst; }
  bool operator==(const Pair& o) const { return src == o.src && dst == o.dst; }
};

// One coarse phase: a run of steps with the same transfer pairs.
struct Phase {
  std::vector<Pair> pairs;    // sorted
  std::vector<double> bytes;  // per pair, summed over the phase's steps
  // Steps as (repeat count, bytes per pair): a ring's 2(n-1) equal steps are one entry.
  std::vector<std::pair<int, std::vector<double>>> steps;
};

class Lowerer {
 public:
  Lowerer(const plan::Plan& p, const topo::Cluster& cl, const LoweringOptions& o)
      : p_(p), cl_(cl), o_(o), b_(static_cast<int>(p.ranks.size())) {}

  LoweredPlan Run(bool coarse, bool coarse_messages) {
    const int ranks = static_cast<int>(p_.ranks.size());
    Dag& d = b_.dag();
    d.task_offset.assign(ranks + 1, 0);
    for (int r = 0; r < ranks; ++r)
      d.task_offset[r + 1] = d.task_offset[r] + static_cast<int64_t>(p_.ranks[r].tasks.size());
    const int64_t total = d.task_offset[ranks];
    entry_.assign(total, -1);
    exit_.assign(total, -1);
    chained_.assign(total, 0);
    d.task_partner.assign(total, -1);
    d.async = p_.async;
    d.staleness_bound = p_.async ? p_.staleness_bound : -1;
    d.ps_coalesce_bytes = coarse_messages ? o_.ps_coalesce_bytes : 0;
    for (int r = 0; r < ranks; ++r) d.server[r] = p_.ranks[r].role == plan::Role::kServer;
    for (int r = 0; r < ranks; ++r) LowerCompute(r);
    LowerP2P();
    LowerCollectives(coarse);
    for (int r = 0; r < ranks; ++r) {
      const auto& tasks = p_.ranks[r].tasks;
      std::vector<uint8_t> needed(tasks.size(), 0);
      for (const plan::Task& t : tasks) {
        const int64_t g = d.task_offset[r] + t.id;
        for (int dep : t.deps) needed[dep] = 1;
        if (chained_[g]) continue;
        int32_t last = -1;  // deps in one chain piece give one edge
        for (int dep : t.deps) {
          const int32_t from = exit_[d.task_offset[r] + dep];
          if (from != last) b_.Edge(from, entry_[g]);
          last = from;
        }
      }
      // The rank's iteration ends with its last tasks (a flow node belongs to its sender, so the
      // receiver's end must be tied to its own tasks explicitly).
      for (const plan::Task& t : tasks)
        if (!needed[t.id]) b_.Edge(exit_[d.task_offset[r] + t.id], b_.iter_end(r));
    }
    LoweredPlan out;
    out.coarse = coarse;
    out.flows = flows_;
    out.dag = b_.Finish();
    return out;
  }

 private:
  double Speed(int r) const { return o_.rank_speed.empty() ? 1.0 : o_.rank_speed[r]; }

  // Compute tasks, fused into chains run as one timer each. A compute task joins the chain of
  // the compute task just before it in the rank's list when that task ends the chain and every
  // dependency of the new task lies in the chain: on the serial stream (the plan orders a rank's
  // compute tasks by dependencies) it then starts the moment its predecessor ends. A chain is cut
  // after any task that something outside the chain waits on (a collective, a send, another
  // chain), so every time another node needs is a chain end. A server's update ends its chain
  // (staleness counts each update).
  void LowerCompute(int r) {
    const plan::Rank& rank = p_.ranks[r];
    const auto& tasks = rank.tasks;
    const int64_t off = b_.dag().task_offset[r];
    topo::Endpoint ep = cl_.endpoint(rank.endpoint);
    if (Speed(r) != 1) ep.speed_factor = (ep.speed_factor > 0 ? ep.speed_factor : 1) * Speed(r);
    for (size_t k = 0; k < tasks.size(); ++k)
      if (tasks[k].id != static_cast<int>(k))
        throw InputError("plan", "/ranks/" + std::to_string(r) + "/tasks/" + std::to_string(k),
                         "task id " + std::to_string(tasks[k].id) + " is not its index");
    for (const plan::Task& t : tasks)
      for (int dep : t.deps)
        if (dep < 0 || dep >= static_cast<int>(tasks.size()) || dep >= t.id)
          throw InputError("plan", "/ranks/" + std::to_string(r) + "/tasks/" + std::to_string(t.id),
                           "dependency " + std::to_string(dep) + " is not an earlier task");
    auto server_update = [&](int k) {
      return rank.role == plan::Role::kServer && tasks[k].phase == plan::Phase::kUpdate;
    };
    // chain[t]: the chain (its first task) of compute task t, -1 for other tasks; next[t]: the
    // following task in t's chain; cut[t]: a chain piece ends after t.
    std::vector<int> chain(tasks.size(), -1), next(tasks.size(), -1);
    std::vector<uint8_t> cut(tasks.size(), 0);
    int prev = -1;  // the previous compute task
    for (const plan::Task& t : tasks) {
      if (t.kind != plan::TaskKind::kCompute) continue;
      chain[t.id] = t.id;
      if (prev >= 0 && next[prev] < 0 && !server_update(prev) && !t.deps.empty()) {
        bool inside = false;
        for (int dep : t.deps) {
          inside = chain[dep] == chain[prev];
          if (!inside) break;
        }
        if (inside) {
          chain[t.id] = chain[prev];
          next[prev] = t.id;
        }
      }
      prev = t.id;
    }
    // A task waiting on several tasks of one chain waits for the latest of them only (the chain
    // runs them in order): cut after that one.
    std::vector<std::pair<int, int>> latest;  // (chain, latest dependency in it)
    for (const plan::Task& t : tasks) {
      latest.clear();
      for (int dep : t.deps) {
        if (chain[dep] < 0 || chain[dep] == chain[t.id]) continue;
        auto it = std::find_if(latest.begin(), latest.end(),
                               [&](const auto& x) { return x.first == chain[dep]; });
        if (it == latest.end())
          latest.emplace_back(chain[dep], dep);
        else
          it->second = std::max(it->second, dep);
      }
      for (const auto& [c, dep] : latest) cut[dep] = 1;
    }
    // head[t]: first task of t's chain piece.
    std::vector<int> head(tasks.size(), -1);
    for (const plan::Task& t : tasks) {
      if (t.kind != plan::TaskKind::kCompute || head[t.id] >= 0) continue;
      for (int k = t.id; k >= 0; k = next[k]) {
        head[k] = t.id;
        if (cut[k] && next[k] >= 0) {
          next[k] = -1;  // the rest of the chain is a piece of its own
          break;
        }
      }
    }
    // Losses (docs/simulator.md, "Losses"), for workers and stages as in the estimator: every
    // kernel lasts compute_factor times as long, the rank's first compute task also carries the
    // iteration overhead.
    const bool lossy = rank.role != plan::Role::kServer;
    int first_compute = -1;
    for (const plan::Task& t : tasks)
      if (t.kind == plan::TaskKind::kCompute) {
        first_compute = t.id;
        break;
      }
    Dag& d = b_.dag();
    for (const plan::Task& t : tasks) {
      if (t.kind != plan::TaskKind::kCompute || head[t.id] != t.id) continue;
      Node n;
      n.kind = NodeKind::kCompute;
      n.rank = r;
      n.chain_begin = static_cast<int32_t>(d.chain_task.size());
      for (int k = t.id; k >= 0; k = next[k]) {
        double s = ComputeSeconds(tasks[k], ep, p_.precision, o_.calibration);
        if (lossy) s = s * p_.compute_factor + (k == first_compute ? p_.iteration_overhead_s : 0);
        d.chain_task.push_back(static_cast<int32_t>(off + k));
        d.chain_seconds.push_back(s);
        n.amount += s;
        if (rank.role == plan::Role::kServer && tasks[k].phase == plan::Phase::kUpdate) {
          n.flags = kFlagServerUpdate;
          n.shard = tasks[k].layer;
        }
      }
      n.chain_end = static_cast<int32_t>(d.chain_task.size());
      const int32_t id = b_.Add(n);
      entry_[off + t.id] = id;
      for (int k = t.id; k >= 0; k = next[k]) {
        exit_[off + k] = id;
        if (k != t.id) chained_[off + k] = 1;
      }
    }
  }

  int32_t Join(int rank, int begin_task = -1, int end_task = -1) {
    Node n;
    n.rank = rank;
    n.begin_task = begin_task;
    n.end_task = end_task;
    return b_.Add(n);
  }

  int32_t Flow(int src_rank, int dst_rank, double bytes) {
    Node n;
    n.kind = NodeKind::kFlow;
    n.rank = src_rank;
    n.peer = dst_rank;
    n.src = p_.ranks[src_rank].endpoint;
    n.dst = p_.ranks[dst_rank].endpoint;
    n.amount = bytes;
    ++flows_;
    return b_.Add(n);
  }

  // Send/Recv pairs, matched in task order by (source, destination, tag).
  void LowerP2P() {
    const Dag& d = b_.dag();
    std::map<std::tuple<int, int, int64_t>, std::vector<int64_t>> recvs;
    for (size_t r = 0; r < p_.ranks.size(); ++r)
      for (const plan::Task& t : p_.ranks[r].tasks)
        if (t.kind == plan::TaskKind::kRecv)
          recvs[{t.peer, static_cast<int>(r), t.tag}].push_back(d.task_offset[r] + t.id);
    std::map<std::tuple<int, int, int64_t>, size_t> used;
    for (size_t r = 0; r < p_.ranks.size(); ++r) {
      for (const plan::Task& t : p_.ranks[r].tasks) {
        if (t.kind != plan::TaskKind::kSend) continue;
        const auto key = std::make_tuple(static_cast<int>(r), t.peer, t.tag);
        auto it = recvs.find(key);
        size_t& k = used[key];
        if (it == recvs.end() || k >= it->second.size())
          throw InputError("plan", "/ranks/" + std::to_string(r) + "/tasks/" + std::to_string(t.id),
                           "send to rank " + std::to_string(t.peer) + " tag " +
                               std::to_string(t.tag) + " has no matching receive");
        const int64_t recv = it->second[k++];
        const int64_t send = d.task_offset[r] + t.id;
        b_.dag().task_partner[send] = recv;
        b_.dag().task_partner[recv] = send;
        const int dst_rank = t.peer;
        const int32_t s0 = Join(static_cast<int>(r), static_cast<int>(send));
        const int32_t r0 = Join(dst_rank, static_cast<int>(recv));
        const int32_t f = Flow(static_cast<int>(r), dst_rank, t.comm_bytes);
        b_.node(f).end_task = static_cast<int32_t>(send);
        b_.node(f).flags = kFlagMessage;
        const plan::Role from = p_.ranks[r].role, to = p_.ranks[dst_rank].role;
        if (from == plan::Role::kWorker && to == plan::Role::kServer) b_.node(f).flags |= kFlagPush;
        if (from == plan::Role::kServer && to == plan::Role::kWorker) b_.node(f).flags |= kFlagPull;
        // The shard is the layer the message carries; a server's tasks may leave their layers
        // to the worker's side (execute/runtime.h), so take whichever side names one.
        const plan::Task& rt = p_.ranks[dst_rank].tasks[recv - d.task_offset[dst_rank]];
        b_.node(f).shard = !t.layers.empty()    ? t.layers.front()
                           : !rt.layers.empty() ? rt.layers.front()
                                                : t.layer;
        const int32_t r1 = Join(dst_rank, -1, static_cast<int>(recv));
        b_.Edge(s0, f);
        b_.Edge(r0, f);
        b_.Edge(f, r1);
        entry_[send] = s0;
        exit_[send] = f;
        entry_[recv] = r0;
        exit_[recv] = r1;
      }
    }
  }

  void LowerCollectives(bool coarse) {
    const Dag& d = b_.dag();
    // collective id -> member tasks (global index) in rank order.
    std::map<int64_t, std::vector<std::pair<int, int64_t>>> calls;
    for (size_t r = 0; r < p_.ranks.size(); ++r)
      for (const plan::Task& t : p_.ranks[r].tasks)
        if (t.kind == plan::TaskKind::kCollective)
          calls[t.collective_id].emplace_back(static_cast<int>(r), d.task_offset[r] + t.id);
    for (const auto& [cid, members] : calls) {
      const auto [r0, g0] = members.front();
      const plan::Task& t = p_.ranks[r0].tasks[g0 - d.task_offset[r0]];
      if (t.group < 0 || t.group >= static_cast<int>(p_.groups.size()))
        throw InputError(
            "plan", "/ranks/" + std::to_string(r0) + "/tasks/" + std::to_string(t.id) + "/group",
            "group " + std::to_string(t.group) + " does not exist");
      const plan::Group& g = p_.groups[t.group];
      const int n = static_cast<int>(g.ranks.size());
      // Member m's task and its start join.
      std::vector<int64_t> task_of(n, -1);
      std::vector<int32_t> cur(n, -1);
      std::unordered_map<int, int64_t> task_of_rank;
      for (const auto& [r, gt] : members) task_of_rank.emplace(r, gt);
      for (int m = 0; m < n; ++m) {
        const int rank = g.ranks[m];
        if (auto it = task_of_rank.find(rank); it != task_of_rank.end()) task_of[m] = it->second;
        if (task_of[m] < 0)
          throw InputError(
              "plan", "/groups/" + std::to_string(t.group),
              "collective " + std::to_string(cid) + " has no task on rank " + std::to_string(rank));
        cur[m] = Join(rank, static_cast<int>(task_of[m]));
        entry_[task_of[m]] = cur[m];
      }
      if (n > 1) {
        if (coarse)
          LowerCoarse(t, g, cur);
        else
          LowerExact(t, g, cur);
      }
      for (int m = 0; m < n; ++m) {
        // The last join of a member marks the task's end.
        const int32_t end = Join(g.ranks[m], -1, static_cast<int>(task_of[m]));
        b_.Edge(cur[m], end);
        exit_[task_of[m]] = end;
      }
    }
  }

  plan::Schedule Schedule(const plan::Task& t, const plan::Group& g) {
    try {
      return plan::BuildSchedule(t.collective, t.algorithm, static_cast<int>(g.ranks.size()),
                                 t.comm_bytes, NodeOf(p_, g, cl_));
    } catch (const std::invalid_argument& e) {
      throw InputError("plan", "/groups/" + std::to_string(t.group), e.what());
    }
  }

  // Chunk by chunk: a member's step s+1 starts when its own transfers of step s are done.
  void LowerExact(const plan::Task& t, const plan::Group& g, std::vector<int32_t>& cur) {
    const plan::Schedule s = Schedule(t, g);
    const int n = static_cast<int>(g.ranks.size());
    std::vector<int32_t> next(n, -1);
    for (const plan::Step& st : s.steps) {
      std::fill(next.begin(), next.end(), -1);
      for (const plan::Transfer& x : st.transfers) {
        const int32_t f = Flow(g.ranks[x.src], g.ranks[x.dst], x.bytes);
        b_.Edge(cur[x.src], f);
        b_.Edge(cur[x.dst], f);
        for (int m : {x.src, x.dst}) {
          if (next[m] < 0) next[m] = Join(g.ranks[m]);
          b_.Edge(f, next[m]);
        }
      }
      for (int m = 0; m < n; ++m)
        if (next[m] >= 0) cur[m] = next[m];
    }
  }

  std::vector<Phase> Phases(const plan::Task& t, const plan::Group& g) {
    const int n = static_cast<int>(g.ranks.size());
    std::vector<Phase> out;
    if (IsRingCollective(t) && n > kAnalyticRingMembers) {
      // Ring: every step sends S/n from member m to m+1 (the order of BuildSchedule's ring).
      Phase ph;
      const int k = RingSteps(t.collective, n);
      for (int m = 0; m < n; ++m) ph.pairs.push_back({m, (m + 1) % n});
      std::sort(ph.pairs.begin(), ph.pairs.end());
      ph.bytes.assign(n, k * t.comm_bytes / n);
      ph.steps.push_back({k, std::vector<double>(n, t.comm_bytes / n)});
      out.push_back(std::move(ph));
      return out;
    }
    if (t.algorithm == plan::Algorithm::kHierarchical &&
        t.collective == plan::Collective::kAllReduce && n > kAnalyticRingMembers)
      return HierarchicalPhases(t, g);
    const plan::Schedule s = Schedule(t, g);
    for (const plan::Step& st : s.steps) {
      std::vector<std::pair<Pair, double>> xs;
      for (const plan::Transfer& x : st.transfers) xs.push_back({{x.src, x.dst}, x.bytes});
      std::sort(xs.begin(), xs.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      std::vector<Pair> pairs;
      std::vector<double> bytes;
      for (const auto& [p, b] : xs) {
        if (!pairs.empty() && pairs.back() == p) {
          bytes.back() += b;  // two transfers of one pair in a step travel as one flow
        } else {
          pairs.push_back(p);
          bytes.push_back(b);
        }
      }
      if (pairs.empty()) continue;
      if (out.empty() || out.back().pairs != pairs) {
        Phase ph;
        ph.pairs = pairs;
        ph.bytes.assign(pairs.size(), 0);
        out.push_back(std::move(ph));
      }
      Phase& ph = out.back();
      for (size_t i = 0; i < pairs.size(); ++i) ph.bytes[i] += bytes[i];
      if (!ph.steps.empty() && ph.steps.back().second == bytes)
        ++ph.steps.back().first;
      else
        ph.steps.push_back({1, std::move(bytes)});
    }
    return out;
  }

  // The phases of plan::BuildSchedule's hierarchical all-reduce without materialising it:
  // ring reduce-scatter inside each node (g-1 steps of S/g), ring all-reduce of each shard across
  // nodes among members with the same local index (2(N-1) steps of S/g/N), ring all-gather
  // inside each node (g-1 steps of S/g).
  std::vector<Phase> HierarchicalPhases(const plan::Task& t, const plan::Group& g) {
    const std::vector<int> node_of = NodeOf(p_, g, cl_);
    std::vector<int> nodes;
    std::vector<std::vector<int>> local;
    std::unordered_map<int, int> index;
    for (int i = 0; i < static_cast<int>(node_of.size()); ++i) {
      auto it = index.find(node_of[i]);
      if (it == index.end()) {
        it = index.emplace(node_of[i], static_cast<int>(local.size())).first;
        local.push_back({});
      }
      local[it->second].push_back(i);
    }
    const int gl = static_cast<int>(local[0].size());
    const int N = static_cast<int>(local.size());
    for (const auto& l : local)
      if (static_cast<int>(l.size()) != gl)
        throw InputError("plan", "/groups/" + std::to_string(t.group),
                         "the hierarchical algorithm needs the same number of members on "
                         "every node");
    auto make = [](std::vector<Pair> pairs, int steps, double chunk) {
      Phase ph;
      std::sort(pairs.begin(), pairs.end());
      ph.pairs = std::move(pairs);
      ph.bytes.assign(ph.pairs.size(), steps * chunk);
      ph.steps.push_back({steps, std::vector<double>(ph.pairs.size(), chunk)});
      return ph;
    };
    std::vector<Pair> intra, inter;
    for (const auto& l : local)
      for (int i = 0; i < gl && gl > 1; ++i) intra.push_back({l[i], l[(i + 1) % gl]});
    for (int j = 0; j < gl && N > 1; ++j)
      for (int k = 0; k < N; ++k) inter.push_back({local[k][j], local[(k + 1) % N][j]});
    std::vector<Phase> out;
    if (gl > 1) out.push_back(make(intra, gl - 1, t.comm_bytes / gl));
    if (N > 1) out.push_back(make(inter, 2 * (N - 1), t.comm_bytes / gl / N));
    if (gl > 1) out.push_back(make(intra, gl - 1, t.comm_bytes / gl));
    return out;
  }

  // Effective bandwidth of link `l` (background load applied).
  double LinkBandwidth(int l) const { return EffectiveBandwidth(cl_.links()[l], o_.platform); }

  // The rate bound of a coarse flow, per chunked step it stands for: the seconds it should spend
  // sending that step's bytes. A chunked step of a pair is `a` seconds of sending at the pair's
  // own bandwidth, then `idle` = step - a seconds of latency and waiting for the ring. k rings
  // with independent phases share the pair's links (mean field): while it sends, each other ring
  // sends with probability t / (idle + t), so the send stretches to
  //   t = a (1 + (k-1) t / (idle + t))   (the positive root of t^2 + (idle - k a) t - a idle).
  // k coarse flows bounded to rate r fill the link (k a > the returned c/r); a member's sub-phase
  // then lasts k a + (idle + a - c/r) per step (its flow, then the delay of the idle
  // network), and equating that with the chunked idle + t gives c/r = (k+1) a - t. It lies in
  // [a, a + idle]: between full rate and the chunked mean rate.
  static double SharedStepBusy(double a, double step, double k) {
    const double idle = std::max(0.0, step - a);
    const double b = k * a - idle;
    const double t = (b + std::sqrt(b * b + 4 * a * idle)) / 2;
    return (k + 1) * a - t;
  }

  // A phase of k equal-pair steps becomes `split` sub-phases (k/split steps each, at least one).
  // In a sub-phase of j steps each pair sends its j steps' bytes as ONE rate-bounded flow, and each
  // member then waits so that it finishes when the chunked sub-phase would on an otherwise idle
  // network:
  //   T = sum over the steps of max over pairs (latency + step bytes / per-pair bandwidth),
  // the per-pair bandwidth being the route's bottleneck shared by the phase's own flows on each
  // link; member m waits T - (its slowest flow's latency + bytes / bandwidth) after its flows.
  // Exact for a ring alone on the network, contended or not (all its flows stay in lockstep);
  // splitting bounds the error when collectives overlap (docs/simulator.md, "Coarse").
  void LowerCoarse(const plan::Task& t, const plan::Group& g, std::vector<int32_t>& cur) {
    const int n = static_cast<int>(g.ranks.size());
    std::vector<int32_t> next(n, -1);
    std::vector<double> own(n, 0);
    const bool bounded = o_.coarse_overlap > 0 || o_.coarse_rate_headroom > 0;
    for (const Phase& ph : Phases(t, g)) {
      const size_t np = ph.pairs.size();
      std::unordered_map<int64_t, int> load;
      std::vector<double> lat(np, 0), bw(np, std::numeric_limits<double>::infinity());
      for (const Pair& pr : ph.pairs) {
        const int a = p_.ranks[g.ranks[pr.src]].endpoint, b = p_.ranks[g.ranks[pr.dst]].endpoint;
        if (a == b) continue;
        for (const topo::Hop& h : cl_.route(a, b).hops) ++load[Slot(cl_, h)];
      }
      for (size_t i = 0; i < np; ++i) {
        const int a = p_.ranks[g.ranks[ph.pairs[i].src]].endpoint;
        const int b = p_.ranks[g.ranks[ph.pairs[i].dst]].endpoint;
        if (a == b) continue;
        for (const topo::Hop& h : cl_.route(a, b).hops) {
          lat[i] += cl_.links()[h.link].latency_s;
          bw[i] = std::min(bw[i], LinkBandwidth(h.link) / load[Slot(cl_, h)]);
        }
      }
      // Expand the (count, bytes) runs into sub-phases of about k / split steps.
      int64_t k = 0;
      for (const auto& st : ph.steps) k += st.first;
      const int64_t split = std::max<int64_t>(1, std::min<int64_t>(o_.coarse_split, k));
      size_t run = 0;
      int64_t used_in_run = 0;
      for (int64_t sp = 0; sp < split; ++sp) {
        int64_t want = k * (sp + 1) / split - k * sp / split;  // steps in this sub-phase
        std::vector<double> bytes(np, 0), busy(np, 0);
        double T = 0;
        while (want > 0) {
          const auto& [count, sb] = ph.steps[run];
          const int64_t take = std::min<int64_t>(want, count - used_in_run);
          double step = 0;
          for (size_t i = 0; i < np; ++i) {
            bytes[i] += take * sb[i];
            if (std::isfinite(bw[i])) step = std::max(step, lat[i] + sb[i] / bw[i]);
          }
          T += take * step;
          if (o_.coarse_overlap > 0)
            for (size_t i = 0; i < np; ++i)
              if (std::isfinite(bw[i]) && sb[i] > 0)
                busy[i] += take * SharedStepBusy(sb[i] / bw[i], step, o_.coarse_overlap);
          want -= take;
          used_in_run += take;
          if (used_in_run == count) {
            ++run;
            used_in_run = 0;
          }
        }
        std::fill(next.begin(), next.end(), -1);
        std::fill(own.begin(), own.end(), 0);
        std::vector<int> touched;
        for (size_t i = 0; i < np; ++i) {
          const Pair& pr = ph.pairs[i];
          const int32_t f = Flow(g.ranks[pr.src], g.ranks[pr.dst], bytes[i]);
          b_.Edge(cur[pr.src], f);
          b_.Edge(cur[pr.dst], f);
          double took = std::isfinite(bw[i]) ? lat[i] + bytes[i] / bw[i] : 0;
          if (bounded && std::isfinite(bw[i]) && bytes[i] > 0 && T > took) {
            // Spread the bytes over the sub-phase as the chunked steps do: at least their mean
            // rate, at most what the mean-field of overlapping rings gives, and at most
            // `coarse_rate_headroom` times the mean (docs/simulator.md, "Coarse collectives").
            const double mean = bytes[i] / (T - lat[i]);
            double cap = bw[i];
            if (o_.coarse_overlap > 0) cap = std::min(cap, bytes[i] / busy[i]);
            if (o_.coarse_rate_headroom > 0) cap = std::min(cap, o_.coarse_rate_headroom * mean);
            b_.node(f).rate_Bps = std::max(mean, cap);
            took = lat[i] + bytes[i] / b_.node(f).rate_Bps;
          }
          for (int m : {pr.src, pr.dst}) {
            if (next[m] < 0) {
              Node d;
              d.kind = NodeKind::kDelay;
              d.rank = g.ranks[m];
              next[m] = b_.Add(d);
              touched.push_back(m);
            }
            own[m] = std::max(own[m], took);
            b_.Edge(f, next[m]);
          }
        }
        for (int m : touched) {
          b_.node(next[m]).amount = std::max(0.0, T - own[m]);
          cur[m] = next[m];
        }
      }
    }
  }

  const plan::Plan& p_;
  const topo::Cluster& cl_;
  const LoweringOptions& o_;
  DagBuilder b_;
  std::vector<int32_t> entry_, exit_;
  std::vector<uint8_t> chained_;
  int64_t flows_ = 0;
};

}  // namespace

const char* Name(CollectiveMode m) {
  for (const auto& [k, v] : kModes)
    if (k == m) return v;
  return "?";
}

CollectiveMode ParseCollectiveMode(const std::string& s) {
  std::vector<std::string> names;
  for (const auto& [k, v] : kModes) {
    if (s == v) return k;
    names.push_back(v);
  }
  throw InputError("--collectives: \"" + s + "\" is not one of exact, coarse, auto" +
                   DidYouMean(s, names));
}

double ComputeSeconds(const plan::Task& t, const topo::Endpoint& e, const std::string& precision,
                      const cost::Calibration& calibration) {
  return cost::ComputeTime(t, e, precision, calibration, t.name.substr(0, t.name.find('/')));
}

int64_t ExactFlowCount(const plan::Plan& plan) {
  std::map<int64_t, const plan::Task*> calls;
  for (const plan::Rank& r : plan.ranks)
    for (const plan::Task& t : r.tasks)
      if (t.kind == plan::TaskKind::kCollective) calls.emplace(t.collective_id, &t);
  int64_t flows = 0;
  for (const auto& [cid, t] : calls) {
    if (t->group < 0 || t->group >= static_cast<int>(plan.groups.size())) continue;
    const int n = static_cast<int>(plan.groups[t->group].ranks.size());
    if (n <= 1) continue;
    if (IsRingCollective(*t) || n > kAnalyticRingMembers) {
      flows += int64_t{RingSteps(t->collective, n)} * n;
      continue;
    }
    try {
      for (const auto& st : plan::BuildSchedule(t->collective, t->algorithm, n, t->comm_bytes,
                                                std::vector<int>(n, 0))
                                .steps)
        flows += static_cast<int64_t>(st.transfers.size());
    } catch (const std::invalid_argument&) {
      flows += int64_t{2} * n * n;
    }
  }
  for (const plan::Rank& r : plan.ranks)
    for (const plan::Task& t : r.tasks) flows += t.kind == plan::TaskKind::kSend;
  return flows;
}

int64_t PsMessageCount(const plan::Plan& plan) {
  int64_t n = 0;
  for (const plan::Rank& r : plan.ranks)
    for (const plan::Task& t : r.tasks)
      if (t.kind == plan::TaskKind::kSend && t.peer >= 0 &&
          t.peer < static_cast<int>(plan.ranks.size()))
        n += (r.role == plan::Role::kServer) != (plan.ranks[t.peer].role == plan::Role::kServer);
  return n;
}

LoweredPlan LowerPlan(const plan::Plan& plan, const topo::Cluster& cluster,
                      const LoweringOptions& options) {
  for (size_t r = 0; r < plan.ranks.size(); ++r)
    if (plan.ranks[r].endpoint < 0 || plan.ranks[r].endpoint >= cluster.num_endpoints())
      throw InputError("plan", "/ranks/" + std::to_string(r) + "/endpoint",
                       "endpoint " + std::to_string(plan.ranks[r].endpoint) +
                           " is not in cluster \"" + cluster.name() + "\" (" +
                           std::to_string(cluster.num_endpoints()) + " endpoints)");
  const int64_t exact = ExactFlowCount(plan);
  bool coarse = options.collectives == CollectiveMode::kCoarse;
  if (options.collectives == CollectiveMode::kAuto) coarse = exact > options.exact_flow_limit;
  const int64_t messages = PsMessageCount(plan);
  bool coarse_messages = messages > 0 && options.collectives == CollectiveMode::kCoarse;
  if (options.collectives == CollectiveMode::kAuto)
    coarse_messages = messages > options.exact_message_limit;
  if (!(options.ps_coalesce_bytes > 0)) coarse_messages = false;
  Lowerer l(plan, cluster, options);
  LoweredPlan out = l.Run(coarse, coarse_messages);
  out.exact_flows = exact;
  out.coarse_messages = coarse_messages;
  out.ps_messages = messages;
  return out;
}

}  // namespace convscale::sim
