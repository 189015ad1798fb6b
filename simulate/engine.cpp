#include "simulate/engine.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simgrid/kernel/Timer.hpp>
#include <simgrid/kernel/resource/Action.hpp>
#include <simgrid/kernel/resource/Model.hpp>
#include <simgrid/kernel/resource/NetworkModelIntf.hpp>
#include <simgrid/s4u.hpp>
#include <simgrid/simix.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "model/util/error.h"
#include "model/util/process.h"

namespace convscale::sim {
namespace sg4 = simgrid::s4u;

namespace {

// The state of the one run in this process. SimGrid's callbacks are static, so they reach it
// through `g_run`.
class Run {
 public:
  // Task times go to `task_begin` and `task_end` (Dag::num_tasks() each, maybe shared with the
  // parent process), which the run fills with NaN first.
  Run(const Dag& dag, const Platform& platform, const EngineOptions& options,
      SharedDoubles task_begin, SharedDoubles task_end)
      : dag_(dag), platform_(platform), opt_(options), n_(static_cast<int64_t>(dag.nodes.size())) {
    const int ranks = dag.num_ranks();
    actors_ = ranks >= opt_.flow_actor_ranks;
    if (actors_) {
      idle_.resize(platform.num_endpoints());
      inbox_.assign(platform.num_endpoints(), nullptr);
      posted_.assign(platform.num_endpoints(), 0);
    }
    indeg_.resize(static_cast<size_t>(n_ * opt_.iterations));
    for (int it = 0; it < opt_.iterations; ++it)
      std::copy(dag.indeg.begin(), dag.indeg.end(), indeg_.begin() + it * n_);
    // A rank's iteration i+1 waits for its iteration i, except an asynchronous server's.
    for (int it = 1; it < opt_.iterations; ++it)
      for (int r = 0; r < ranks; ++r)
        if (!Unchained(r)) ++indeg_[it * n_ + dag.iter_start[r]];
    // The staleness bound: a worker's iteration i also waits for every worker's i - bound - 1.
    workers_ = 0;
    for (int r = 0; r < ranks; ++r) workers_ += !IsServer(r);
    workers_left_.assign(opt_.iterations, workers_);
    if (Gated())
      for (int it = dag.staleness_bound + 1; it < opt_.iterations; ++it)
        for (int r = 0; r < ranks; ++r)
          if (!IsServer(r)) ++indeg_[it * n_ + dag.iter_start[r]];
    busy_.assign(ranks, 0);
    queues_.resize(ranks);
    result_.iteration_end.assign(opt_.iterations, 0);
    result_.rank_end.assign(ranks, 0);
    result_.rank_start.assign(ranks, 0);
    result_.rank_iteration_end.assign(static_cast<size_t>(ranks) * opt_.iterations, 0);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    result_.task_begin = std::move(task_begin);
    result_.task_end = std::move(task_end);
    std::fill(result_.task_begin.begin(), result_.task_begin.end(), nan);
    std::fill(result_.task_end.begin(), result_.task_end.end(), nan);
  }

  void Start() {
    if (actors_) {
      // Worker actors are daemons, which SimGrid kills as soon as no other actor is left: this
      // one stays until nothing is in flight any more (Release).
      keeper_ = sg4::Actor::create("keeper", platform_.host(0), [this] {
        while (!released_) sg4::this_actor::suspend();
      });
    }
    for (int it = 0; it < opt_.iterations; ++it)
      for (int r = 0; r < dag_.num_ranks(); ++r) {
        const int64_t gid = it * n_ + dag_.iter_start[r];
        if (indeg_[gid] == 0) work_.push_back(gid);
      }
    Drain(0);
  }

  // A SimGrid flow finished.
  void FlowDone(int64_t gid, double start, double end) {
    --in_flight_;
    const Node& nd = dag_.nodes[gid % n_];
    if (nd.flags & (kFlagPush | kFlagPull)) Staleness(gid, nd, end);
    if (nd.flags & kFlagMessage) {
      pairs_[PairKey(nd)].busy = false;  // the pair's next message starts when Drain ends
      kick_.push_back(PairKey(nd));
    }
    work_.push_back(gid);
    // The messages that travelled with it (coalesced parameter-server messages) arrive with it.
    if (const auto it = merged_.find(gid); it != merged_.end()) {
      for (const int64_t m : it->second.rest) {
        const Node& mn = dag_.nodes[m % n_];
        if (mn.flags & (kFlagPush | kFlagPull)) Staleness(m, mn, end);
        work_.push_back(m);
      }
      merged_.erase(it);
    }
    Drain(end);
  }

