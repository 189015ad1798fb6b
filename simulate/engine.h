// The engine: runs a Dag on the SimGrid platform of a cluster (the design measured in
// ../shared/notes/simgrid-activities.md, "lazy DAG + timer compute").
//
//  - No actors. The engine keeps its own CSR graph and dependency counters and creates a SimGrid
//    activity only when a node becomes ready, from maestro (the start and the completion
//    callbacks), so SimGrid holds only the live activities.
//  - A rank's compute stream is serial (one kernel at a time, like a GPU stream): a ready compute
//    node waits in a per-rank queue, ordered by node id (plan order), and runs as a kernel timer
//    of its precomputed duration. Exact because nothing else shares the device.
//  - A flow is Comm::sendto_async between the two endpoints' hosts. Point-to-point messages
//    between the same two ranks are FIFO: one in flight per (source, destination), the others
//    start in plan order, the sender's posting order (one connection per pair, as TCP, MPI and NCCL
//    use), instead of sharing the bandwidth side by side.
//  - Delays are kernel timers; joins complete at once.
//  - Asynchronous parameter servers (Dag::async): a server rank's iterations are not chained
//    (it serves pushes in arrival order, older iterations first when several are queued); with a
//    staleness bound s >= 0, a worker's iteration i waits until every worker finished i - s - 1.
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

struct EngineOptions {
  int iterations = 1;        // total iterations to run (warm-up included)
  int record_iteration = 0;  // the iteration whose task times are recorded
  int first_measured = 0;    // staleness samples are taken from this iteration on
};

struct RawResult {
  std::vector<double> iteration_end;  // per iteration: when the last rank finished it
  std::vector<double> rank_end;       // per rank: end of the recorded iteration
  std::vector<double> rank_start;     // per rank: start of the recorded iteration
  std::vector<double> task_begin;     // per global task (Dag::task_offset): recorded iteration
  std::vector<double> task_end;
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
