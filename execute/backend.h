// The two narrow interfaces the executor runtime (execute/runtime.h) drives, one per thing that
// varies between machines:
//
//   ComputeBackend  one rank's layers on real tensors: forward, backward-data, backward-weight of
//                   one layer for one micro-batch, the optimizer update, and the buffers that
//                   communication reads and writes (gradients, parameters, stage-boundary
//                   activations). CPU: oneDNN (execute/cpu/). CUDA: cuDNN + cuBLAS (execute/cuda/).
//   Communicator    collectives on a group of ranks with a given plan algorithm, point-to-point
//                   messages and a barrier. CPU: MPI point-to-point running the plan's schedule
//                   (execute/cpu/). CUDA: NCCL.
//
// Both are backend-neutral: no MPI, oneDNN, CUDA or NCCL type appears here. Memory crosses the
// interfaces as Buffer (a pointer into the backend's memory plus a size in bytes).
//
// Threading contract (what the runtime does, so implementations know what they must allow):
//  - All ComputeBackend calls come from one thread (the compute "stream"), in dependency order.
//  - Communicator::Collective calls come from one communication thread, in ascending
//    plan collective_id order on every rank (so every member of a group issues the same
//    collectives in the same order). Send/Recv/Test/Barrier may come from the compute thread at
//    the same time, so a Communicator must allow concurrent calls from these two threads.
//  - A buffer handed to the Communicator is not touched by compute until the communication that
//    uses it has finished (the plan's dependencies guarantee it). A backend whose compute is
//    asynchronous (CUDA streams) makes the buffer's producer visible before returning from the
//    call that produced it, or in Synchronize(), which the runtime calls before communication
//    reads a buffer the compute thread produced.
//
// Units: bytes, seconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/graph/network.h"
#include "model/plan/memory_plan.h"
#include "model/plan/plan.h"

namespace convscale::exec {

// Element types that cross the interfaces. Compute runs in the plan's compute precision inside a
// backend; communication may run in a lower precision (plan::CommPrecision).
enum class DataType { kF32, kF16, kBF16 };
int SizeOf(DataType t);
DataType FromCommPrecision(plan::CommPrecision p);
const char* Name(DataType t);

enum class MemoryKind { kHost, kDevice };

// A view of memory owned by a backend (or by the runtime for staging buffers it allocated through
// ComputeBackend::Allocate). Never owns. `data` is a device pointer when kind is kDevice.
struct Buffer {
  void* data = nullptr;
  size_t bytes = 0;
  MemoryKind kind = MemoryKind::kHost;

  bool empty() const { return data == nullptr || bytes == 0; }
  // A sub-range [offset, offset + length) in bytes; throws std::out_of_range when it does not fit.
  Buffer Slice(size_t offset, size_t length) const;
};

struct OptimizerConfig {
  std::string kind = "sgd";  // "sgd" (with momentum) or "adam", as plan::Plan::optimizer
  double learning_rate = 0.01;
  double momentum = 0.9;                              // sgd
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  // adam
  double weight_decay = 0;
};

struct BackendConfig {
  int64_t micro_batch = 1;  // samples per micro-batch (forward/backward calls)
  int micro_batches = 1;    // micro-batches in flight per iteration (pipelines keep them all)
  std::string precision = "fp32";  // compute precision, as plan::Plan::precision
  OptimizerConfig optimizer;
  // Seed of parameter initialisation. Every rank initialises a layer's parameters from
  // (seed, layer name) alone, so replicas start identical and equal single-process training.
  uint64_t seed = 1;
  int device = 0;   // local device index (CUDA); ignored by the CPU backend
  int threads = 0;  // CPU threads for compute (0 = the library default)
  // Per layer name, the implementation choices a profile recorded (ComputeBackend::Choices), so
  // `execute --profile` runs the kernels the profile measured. A layer not listed, or whose
  // choices do not apply (another shape, too much workspace), gets the backend's own choice.
  std::map<std::string, std::map<std::string, int>> choices;
  // Where activations, their gradients and saved tensors live (model/plan/memory_plan.h): the
  // backend reserves one arena of memory->arena_bytes and places each planned tensor at its
  // offset. Null: every tensor gets a buffer of its own (`profile`, tests of single layers).
  std::shared_ptr<const plan::MemoryPlan> memory;
};

// One rank's share of the network. Layer ids are vertex ids of graph::Network.
//
// Activations: a layer's output, its gradient and what only it keeps for backward live where the
// memory plan (BackendConfig::memory) puts them, alive from their first writer to their last
// reader in the rank's compute order and then reused; a backend reads and writes them only in the
// tasks the plan names (model/plan/memory_plan.h). The first write of an output gradient in an
// iteration overwrites; ActivationGrad zeroes one nobody wrote yet. A layer whose input comes from
// a layer this rank does not own reads it from the boundary buffer Activation(producer, mb), which
// the runtime fills by a receive; symmetrically the gradient of a non-owned producer's output is
// left in ActivationGrad(producer, mb) for a send.
//
// Gradients accumulate over the micro-batches of an iteration (sum over samples divided by the
// iteration's global batch, set with SetGradientScale) until Update consumes them and zeroes them.
class ComputeBackend {
 public:
  virtual ~ComputeBackend() = default;
  virtual std::string name() const = 0;  // "cpu/onednn", "cuda/cudnn"
  // A description of the device and library for context blocks ("oneDNN 2.6.3 jit:avx512_core").
  virtual std::string device_description() const = 0;