  // A kernel timer fired.
  void TimerDone(int64_t gid) {
    --in_flight_;
    const double now = sg4::Engine::get_clock();
    const Node& nd = dag_.nodes[gid % n_];
    if (nd.kind == NodeKind::kCompute) {
      busy_[nd.rank] = 0;
      if (nd.flags & kFlagServerUpdate) {
        ++version_[Key(0, nd.rank, nd.shard)];
        int64_t& clock = clock_.try_emplace(Key(0, nd.rank, nd.shard), -1).first->second;
        clock = std::max(clock, gid / n_);
      }
      StartCompute(nd.rank, now);
    }
    work_.push_back(gid);
    Drain(now);
  }

  void Finish() {
    int64_t left = 0;
    for (int64_t v : indeg_) left += v > 0;
    if (left > 0 || !work_.empty())
      throw RuntimeError("simulate: deadlock: " + std::to_string(left) +
                         " tasks never became ready (a dependency cycle across ranks, or a "
                         "send without its receive)");
  }

  RawResult& result() { return result_; }
  std::vector<sg4::Activity*>& to_unref() { return to_unref_; }
  // The first error a worker actor caught (rethrown once the engine stopped), or null.
  std::exception_ptr error() const { return error_; }

 private:
  // ---- Worker actors (flows on large plans; engine.h) -------------------------------------
  //
  // A sender carries one flow at a time: it posts the send, waits, reports the completion and
  // suspends until it is handed the next flow of its endpoint. A receiver posts receives on its
  // endpoint's mailbox, one after another: each endpoint keeps spare receives posted (posted_),
  // so a send usually matches one at once and only a burst of flows into one endpoint creates
  // receivers. Workers run SimGrid calls only; the engine's own code runs in maestro (kernel
  // timers, Start, and the simcall through which a sender reports its flow), so their stacks
  // stay small.
  struct Worker {
    sg4::ActorPtr actor;
    int endpoint = 0;
    int64_t gid = -1;
    bool job = false;  // a flow was assigned and not yet taken up
  };

  sg4::Mailbox* Inbox(int endpoint) {
    sg4::Mailbox*& m = inbox_[endpoint];
    if (m == nullptr) m = sg4::Mailbox::by_name("convscale-flow-" + std::to_string(endpoint));
    return m;
  }

  void StartFlowInActors(int64_t gid) {
    const Node& nd = dag_.nodes[gid % n_];
    if (posted_[nd.dst] > 0) {
      --posted_[nd.dst];  // the send matches a spare receive
    } else {
      // A new receiver, run before the sender in this scheduling round: its receive is posted
      // first, so the send matches it at once.
      auto* w = new Worker;  // owned by flow_workers_
      flow_workers_.emplace_back(w);
      w->endpoint = nd.dst;
      w->actor = sg4::Actor::create("recv", platform_.host(nd.dst), [this, w] { ReceiverMain(w); });
      w->actor->daemonize();
    }
    // The sender: an idle one of the endpoint, or a new one. An idle sender marks itself idle
    // just before it suspends; one that has not suspended yet is left alone (resuming it would
    // be lost) and a new sender is created instead.
    std::vector<Worker*>& pool = idle_[nd.src];
    Worker* w = nullptr;
    if (!pool.empty() && pool.back()->actor->is_suspended()) {
      w = pool.back();
      pool.pop_back();
    }
    if (w == nullptr) {
      w = new Worker;
      flow_workers_.emplace_back(w);
      w->endpoint = nd.src;
      w->gid = gid;
      w->job = true;
      w->actor = sg4::Actor::create("send", platform_.host(nd.src), [this, w] { SenderMain(w); });
      w->actor->daemonize();
    } else {
      w->gid = gid;
      w->job = true;
      w->actor->resume();
    }
  }

  void ReceiverMain(Worker* w) {
    for (bool first = true;; first = false) {
      if (!first) ++posted_[w->endpoint];  // a spare receive for the next flow into it
      void* got = nullptr;
      try {
        Inbox(w->endpoint)->get_async<void>(&got)->wait();
      } catch (const std::exception&) {  // not SimGrid's kill of the daemon at the end
        if (error_ == nullptr) error_ = std::current_exception();
        return;
      }
    }
  }

