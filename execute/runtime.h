// The executor runtime: walks one rank's tasks of a plan for real, with the simulator's rule
// ("a task starts when all its dependencies are done"), and times every task on a clock aligned
// across ranks.
//
// Streams (as the simulator models them):
//  - compute tasks run one at a time on the calling thread, in ready order (ties: task id);
//  - collectives run on a communication thread, in ascending collective_id (every member issues
//    them in the same order, as MPI and NCCL require), so gradient buckets are reduced while
//    backward continues on the compute thread;
//  - sends and receives are posted as soon as they are ready and completed by polling, so a
//    pipeline stage never blocks its compute on a message it does not need yet; sends to one
//    peer leave one after the other (SendQueues below).
//
// What a communication task moves (docs/executor.md):
//  - a collective reduces the gradients of Task::layers (packed into one bucket buffer when they
//    are not adjacent), cast to Task::precision for the wire;
//  - send/recv with Task::layers empty carry a stage boundary: phase forward = the activation of
//    Task::layer for Task::micro_batch, phase backward_data = the gradient with respect to it;
//  - send/recv with Task::layers set are parameter-server traffic: a worker sends the gradients
//    of those layers and receives their parameters; a server receives gradients (one slot per
//    worker) and sends parameters. A server's aggregate task sums the received slots; its update
//    task steps the optimizer. A shard of a layer split over servers (Task::slice_offset,
//    slice_elements, on the message or on its peer's matching task) carries, sums and steps
//    that slice alone; a worker zeroes a layer's gradients once every push of it is done.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "execute/backend.h"
#include "model/graph/network.h"
#include "model/plan/plan.h"

namespace convscale::exec {

// Where the samples come from. Sample s of the run (s counts from 0 over all iterations) is the
// same on every rank, so data parallelism splits exactly the batch one process would see.
class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual std::string name() const = 0;
  // Fills `count` samples starting at global sample index `first` (wrapping around the data set).
  virtual void Fill(int64_t first, int64_t count, float* images, int32_t* labels) = 0;
  virtual int64_t size() const = 0;  // samples in one epoch (synthetic: effectively unbounded)
  // True when every iteration may reuse the first iteration's samples (synthetic data, as
  // synthetic-data benchmarks such as PyTorch's and tf_cnn_benchmarks' use one resident batch):
  // the runtime then fills and uploads each micro-batch once, so the data costs no time per
  // iteration. Real data sets return false and are filled every iteration.
  virtual bool reusable() const { return false; }
};

struct TaskTiming {
  int task = 0;
  int iteration = 0;
  double start_s = 0, end_s = 0;  // aligned clock (Communicator::Now), seconds
};

struct IterationResult {
  int iteration = 0;
  double start_s = 0, end_s = 0;  // first task start, last task end on this rank
  double loss = 0;                // mean loss over this rank's loss micro-batches (NaN if none)
  int64_t loss_samples = 0;
  std::vector<TaskTiming> tasks;
};

struct RuntimeOptions {
  // A rank that waits longer than this for a peer (a message or a collective) reports the peer
  // as lost and fails. 0 disables the watchdog.
  double peer_timeout_s = 30;
  bool record_tasks = true;
  // The node of each rank (index = rank), for hierarchical collectives; empty = every rank its
  // own node. The CLI takes it from the plan's cluster description.
  std::vector<int> node_of_rank;
  // Implementation choices per layer name, from a profile (BackendConfig::choices).
  std::map<std::string, std::map<std::string, int>> choices;
  // Compute threads (BackendConfig::threads; 0 = the library default).
  int threads = 0;
};

// Which replica / samples a rank's micro-batch gets: replica r of R, micro-batch m of M, with the
// iteration's global batch B split evenly: first sample = it*B + r*(B/R) + m*(B/R/M).
struct SampleSlice {
  int64_t first = 0;
  int64_t count = 0;
};

class Runtime {
 public:
  // `net` must be the plan's model. Calls backend.Setup with this rank's layers.
  Runtime(const plan::Plan& plan, const graph::Network& net, ComputeBackend& backend,
          Communicator& comm, const OptimizerConfig& optimizer, uint64_t seed,
          RuntimeOptions options = {});
  ~Runtime();

  // Runs iteration `iteration` of the plan on this rank, feeding samples from `data`.
  IterationResult RunIteration(int iteration, DataSource& data);

  // The layers this rank computes (from its compute tasks), in forward order.
  const std::vector<int>& owned_layers() const { return owned_; }
  int64_t micro_batch() const { return micro_batch_; }
  int micro_batches() const { return micro_batches_; }
  SampleSlice Slice(int iteration, int micro_batch) const;
  const plan::Rank& rank_plan() const;

 private:
  struct Impl;
  Impl* impl_;
  std::vector<int> owned_;
  int64_t micro_batch_ = 1;
  int micro_batches_ = 1;
};

// The layers each rank owns for compute, derived from compute task layers (forward/backward).
std::vector<int> OwnedLayers(const plan::Rank& rank);

// Point-to-point sends from this rank leave one peer one after the other: while a send to a peer
// is in flight, the next ready sends to it wait, and the first in plan order (lowest task id)
// goes when it completes. The simulator models one connection per pair the same way
// (simulate/engine.h). MPI would otherwise interleave them: Open MPI's ob1 over TCP hands out the
// fragments of concurrent large messages to one peer in turns, so four 1.6 MB activations of a
// pipeline posted 1 ms apart all arrived at the end (258 ms at 200 Mbit/s) instead of one every
// 65 ms, and the next stage waited for the last micro-batch before starting the second
// (bench/validation-emulated.md). A send is held only behind sends whose receive the peer posts
// at the start of the iteration (a receive without dependencies), so the one in flight completes
// without anything this rank still has to do, and holding cannot deadlock.
class SendQueues {
 public:
  // `fifo[p]`: whether sends to peer p are queued (every receive p posts from this rank has no
  // dependencies); an empty or short vector means no queueing for the peers it does not cover.
  explicit SendQueues(std::vector<bool> fifo = {}) : fifo_(std::move(fifo)) {}
  // Send `task` to `peer` became ready: true when it is to be posted now, false when it waits.
  bool Ready(int task, int peer);
  // The send in flight to `peer` completed: the next waiting send to post now, or -1.
  int Done(int peer);
  // Forgets every waiting send and in-flight mark (start of an iteration).
  void Clear();

 private:
  std::vector<bool> fifo_;
  std::map<int, bool> busy_;
  std::map<int, std::set<int>> waiting_;
};

}  // namespace convscale::exec