  // Allocates parameters (seeded, see BackendConfig::seed), gradients, optimizer state and
  // activation buffers for `layers` of `net` (net inferred at any batch: shapes per sample are
  // used). `layers` may include layers without parameters; the input layer (vertex 0) and the
  // loss are allowed. Throws InputError for a layer type the backend cannot run.
  virtual void Setup(const graph::Network& net, const std::vector<int>& layers,
                     const BackendConfig& config) = 0;

  // Input samples of micro-batch `mb`: images (samples x C x H x W, fp32, host memory, NCHW) and
  // integer labels. Needed on ranks that own the input layer (images) or the loss (labels).
  virtual void SetInput(int mb, const float* images, const int32_t* labels, int64_t samples) = 0;
  // The loss gradient of every sample is multiplied by `scale` (default 1 / micro_batch). The
  // runtime sets 1 / (global batch) so that gradients summed over micro-batches and over
  // data-parallel replicas are the mean over the global batch, as single-process training.
  virtual void SetGradientScale(double scale) = 0;

  virtual void Forward(int layer, int mb) = 0;
  virtual void BackwardData(int layer, int mb) = 0;    // gradient w.r.t. the layer's inputs
  virtual void BackwardWeight(int layer, int mb) = 0;  // gradient w.r.t. its parameters (+=)
  // One optimizer step on the parameters of `layers` using their accumulated gradients, then
  // zeroes those gradients. Layers without parameters are ignored.
  virtual void Update(const std::vector<int>& layers) = 0;
  // The same step on elements [offset, offset + elements) of one layer's parameters (weights
  // then bias, as Parameters lays them out) alone, then zeroes those gradients: a parameter
  // server holding one shard of a layer (plan::Task::slice_offset). The slice lies inside the
  // layer (the runtime checks it against Parameters first).
  virtual void UpdateSlice(int layer, int64_t offset, int64_t elements) = 0;
  // Zeroes accumulated gradients of `layers` without stepping (parameter-server workers, whose
  // server runs the optimizer).
  virtual void ZeroGradients(const std::vector<int>& layers) = 0;

  // Mean loss over the samples of micro-batch `mb` (rank owning the loss layer, after Forward).
  virtual double Loss(int mb) = 0;
  // Number of samples of micro-batch `mb` whose arg-max prediction equals the label.
  virtual int64_t Correct(int mb) = 0;

  // The parameters / gradients of one layer as one contiguous buffer (weights then bias), in the
  // backend's compute type. Empty for a layer without parameters.
  virtual Buffer Parameters(int layer) = 0;
  virtual Buffer Gradients(int layer) = 0;
  // The output of `layer` for micro-batch `mb` and the gradient with respect to it. For a layer
  // this rank owns: what Forward wrote / what consumers' BackwardData accumulated. For a layer it
  // does not own (a stage-boundary producer): the buffer a receive fills / a send reads.
  virtual Buffer Activation(int layer, int mb) = 0;
  virtual Buffer ActivationGrad(int layer, int mb) = 0;

  // Staging memory of the backend's kind (bucket packing, casts, server-side buffers). The
  // backend owns it until the backend is destroyed.
  virtual Buffer Allocate(size_t bytes) = 0;
  // dst = src (same size). dst += src, element-wise in `type`.
  virtual void Copy(Buffer dst, Buffer src) = 0;
  virtual void Accumulate(Buffer dst, Buffer src, DataType type) = 0;
  // dst (elements of `to`) = src (elements of `from`), same element count.
  virtual void Cast(Buffer dst, DataType to, Buffer src, DataType from) = 0;

  // Waits for every queued compute operation (no-op for a synchronous backend).
  virtual void Synchronize() = 0;