  void SenderMain(Worker* w) {
    static int token = 0;  // the payload a mailbox comm carries; never read
    for (;;) {
      while (!w->job) sg4::this_actor::suspend();
      w->job = false;
      const int64_t gid = w->gid;
      try {
        const Node& nd = dag_.nodes[gid % n_];
        sg4::CommPtr c =
            Inbox(nd.dst)->put_async(&token, static_cast<uint64_t>(std::llround(FlowBytes(gid))));
        if (nd.rate_Bps > 0) {
          // The send matched a posted receive, so its network action exists.
          bounds_[c->get_impl()] = nd.rate_Bps;
          if (!bounds_asked_) {
            bounds_asked_ = true;
            simgrid::kernel::actor::simcall_answered([this] { ApplyBounds(); });
          }
        }
        c->wait();
        const double start = c->get_start_time(), end = c->get_finish_time();
        simgrid::kernel::actor::simcall_answered(
            [this, gid, start, end] { FlowDone(gid, start, end); });
      } catch (const std::exception&) {  // not SimGrid's kill of the daemon at the end
        if (error_ == nullptr) error_ = std::current_exception();
      }
      idle_[w->endpoint].push_back(w);
    }
  }

  // Bounds the network actions of the sends posted in the last scheduling round (bounds_), in
  // maestro before the solver runs again: one walk back from the newest started action.
  void ApplyBounds() {
    bounds_asked_ = false;
    auto* started = NetworkModel()->get_started_action_set();
    for (auto it = started->rbegin(); it != started->rend() && !bounds_.empty(); ++it) {
      auto b = bounds_.find(it->get_activity());
      if (b == bounds_.end()) continue;
      it->set_bound(b->second);
      bounds_.erase(b);
    }
    if (!bounds_.empty()) throw RuntimeError("simulate: a flow started without a network action");
  }

  // Nothing is in flight any more: the run is over (or stuck, which Finish reports).
  void Release() {
    released_ = true;
    if (keeper_ && keeper_->is_suspended()) keeper_->resume();
  }

  simgrid::kernel::resource::Model* NetworkModel() {
    if (network_ == nullptr) {
      network_ = dynamic_cast<simgrid::kernel::resource::Model*>(
          sg4::Engine::get_instance()->get_netzone_root()->get_network_model());
      if (network_ == nullptr)
        throw RuntimeError("simulate: SimGrid's network model is not a Model");
    }
    return network_;
  }

  void Drain(double now) {
    while (!work_.empty()) {
      const int64_t gid = work_.back();
      work_.pop_back();
      Completed(gid, now);
    }
    for (uint64_t key : kick_) {
      Pair& pair = pairs_[key];
      if (pair.busy || pair.waiting.empty()) continue;
      pair.busy = true;
      const int64_t gid = pair.waiting.top();
      pair.waiting.pop();
      const Node& nd = dag_.nodes[gid % n_];
      if (dag_.ps_coalesce_bytes > 0 && (nd.flags & (kFlagPush | kFlagPull))) {
        // Coarse parameter-server messages (Dag::ps_coalesce_bytes): the messages waiting on the
        // pair leave with the first as one flow of their summed bytes, as many as fit in the cap.
        double bytes = nd.amount;
        std::vector<int64_t> rest;
        while (!pair.waiting.empty() &&
               bytes + dag_.nodes[pair.waiting.top() % n_].amount <= dag_.ps_coalesce_bytes) {
          bytes += dag_.nodes[pair.waiting.top() % n_].amount;
          rest.push_back(pair.waiting.top());
          pair.waiting.pop();
        }
        if (!rest.empty()) merged_[gid] = Merged{bytes, std::move(rest)};
      }
      StartFlow(gid);
    }
    kick_.clear();
    if (actors_ && in_flight_ == 0) Release();
  }

