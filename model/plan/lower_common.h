// Shared pieces of the strategy lowerings (internal to model/plan): per-sample layer costs, a
// per-rank task builder that encodes stream order as dependencies, the forward/backward emitters
// and the memory model.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/graph/network.h"
#include "model/plan/plan.h"
#include "model/plan/strategy.h"
#include "topologies/cluster.h"

namespace convscale::plan::detail {

// Bytes per activation element at a compute precision (fp32/tf32: 4, fp16/bf16: 2). Throws
// InputError for an unknown precision.
int ActivationBytes(const std::string& precision);

// Per-sample costs of every layer, scaled to the compute precision (activation traffic and saved
// activations shrink with 2-byte precisions; weights stay fp32 masters).
struct NetCosts {
  NetCosts(const graph::Network& net, const std::string& precision);
  const graph::Network& net;
  int n = 0;  // vertices
  double act_scale = 1;
  // Per sample:
  std::vector<double> fwd_flops, bwd_data_flops, bwd_weight_flops;
  std::vector<double> fwd_bytes, bwd_data_bytes, bwd_weight_bytes;  // activation traffic only
  std::vector<double> out_bytes, in_bytes, saved_bytes;
  // saved_bytes split for pipelines: what only v keeps (a dropout mask, max-pool indices, the
  // loss's probabilities), and v's output when some layer keeps it (keepers[v], the input's too).
  std::vector<double> own_saved_bytes, kept_output_bytes;
  std::vector<std::vector<int>> keepers;  // graph::Network::SavedTensorKeepers
  // Per model:
  std::vector<double> params, weight_bytes;  // weight_bytes: fp32
  std::vector<char> has_bwd_data, has_bwd_weight, needs_bwd;
  std::vector<std::vector<int>> consumers;
  std::vector<int> order;         // non-input layers in topological (vertex) order
  std::vector<int> param_layers;  // layers with parameters, forward order
  double total_params = 0;

  double Flops(int v, Phase ph, int64_t samples) const;
  double Bytes(int v, Phase ph, int64_t samples) const;
};

// Appends tasks to one rank. Compute tasks run in list order (each depends on the previous
// compute task: one compute stream); collectives run in list order (each depends on the previous
// collective: one communication stream); sends and receives are ordered only by their data
// dependencies.
//
// With `reuse`, the builder starts at the rank's first task and overwrites the tasks already
// there (keeping the storage of their names and lists) instead of appending; tasks beyond the
// last one built are dropped when the builder goes away. A search that lowers the same rank
// again and again then allocates next to nothing. With `named` false, emitters give tasks no
// names (the estimator's compact plans, LowerForEstimate).
class RankBuilder {
 public:
  explicit RankBuilder(Rank& r, bool reuse = false, bool named = true);
  ~RankBuilder();
  RankBuilder(const RankBuilder&) = delete;
  RankBuilder& operator=(const RankBuilder&) = delete;
  int Compute(std::string name, Phase ph, int layer, int mb, int64_t samples, double flops,
              double bytes, const std::vector<int>& deps);
  int Collective(std::string name, plan::Collective c, Algorithm a, CommPrecision p, int group,
                 int64_t id, double bytes, const std::vector<int>& deps, int bucket = -1);
  int Send(std::string name, int peer, int64_t tag, double bytes, CommPrecision p,
           const std::vector<int>& deps, int mb = 0);
  int Recv(std::string name, int peer, int64_t tag, double bytes, CommPrecision p,
           const std::vector<int>& deps, int mb = 0);
  Task& task(int id) { return rank_.tasks[id]; }
  int last_compute() const { return last_compute_; }
  int last_comm() const { return last_comm_; }
  Rank& rank() { return rank_; }
  bool named() const { return named_; }
  // A dependency list for the emitters to fill and pass to the calls above (reused storage).
  std::vector<int>& scratch() {
    scratch_.clear();
    return scratch_;
  }