  // Device timing. A backend that only queues work (CUDA) cannot be timed with host clocks around
  // its calls; it brackets the calls of one task between BeginTask and EndTask with device events
  // instead. After Synchronize(), TaskTimes(host_now) returns each bracketed task's start and end
  // on the host clock, given the host time `host_now` taken just after the synchronisation, and
  // forgets them. A synchronous backend (CPU) brackets nothing and returns nothing: the host
  // clocks around its calls are its times.
  struct DeviceTaskTime {
    int task = 0;
    double start_s = 0, end_s = 0;
  };
  virtual void BeginTask(int /*task*/) {}
  virtual void EndTask(int /*task*/) {}
  virtual std::vector<DeviceTaskTime> TaskTimes(double /*host_now_s*/) { return {}; }
  // The choices the backend made for `layer` that decide its speed, by name (cuDNN: each
  // convolution direction's algorithm and math type); empty where it made none (oneDNN picks
  // one implementation per primitive itself). Recorded by `profile`, given back through
  // BackendConfig::choices.
  virtual std::map<std::string, int> Choices(int layer) const {
    (void)layer;
    return {};
  }
  // Peak bytes this rank's backend reserved through its own allocator: parameters, gradients,
  // optimizer state, the activation arena of the memory plan (and activations outside it),
  // communication staging, workspace; the figure the memory model predicts. Not counted: memory
  // the libraries reserve themselves (oneDNN's, MPI's, cuDNN's workspaces and handles).
  virtual int64_t PeakMemoryBytes() const = 0;
  // The same bytes by the memory model's category ("weights", "gradients", "optimizer",
  // "activations", "buffers", "workspace"), as held at the end of the run.
  virtual std::map<std::string, int64_t> MemoryBytes() const = 0;
  // Memory of the process or device beyond what the backend reserved, bytes: CPU, the process's
  // maximum resident set (getrusage); CUDA, the growth of the device's used memory
  // (cudaMemGetInfo) since Setup.
  virtual int64_t ProcessMemoryBytes() const = 0;
};

// A set of ranks in collective order (ring order for ring algorithms), as plan::Group, plus the
// node of each member for hierarchical algorithms.
struct CommGroup {
  std::vector<int> ranks;    // world ranks
  std::vector<int> node_of;  // member index -> node (may be empty)
  int index = -1;            // plan group index, for caching communicators per group
};

// A pending point-to-point operation (Send/Recv); implementation-defined handle.
struct Request {
  int64_t id = -1;
  bool valid() const { return id >= 0; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;  // "mpi/p2p-schedule", "mpi/library", "nccl"
  // How collectives are carried out, for the output's context ("plan schedule over MPI_Isend/
  // MPI_Irecv" or "MPI_Allreduce with coll_tuned algorithm 4").
  virtual std::string method() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Runs collective `c` with algorithm `a` on `buf` (`count` = buf.bytes / SizeOf(type) elements)
  // for the members of `group`; this rank must be a member. Blocking. Semantics as NCCL:
  //   all-reduce:     buf = sum over members.
  //   reduce-scatter: buf holds the whole array; on return member i's chunk i (count/n elements,
  //                   the last chunk takes the remainder) holds the sum over members.
  //   all-gather:     buf holds the whole array with member i's chunk i filled; on return every
  //                   chunk is filled everywhere.
  //   broadcast:      buf of member `root` copied to every member.
  //   reduce:         sum over members lands in member `root`'s buf.
  // `root` is a member index. `tag` distinguishes concurrent collectives (plan collective_id).
  // Throws std::invalid_argument for an algorithm that does not exist for `c`, RuntimeError when a
  // peer is lost (the message names the rank).
  virtual void Collective(plan::Collective c, plan::Algorithm a, Buffer buf, DataType type,
                          const CommGroup& group, int root, int64_t tag) = 0;

  // Non-blocking point-to-point; the buffer must stay valid until Test returns true.
  virtual Request Send(Buffer buf, int peer, int64_t tag) = 0;
  virtual Request Recv(Buffer buf, int peer, int64_t tag) = 0;
  // True once the request is complete (then the request is released). Throws RuntimeError naming
  // the peer when it was lost.
  virtual bool Test(Request& r) = 0;
  virtual void Wait(Request& r) = 0;
  virtual void Barrier() = 0;

  // Seconds on a clock common to all ranks (this rank's monotonic clock corrected by the offset
  // estimated against rank 0 at start-up, as in ping-pong clock synchronisation).
  virtual double Now() const = 0;
  // The estimated offset of this rank's clock from rank 0's, seconds, and its uncertainty (half
  // the best round trip).
  virtual double clock_offset_s() const = 0;
  virtual double clock_uncertainty_s() const = 0;

  // Every rank's `mine` (the same length on all ranks) to every rank, concatenated in rank order.
  virtual std::vector<double> AllGatherDoubles(const std::vector<double>& mine) = 0;
  // Gathers a string from every rank at rank 0 (empty vector on other ranks).
  virtual std::vector<std::string> GatherStrings(const std::string& mine) = 0;
};

}  // namespace convscale::exec