  void Completed(int64_t gid, double now) {
    const int it = static_cast<int>(gid / n_);
    const int64_t local = gid % n_;
    const Node& nd = dag_.nodes[local];
    if (it == opt_.record_iteration) {
      if (nd.begin_task >= 0 && nd.kind == NodeKind::kJoin) result_.task_begin[nd.begin_task] = now;
      if (nd.end_task >= 0) result_.task_end[nd.end_task] = now;
      if (local == dag_.iter_start[nd.rank]) result_.rank_start[nd.rank] = now;
    }
    if (local == dag_.iter_end[nd.rank]) {
      const int r = nd.rank;
      if (it == opt_.record_iteration) result_.rank_end[r] = now;
      result_.rank_iteration_end[static_cast<size_t>(r) * opt_.iterations + it] = now;
      result_.iteration_end[it] = std::max(result_.iteration_end[it], now);
      if (it + 1 < opt_.iterations && !Unchained(r)) {
        const int64_t next = (it + 1) * n_ + dag_.iter_start[r];
        if (--indeg_[next] == 0) work_.push_back(next);
      }
      // The last worker to finish iteration i releases every worker's i + bound + 1.
      const int gated = it + dag_.staleness_bound + 1;
      if (!IsServer(r) && --workers_left_[it] == 0 && Gated() && gated < opt_.iterations)
        for (int w = 0; w < dag_.num_ranks(); ++w) {
          if (IsServer(w)) continue;
          const int64_t next = gated * n_ + dag_.iter_start[w];
          if (--indeg_[next] == 0) work_.push_back(next);
        }
    }
    for (int64_t k = dag_.succ_offset[local]; k < dag_.succ_offset[local + 1]; ++k) {
      const int64_t s = it * n_ + dag_.succ[k];
      if (--indeg_[s] == 0) Ready(s, now);
    }
  }

  void Ready(int64_t gid, double now) {
    const Node& nd = dag_.nodes[gid % n_];
    const bool record = gid / n_ == opt_.record_iteration;
    if (record && nd.begin_task >= 0 && nd.kind != NodeKind::kCompute)
      result_.task_begin[nd.begin_task] = now;
    switch (nd.kind) {
      case NodeKind::kJoin:
        work_.push_back(gid);
        break;
      case NodeKind::kCompute:
        queues_[nd.rank].push(gid);
        StartCompute(nd.rank, now);
        break;
      case NodeKind::kDelay:
        if (nd.amount <= 0) {
          work_.push_back(gid);
        } else {
          ++result_.activities;
          ++in_flight_;
          simgrid::kernel::timer::Timer::set(now + nd.amount, [this, gid] { TimerDone(gid); });
        }
        break;
      case NodeKind::kFlow:
        if (nd.src == nd.dst || nd.amount <= 0) {
          work_.push_back(gid);
          break;
        }
        if (nd.flags & kFlagPull) pull_version_[gid] = Version(Key(0, nd.rank, nd.shard));
        if (nd.flags & kFlagMessage) {
          // Messages between two ranks share one connection (a TCP socket, an MPI or NCCL
          // channel) and leave it one after the other, not side by side. Ready messages wait in
          // their pair's queue; when the pair is idle the first in plan order (the sender's
          // posting order) starts, once everything ready at this instant has been queued.
          pairs_[PairKey(nd)].waiting.push(gid);
          kick_.push_back(PairKey(nd));
          break;
        }
        StartFlow(gid);
        break;
    }
  }

  // The bytes flow `gid` carries: its own, or those of the messages coalesced with it.
  double FlowBytes(int64_t gid) const {
    const auto it = merged_.find(gid);
    return it == merged_.end() ? dag_.nodes[gid % n_].amount : it->second.bytes;
  }

