// The engine: runs a Dag on the SimGrid platform of a cluster, as a lazy DAG with timer compute
// (of the designs measured on SimGrid 3.32, the fastest at scale).
//
//  - No actors. The engine keeps its own CSR graph and dependency counters and creates a SimGrid
//    activity only when a node becomes ready, from maestro (the start and the completion
//    callbacks), so SimGrid holds only the live activities.
//  - A rank's compute stream is serial (one kernel at a time, like a GPU stream): a ready compute
//    node waits in a per-rank queue, ordered by node id (plan order), and runs as a kernel timer
//    of its precomputed duration. Exact because nothing else shares the device.
//  - A flow is Comm::sendto_async between the two endpoints' hosts (a maestro-owned comm), or, on
//    large plans (EngineOptions::flow_actor_ranks), a mailbox comm posted by two worker actors
//    (below). Point-to-point messages
//    between the same two ranks are FIFO: one in flight per (source, destination), the others
//    start in plan order, the sender's posting order (one connection per pair, as TCP, MPI and NCCL
//    use), instead of sharing the bandwidth side by side.
//  - Delays are kernel timers; joins complete at once.
//  - Asynchronous parameter servers (Dag::async): a server rank's iterations are not chained
//    (it serves pushes in arrival order, older iterations first when several are queued); with a
//    staleness bound s >= 0, a worker's iteration i waits until every worker finished i - s - 1.
//
// Why worker actors on large plans: SimGrid 3.32 appends every maestro-owned comm to maestro's
// activity list (a std::list) and removes it with a full scan when it completes, so with F flows
// in flight each completion costs O(F): 90% of the run at 16,384 ranks, where every ring edge
// has a flow in flight (measured with SimGrid 3.32; 3.34 uses a set). A comm
// posted by an actor goes to that actor's list instead. So each flow is carried by two workers
// from per-endpoint pools: one on the destination host posts the receive, then one on the source
// host posts the send (a mailbox per destination endpoint; the comm starts at once, its
// source and destination hosts being the two workers' hosts), both wait for it, and the sender
// hands the completion to the engine (in maestro, through a simcall). Idle workers suspend
// themselves. Every worker's list holds one comm, so a completion costs O(1). The engine's
// logic runs in maestro in both modes, flows start in the same order at the same instant and
// completions are handled in the same order (after the kernel timers of that instant), so both
// modes give the same results (test FlowActorsTest.GiveByteIdenticalOutputs); the actors cost
// more per flow and pay off only when many flows are in flight.
//
// SimGrid 3.32 allows one engine per process: RunDag must be called at most once per process
// (simulate/simulator.cpp forks a child per simulation).
#pragma once

#include <cstdint>
#include <vector>

#include "simulate/dag.h"
#include "simulate/platform.h"
#include "topologies/cluster.h"

namespace convscale::sim {

// Default of EngineOptions::flow_actor_ranks: on a ResNet-50 dp iteration maestro-owned flows are
// cheaper at 4096 ranks (2.24 against 2.45 CPU-seconds), actors at 8192 (7.9 against 11.2 with
// 4 sub-phases) and at 16,384 (11.5 against 19.9) (bench/simulate-results.md).
inline constexpr int kFlowActorRanks = 8192;

// The solver setting of coarse parameter-server messages (Dag::ps_coalesce_bytes), on top of
// NetworkConfig(): SimGrid's default lazy action updates keep a heap of action end dates and
// walk the changed part of the sharing system after every event; in a parameter-server plan
// every flow shares a link with every other (node and server NICs), so that walk covers them all
// and a full update each step is cheaper (a 64-GPU ResNet-50 ps iteration: 5.3 against 9.0
// CPU-seconds). The two agree to solver precision, not to the last digit.
inline constexpr const char* kPsMessagesSolverConfig = "network/optim:Full";

struct EngineOptions {
  int iterations = 1;        // total iterations to run (warm-up included)
  int record_iteration = 0;  // the iteration whose task times are recorded
  int first_measured = 0;    // staleness samples are taken from this iteration on
  // Flows are carried by worker actors (see above) when the Dag has at least this many ranks
  // (0: always); below it they are maestro-owned host-to-host comms.
  int flow_actor_ranks = kFlowActorRanks;
};

// A fixed-size array of doubles in shared anonymous memory (mmap MAP_SHARED): a child forked
// after it was made writes into the parent's pages, so the per-task times of a 16,384-rank run
// (2 x 61 MB) come back without being copied through a pipe. Move-only.
class SharedDoubles {
 public:
  SharedDoubles() = default;
  explicit SharedDoubles(size_t n);  // n zeros; throws RuntimeError when mmap fails
  ~SharedDoubles();
  SharedDoubles(SharedDoubles&& o) noexcept;
  SharedDoubles& operator=(SharedDoubles&& o) noexcept;
  SharedDoubles(const SharedDoubles&) = delete;
  SharedDoubles& operator=(const SharedDoubles&) = delete;

  size_t size() const { return n_; }
  double& operator[](size_t i) { return p_[i]; }
  double operator[](size_t i) const { return p_[i]; }
  double* begin() { return p_; }
  double* end() { return p_ + n_; }
  const double* begin() const { return p_; }
  const double* end() const { return p_ + n_; }

 private:
  double* p_ = nullptr;
  size_t n_ = 0;
};

struct RawResult {
  std::vector<double> iteration_end;  // per iteration: when the last rank finished it
  std::vector<double> rank_end;       // per rank: end of the recorded iteration
  std::vector<double> rank_start;     // per rank: start of the recorded iteration
  SharedDoubles task_begin;           // per global task (Dag::task_offset): recorded iteration
  SharedDoubles task_end;             // (NaN: the task did not run in it)
  // Per rank r and iteration i, at [r * iterations + i]: when r finished its iteration i.
  std::vector<double> rank_iteration_end;
  // Parameter-server staleness samples, one per gradient push of the measured iterations:
  // in iterations (bounded by the plan's staleness bound) and in updates (engine.cpp).
  std::vector<double> staleness;
  std::vector<double> staleness_updates;
  int64_t activities = 0;  // SimGrid activities created (flows + timers)
};

// `rank_endpoint[r]` is the cluster endpoint of rank r. Throws RuntimeError on a deadlock (some
// node never ran: a dependency cycle across ranks).
RawResult RunDag(const Dag& dag, const topo::Cluster& cluster,
                 const PlatformOptions& platform_options, const EngineOptions& options);

// RunDag in a forked child process (the caller never holds SimGrid state, so it can run any
// number of simulations). Errors come back as the same exception type and message; a SimGrid
// abort becomes a RuntimeError naming the signal.
RawResult RunDagInChild(const Dag& dag, const topo::Cluster& cluster,
                        const PlatformOptions& platform_options, const EngineOptions& options);

}  // namespace convscale::sim
