// The simulator's own task graph: what a plan becomes after lowering (simulate/lowering.h), and
// what the engine (simulate/engine.h) runs on SimGrid.
//
// Nodes are primitive: a compute kernel on a rank's serial stream, a point-to-point flow between
// two endpoints, a pure delay, or a zero-time join. A node starts when all its predecessors are
// done. The graph holds ONE iteration; the engine instantiates it `iterations` times, and each
// rank's `iter_start` node of iteration i+1 waits for its `iter_end` node of iteration i (plan.h:
// "the first task of a rank's iteration i+1 starts after the last of its iteration i").
// Asynchronous parameter servers are the exception (Dag::async, engine.h): a server rank serves
// whichever push arrives, so its iterations are not chained, and workers are held back only by
// the plan's staleness bound.
//
// Storage is compressed (CSR successor lists, 64-byte nodes) because a 16,384-rank plan lowers to
// millions of nodes.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace convscale::sim {

enum class NodeKind : uint8_t {
  kJoin,     // zero time
  kCompute,  // runs `amount` seconds on its rank's serial compute stream
  kFlow,     // sends `amount` bytes from endpoint src to endpoint dst over the network
  kDelay,    // `amount` seconds of pure waiting (no resource used)
};

// Flags for parameter-server staleness accounting (engine.h).
enum NodeFlags : uint8_t {
  kFlagNone = 0,
  kFlagServerUpdate = 1,  // compute on a server that applies an update (version + 1)
  kFlagPush = 2,          // flow worker -> server carrying a gradient
  kFlagPull = 4,          // flow server -> worker carrying weights
  kFlagMessage = 8,       // a point-to-point message: FIFO with the pair's other messages
};

struct Node {
  NodeKind kind = NodeKind::kJoin;
  uint8_t flags = kFlagNone;
  int32_t rank = -1;    // the rank this node belongs to (flows: the sender)
  int32_t src = -1;     // flow: source endpoint
  int32_t dst = -1;     // flow: destination endpoint
  int32_t peer = -1;    // flow: the receiving rank
  int32_t shard = -1;   // push/pull flows and server updates: the parameter shard (its layer)
  double amount = 0;    // seconds (compute, delay) or bytes (flow)
  double rate_Bps = 0;  // flow: largest rate it may reach (0: no bound; coarse collectives)
  // Plan tasks (global index, see Dag::task_offset) whose start / end this node marks, or -1.
  // A compute node covers the fused chain [chain_begin, chain_end) instead.
  int32_t begin_task = -1;
  int32_t end_task = -1;
  int32_t chain_begin = 0, chain_end = 0;
};

struct Dag {
  std::vector<Node> nodes;
  std::vector<int64_t> succ_offset;  // CSR: successors of i are succ[succ_offset[i]..[i+1])
  std::vector<int32_t> succ;
  std::vector<int32_t> indeg;       // predecessors within one iteration
  std::vector<int32_t> iter_start;  // per rank
  std::vector<int32_t> iter_end;    // per rank
  // Fused compute chains: consecutive compute tasks of one rank that nothing else waits on run
  // as one timer; each keeps its own duration for the timeline.
  std::vector<int32_t> chain_task;
  std::vector<double> chain_seconds;
  std::vector<int64_t> task_offset;  // per rank: global index of its task 0 (size ranks + 1)
  // Per global task: the matched send or receive of a point-to-point task, else -1.
  std::vector<int64_t> task_partner;
  // Asynchronous parameter servers (plan::Plan::async): servers' iterations are not chained, and
  // with staleness_bound s >= 0 a worker starts iteration i only once every worker has finished
  // iteration i - s - 1 (stale synchronous parallel).
  bool async = false;
  int staleness_bound = -1;
  std::vector<uint8_t> server;  // per rank: 1 for a parameter-server rank
  // Coarse parameter-server messages (> 0): when a (worker, server) pair's connection frees, the
  // pushes or pulls waiting on it leave as one flow of their summed bytes, in plan order as long
  // as the sum stays within this many bytes, and arrive together when it ends
  // (docs/simulator.md, "Coarse parameter-server messages"). 0: one flow per message.
  double ps_coalesce_bytes = 0;
  int num_ranks() const { return static_cast<int>(iter_start.size()); }
  int64_t num_tasks() const { return task_offset.empty() ? 0 : task_offset.back(); }
};

// Builds a Dag: add nodes and edges in any order, then Finish().
class DagBuilder {
 public:
  explicit DagBuilder(int ranks);
  int32_t Add(const Node& n);
  void Edge(int32_t from, int32_t to) { edges_.emplace_back(from, to); }
  Node& node(int32_t i) { return dag_.nodes[i]; }
  int32_t iter_start(int rank) const { return dag_.iter_start[rank]; }
  int32_t iter_end(int rank) const { return dag_.iter_end[rank]; }
  Dag& dag() { return dag_; }
  // Links every node without predecessors to its rank's iter_start and every node without
  // successors to its rank's iter_end, then builds the CSR arrays.
  Dag Finish();

 private:
  Dag dag_;
  std::vector<std::pair<int32_t, int32_t>> edges_;
};

}  // namespace convscale::sim