 private:
  // The next task slot, every field at its default; deps = `deps` (+ `extra` when >= 0), without
  // -1 entries, sorted and unique.
  Task& Next(TaskKind kind, std::string&& name, const std::vector<int>& deps, int extra);
  Rank& rank_;
  bool reuse_, named_;
  size_t next_;
  int last_compute_ = -1;
  int last_comm_ = -1;
  std::vector<int> scratch_;
};

// Task ids of one pass over a set of layers (indexed by vertex; -1 = none). Before emitting, a
// caller may store the id of a receive task in `fwd[u]` for a producer u that lives on another
// rank, and in `bwd_data[c]` for a consumer c on another rank whose input gradient arrives.
struct Pass {
  explicit Pass(int n) : fwd(n, -1), bwd_data(n, -1), bwd_weight(n, -1), bwd_any(n, -1) {}
  std::vector<int> fwd, bwd_data, bwd_weight;
  std::vector<int> bwd_any;  // the last backward task of a layer
};

// Forward tasks of `layers` (topological order) for `samples` samples of micro-batch `mb`.
void EmitForward(RankBuilder& b, const NetCosts& c, const std::vector<int>& layers, int mb,
                 int64_t samples, Pass& pass, const std::string& suffix);
// Backward tasks of `layers` in reverse order: backward-data then backward-weight per layer.
// `in_set[v]` says whether v is one of `layers` (consumers outside it are ignored unless the
// caller stored a receive in pass.bwd_data).
void EmitBackward(RankBuilder& b, const NetCosts& c, const std::vector<int>& layers,
                  const std::vector<char>& in_set, int mb, int64_t samples, Pass& pass,
                  const std::string& suffix);

// Optimizer update of the given layers' parameters: FLOPs and bytes per parameter.
double UpdateFlopsPerParam(const std::string& optimizer);
double UpdateBytesPerParam(const std::string& optimizer);
int OptimizerStateCopies(const std::string& optimizer);  // sgd momentum 1, adam 2

// Memory model of one rank (docs/plan-format.md, "Memory model").
struct MemoryInput {
  double params = 0;  // parameters held
  // Activations, their gradients and saved tensors alive at the peak (bytes): the memory plan's
  // peak (PlannedActivations) when >= 0, else saved_per_sample x samples_in_flight.
  double activations = -1;
  double saved_per_sample = 0;   // activations kept for backward, per sample (scaled)
  double samples_in_flight = 0;  // samples whose activations are alive at the peak
  double workspace = 0;          // largest transient (bytes)
  double buffers = 0;            // communication buffers (bytes)
  std::string precision = "fp32";
  std::string optimizer = "sgd";
  bool optimizer_here = true;  // false: a worker whose optimizer runs on the servers
};
void FillMemory(Rank& r, const MemoryInput& m);

// The memory plan's peak (model/plan/memory_plan.h) of rank `r`'s tasks, `samples` per
// micro-batch, in the compute precision's activation bytes.
double PlannedActivations(const NetCosts& c, const Rank& r, int64_t samples);

// Workspace of a layer set for `samples` samples per micro-batch and `micro_batches` of them: the
// largest transient a backward task holds beside the planned tensors, max over the layers of the
// input gradient before it is added into the producer's (backward-data: the largest input) and
// the weight gradient before it is added into the gradients (backward-weight: parameters x 4),
// plus what batch normalisation keeps per micro-batch (mean, variance and the scale and shift
// gradients: 4 floats per channel).
double Workspace(const NetCosts& c, const std::vector<int>& layers, int64_t samples,
                 int micro_batches = 1);

// Resolves the number of devices (--gpus) against the cluster.
int DevicesUsed(const topo::Cluster& cl, const StrategyOptions& o);

// Per-replica batch from --batch / --global-batch for `replicas` data-parallel replicas
// (default kDefaultBatchPerDevice); the returned options have batch and global_batch resolved.
StrategyOptions ResolveBatch(const StrategyOptions& o, int replicas);

// Plan header fields shared by all strategies.
void FillHeader(Plan& p, const StrategyOptions& o, const topo::Cluster& cl, int64_t global_batch);

// Adds a group over `ranks` (device ranks) in the order the algorithm wants: the cluster's ring
// for flat algorithms, node-major for hierarchical. Returns its index.
int AddDeviceGroup(Plan& p, const topo::Cluster& cl, const std::vector<int>& ranks, Algorithm a);

// Positions i of c.order after which exactly one tensor crosses (allowed stage boundaries).
std::vector<int> AllowedCuts(const NetCosts& c);

// dp. With `same_as`, only representative ranks get tasks (see LowerForEstimate).
Plan LowerDataParallel(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& o,
                       std::vector<int>* same_as = nullptr);
// The same into `p`, replacing what it held but reusing its ranks' task storage; tasks are named
// only when `named`.
void LowerDataParallelInto(Plan& p, const NetCosts& c, const topo::Cluster& cl,
                           const StrategyOptions& o, std::vector<int>* same_as, bool named);
Plan LowerPipeline(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& o);
// With `outline`, the plan goes there in outline (OutlineParameterServer) and an empty plan is
// returned.
Plan LowerParameterServer(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& o,
                          PsOutline* outline = nullptr);
Plan LowerOneWeirdTrick(const NetCosts& c, const topo::Cluster& cl, const StrategyOptions& o);

// DDP-style buckets over the given parameter layers (reverse order), closed when the bucket
// reaches `cap` bytes of communicated gradient (PyTorch closes on >=).
std::vector<std::vector<int>> Buckets(const NetCosts& c, const std::vector<int>& param_layers,
                                      double cap, int grad_bytes_per_elem);

// Appends the gradient synchronisation of data-parallel training to a rank: one collective per
// bucket, launched when the backward-weight tasks of its layers (`ready[v]`) are done, chained
// on the communication stream. Returns the id of the last collective (-1 when none).
int EmitBuckets(RankBuilder& b, const NetCosts& c, const std::vector<std::vector<int>>& buckets,
                const std::vector<int>& ready, const StrategyOptions& o, int group,
                int64_t first_collective_id);

// Lower() for the estimator only: the same plan, except that where the strategy makes ranks
// provably identical (dp replicas on devices of one type and speed factor) only the first rank of
// each class has tasks and same_as[r] names it (same_as[r] == r for representatives). Every
// rank's header and memory are filled. For strategies without this shortcut: the full plan
// (validated) and an empty same_as. A compact plan is not validated (the full path's tests
// validate the same code).
Plan LowerForEstimate(const graph::Network& net, const topo::Cluster& cluster,
                      const StrategyOptions& o, std::vector<int>& same_as);

// LowerForEstimate for a strategy search over one network and one cluster (both must outlive
// it): keeps the per-layer costs of each compute precision and the last plan's storage between
// calls, so that lowering dp again allocates next to nothing. Not thread-safe.
class EstimateLowering {
 public:
  EstimateLowering(const graph::Network& net, const topo::Cluster& cluster);
  ~EstimateLowering();
  // The plan LowerForEstimate(net, cluster, o, same_as) returns, valid until the next call; with
  // `named` false, compact dp plans have no task names.
  const Plan& Lower(const StrategyOptions& o, std::vector<int>& same_as, bool named);

 private:
  const graph::Network& net_;
  const topo::Cluster& cluster_;
  std::vector<std::pair<std::string, std::unique_ptr<NetCosts>>> costs_;  // per precision
  Plan plan_;
};

}  // namespace convscale::plan::detail