  static uint64_t PairKey(const Node& nd) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(nd.rank)) << 32) |
           static_cast<uint32_t>(nd.peer);
  }

  void StartFlow(int64_t gid) {
    const Node& nd = dag_.nodes[gid % n_];
    ++result_.activities;
    ++in_flight_;
    if (actors_) {
      StartFlowInActors(gid);
      return;
    }
    sg4::CommPtr c = sg4::Comm::sendto_async(platform_.host(nd.src), platform_.host(nd.dst),
                                             static_cast<uint64_t>(std::llround(FlowBytes(gid))));
    c->set_data(reinterpret_cast<void*>(static_cast<intptr_t>(gid + 1)));
    c->add_ref();
    if (nd.rate_Bps > 0) Bound(nd.rate_Bps);
  }

  // Bounds the rate of the flow just started. Comm::set_rate does not reach host-to-host comms in
  // SimGrid 3.32, so the bound goes to the network action itself: sendto_async starts the comm
  // synchronously from maestro, and the model appends its new action to its started set.
  void Bound(double rate_Bps) {
    auto* started = NetworkModel()->get_started_action_set();
    if (started->empty()) throw RuntimeError("simulate: a flow started without a network action");
    started->back().set_bound(rate_Bps);
  }

  // Starts the next queued kernel on `rank` if its stream is idle.
  void StartCompute(int rank, double now) {
    if (busy_[rank] || queues_[rank].empty()) return;
    const int64_t gid = queues_[rank].top();
    queues_[rank].pop();
    busy_[rank] = 1;
    const Node& nd = dag_.nodes[gid % n_];
    if (gid / n_ == opt_.record_iteration) {
      double t = now;
      for (int32_t k = nd.chain_begin; k < nd.chain_end; ++k) {
        result_.task_begin[dag_.chain_task[k]] = t;
        t += dag_.chain_seconds[k];
        result_.task_end[dag_.chain_task[k]] = t;
      }
    }
    ++result_.activities;
    ++in_flight_;
    simgrid::kernel::timer::Timer::set(now + nd.amount, [this, gid] { TimerDone(gid); });
  }

  bool IsServer(int r) const { return dag_.server[r] != 0; }
  bool Unchained(int r) const { return dag_.async && IsServer(r); }
  bool Gated() const { return dag_.async && dag_.staleness_bound >= 0; }

  // (worker, server, shard) packed: 20 + 20 + 24 bits.
  static uint64_t Key(int worker, int server, int shard) {
    return (static_cast<uint64_t>(worker) << 44) | (static_cast<uint64_t>(server) << 24) |
           static_cast<uint64_t>(shard + 1);
  }
  int64_t Version(uint64_t key) const {
    const auto it = version_.find(key);
    return it == version_.end() ? 0 : it->second;
  }

  // Staleness of a gradient (docs/simulator.md, "Staleness"), sampled when it arrives at its
  // server, from the first measured iteration on:
  //  - in iterations: how many iterations newer than the gradient's own the newest update already
  //    applied to its shard is (0 when no worker is ahead; at most the plan's staleness bound);
  //  - in updates: updates the server applied to the shard between the worker's pull of the
  //    weights it computed with and the gradient's arrival.
  void Staleness(int64_t gid, const Node& nd, double now) {
    const bool push = nd.flags & kFlagPush;
    const int worker = push ? nd.rank : nd.peer;
    const int server = push ? nd.peer : nd.rank;
    const uint64_t key = Key(worker + 1, server, nd.shard);
    if (!push) {
      auto it = pull_version_.find(gid);
      if (it == pull_version_.end()) return;
      worker_version_[key] = it->second;
      pull_version_.erase(it);
      return;
    }
    const int64_t iteration = gid / n_;
    if (iteration < opt_.first_measured) return;
    const auto it = worker_version_.find(key);
    const int64_t seen = it == worker_version_.end() ? 0 : it->second;
    const uint64_t shard = Key(0, server, nd.shard);
    result_.staleness_updates.push_back(static_cast<double>(Version(shard) - seen));
    const auto c = clock_.find(shard);
    const int64_t newest = c == clock_.end() ? -1 : c->second;
    result_.staleness.push_back(static_cast<double>(std::max<int64_t>(0, newest - iteration)));
  }

  struct Later {  // min-heap on node id
    bool operator()(int64_t a, int64_t b) const { return a > b; }
  };

  const Dag& dag_;
  const Platform& platform_;
  EngineOptions opt_;
  int64_t n_;
  std::vector<int32_t> indeg_;
  std::vector<int64_t> work_;
  std::vector<uint8_t> busy_;
  // Point-to-point messages per (source rank, destination rank): whether one is in flight, and
  // the ready ones waiting, first in plan order.
  struct Pair {
    bool busy = false;
    std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> waiting;
  };
  std::unordered_map<uint64_t, Pair> pairs_;
  std::vector<uint64_t> kick_;  // pairs that may start a message when Drain ends
  // Coalesced messages (Dag::ps_coalesce_bytes), by the flow that carries them: the summed
  // bytes and the other messages, which complete when it does.
  struct Merged {
    double bytes = 0;
    std::vector<int64_t> rest;
  };
  std::unordered_map<int64_t, Merged> merged_;
  std::vector<std::priority_queue<int64_t, std::vector<int64_t>, Later>> queues_;
  std::unordered_map<uint64_t, int64_t> version_;
  std::unordered_map<int64_t, int64_t> pull_version_;
  std::unordered_map<uint64_t, int64_t> worker_version_;
  std::unordered_map<uint64_t, int64_t> clock_;  // per shard: newest iteration applied
  int workers_ = 0;
  std::vector<int> workers_left_;  // per iteration: workers that have not finished it
  std::vector<sg4::Activity*> to_unref_;
  simgrid::kernel::resource::Model* network_ = nullptr;
  RawResult result_;
  // Timers and flows started and not yet done.
  int64_t in_flight_ = 0;
  // Worker actors (engine.h): used when `actors_`.
  bool actors_ = false;
  std::vector<std::unique_ptr<Worker>> flow_workers_;
  std::vector<std::vector<Worker*>> idle_;  // per endpoint: senders that went idle
  std::vector<sg4::Mailbox*> inbox_;        // per endpoint: its flows' mailbox
  std::vector<int> posted_;                 // per endpoint: spare receives posted
  std::unordered_map<const simgrid::kernel::activity::ActivityImpl*, double> bounds_;
  bool bounds_asked_ = false;
  sg4::ActorPtr keeper_;
  bool released_ = false;
  std::exception_ptr error_;
};

Run* g_run = nullptr;

// One flag per cluster link: whether a flow of `dag` crosses it.
std::vector<uint8_t> LinksUsed(const Dag& dag, const topo::Cluster& cluster) {
  std::vector<uint8_t> used(cluster.links().size(), 0);
  std::unordered_set<uint64_t> pairs;
  for (const Node& nd : dag.nodes) {
    if (nd.kind != NodeKind::kFlow || nd.src == nd.dst) continue;
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(nd.src)) << 32) |
                         static_cast<uint32_t>(nd.dst);
    if (!pairs.insert(key).second) continue;
    for (const topo::Hop& h : cluster.route(nd.src, nd.dst).hops) used[h.link] = 1;
  }
  return used;
}

// ---- Running the engine in a child process ------------------------------------------------

void PutBytes(std::string& out, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
}
void PutI64(std::string& out, int64_t v) {
  PutBytes(out, &v, sizeof v);
}
void PutVec(std::string& out, const std::vector<double>& v) {
  PutI64(out, static_cast<int64_t>(v.size()));
  PutBytes(out, v.data(), v.size() * sizeof(double));
}

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  int64_t I64() {
    int64_t v;
    Get(&v, sizeof v);
    return v;
  }
  std::vector<double> Vec() {
    std::vector<double> v(static_cast<size_t>(I64()));
    Get(v.data(), v.size() * sizeof(double));
    return v;
  }
  std::string Str(size_t n) {
    std::string v(n, '\0');
    Get(v.data(), n);
    return v;
  }

 private:
  void Get(void* p, size_t n) {
    if (n == 0) return;  // an empty vector's data() may be null, which memcpy must not get
    if (pos_ + n > s_.size()) throw RuntimeError("simulate: truncated result from the engine");
    std::memcpy(p, s_.data() + pos_, n);
    pos_ += n;
  }
  const std::string& s_;
  size_t pos_ = 0;
};

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t w = ::write(fd, s.data() + off, s.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

SharedDoubles::SharedDoubles(size_t n) : n_(n) {
  if (n == 0) return;
  void* p = ::mmap(nullptr, n * sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  if (p == MAP_FAILED)
    throw RuntimeError("simulate: cannot map " + std::to_string(n * sizeof(double)) +
                       " bytes for task times: " + std::strerror(errno));
  p_ = static_cast<double*>(p);
}

SharedDoubles::~SharedDoubles() {
  if (p_ != nullptr) ::munmap(p_, n_ * sizeof(double));
}

SharedDoubles::SharedDoubles(SharedDoubles&& o) noexcept : p_(o.p_), n_(o.n_) {
  o.p_ = nullptr;
  o.n_ = 0;
}

SharedDoubles& SharedDoubles::operator=(SharedDoubles&& o) noexcept {
  if (this != &o) {
    if (p_ != nullptr) ::munmap(p_, n_ * sizeof(double));
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

namespace {

RawResult RunDagInto(const Dag& dag, const topo::Cluster& cluster,
                     const PlatformOptions& platform_options, const EngineOptions& options,
                     SharedDoubles task_begin, SharedDoubles task_end) {
  if (g_run != nullptr) throw RuntimeError("simulate: one simulation per process (SimGrid 3.32)");
  int argc = 1;
  char arg0[] = "convscale";
  char* argv[] = {arg0, nullptr};
  sg4::Engine engine(&argc, argv);
  ConfigureEngine(engine);
  if (dag.ps_coalesce_bytes > 0) engine.set_config(kPsMessagesSolverConfig);
  const std::vector<uint8_t> links_used = LinksUsed(dag, cluster);
  Platform platform(cluster, platform_options, &links_used);

  Run run(dag, platform, options, std::move(task_begin), std::move(task_end));
  g_run = &run;
  sg4::Activity::on_completion_cb([](sg4::Activity const& a) {
    if (a.get_state() != sg4::Activity::State::FINISHED) return;
    const auto tag = reinterpret_cast<intptr_t>(a.get_data<void>());
    if (tag <= 0) return;
    g_run->to_unref().push_back(const_cast<sg4::Activity*>(&a));
    g_run->FlowDone(static_cast<int64_t>(tag - 1), a.get_start_time(), a.get_finish_time());
  });
  sg4::Engine::on_time_advance_cb([](double) {
    for (sg4::Activity* a : g_run->to_unref()) a->unref();
    g_run->to_unref().clear();
  });
  run.Start();
  engine.run();
  for (sg4::Activity* a : run.to_unref()) a->unref();
  run.to_unref().clear();
  if (run.error()) std::rethrow_exception(run.error());
  run.Finish();
  RawResult out = std::move(run.result());
  g_run = nullptr;
  return out;
}

}  // namespace

RawResult RunDag(const Dag& dag, const topo::Cluster& cluster,
                 const PlatformOptions& platform_options, const EngineOptions& options) {
  const auto n = static_cast<size_t>(dag.num_tasks());
  return RunDagInto(dag, cluster, platform_options, options, SharedDoubles(n), SharedDoubles(n));
}

// Runs RunDag in a forked child and returns its result. The child's message for an error it
// caught comes back as the same exception type.
RawResult RunDagInChild(const Dag& dag, const topo::Cluster& cluster, const PlatformOptions& po,
                        const EngineOptions& eo) {
  // The task times, written by the child straight into these shared pages.
  const auto tasks = static_cast<size_t>(dag.num_tasks());
  SharedDoubles task_begin(tasks), task_end(tasks);
  int fds[2];
  if (::pipe(fds) != 0) throw RuntimeError(std::string("simulate: pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw RuntimeError(std::string("simulate: fork: ") + std::strerror(errno));
  if (pid == 0) {
    EndWithParent(parent);  // never left running when `simulate` is killed
    ::close(fds[0]);
    std::string out;
    try {
      // Views of the parent's shared pages (moved out of the child's copies, unmapped here only).
      RawResult r = RunDagInto(dag, cluster, po, eo, std::move(task_begin), std::move(task_end));
      out = "R";
      PutVec(out, r.iteration_end);
      PutVec(out, r.rank_start);
      PutVec(out, r.rank_end);
      PutVec(out, r.staleness);
      PutVec(out, r.staleness_updates);
      PutVec(out, r.rank_iteration_end);
      PutI64(out, r.activities);
    } catch (const InputError& e) {
      out = std::string("I") + e.what();
    } catch (const std::exception& e) {
      out = std::string("E") + e.what();
    }
    const bool ok = WriteAll(fds[1], out);
    ::close(fds[1]);
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (data.empty()) {
    if (WIFSIGNALED(status))
      throw RuntimeError("simulate: SimGrid stopped with signal " +
                         std::to_string(WTERMSIG(status)) + " (its message is above)");
    throw RuntimeError("simulate: the simulation process exited with status " +
                       std::to_string(WEXITSTATUS(status)) + " and no result");
  }
  if (data[0] == 'I') throw InputError(data.substr(1));
  if (data[0] == 'E') throw RuntimeError(data.substr(1));
  Reader rd(data);
  rd.Str(1);
  RawResult r;
  r.iteration_end = rd.Vec();
  r.rank_start = rd.Vec();
  r.rank_end = rd.Vec();
  r.task_begin = std::move(task_begin);
  r.task_end = std::move(task_end);
  r.staleness = rd.Vec();
  r.staleness_updates = rd.Vec();
  r.rank_iteration_end = rd.Vec();
  r.activities = rd.I64();
  return r;
}

}  // namespace convscale::sim
