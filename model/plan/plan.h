// The plan: ONE per-rank task graph that both interpreters (the SimGrid simulator and the real
// executor) walk with the same rule, "a task starts when all its dependencies are done".
//
// A plan describes one training iteration. Interpreters run it `iterations` times; the first task
// of a rank's iteration i+1 starts after the last of its iteration i (per-rank program order).
// Format, versioning and a worked example: docs/plan-format.md.
//
// Units: FLOPs, bytes, seconds.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "model/util/json.h"

namespace convscale::plan {

// The plan format's version. 2 added context.network; version 1 plans are still read.
inline constexpr int kSchemaVersion = 2;
inline constexpr int kOldestSchemaVersion = 1;

// Bounds on one task's work and on a rank's memory figures (docs/limits.md). The simulator hands
// SimGrid each message as a 64-bit byte count, and the summary adds the figures of every task of
// every rank: below these bounds every such count and sum is exact enough and finite.
inline constexpr double kMaxTaskBytes = 1152921504606846976.0;  // 2^60 bytes (1 EiB)
inline constexpr double kMaxTaskFlops = 1e30;

enum class TaskKind { kCompute, kCollective, kSend, kRecv };
enum class Phase {
  kForward,
  kBackwardData,
  kBackwardWeight,
  kUpdate,     // optimizer step on a rank's parameters
  kAggregate,  // parameter-server summation of pushed gradients
  kCopy,       // local copies (bucket packing, cast)
};
enum class Collective { kAllReduce, kReduceScatter, kAllGather, kBroadcast, kReduce };
enum class Algorithm { kRing, kTree, kHierarchical, kHalvingDoubling, kDirect };
enum class CommPrecision { kFP32, kFP16, kBF16 };

const char* Name(TaskKind);
const char* Name(Phase);
const char* Name(Collective);
const char* Name(Algorithm);
const char* Name(CommPrecision);
// Parsers throw std::invalid_argument with a "did you mean".
Phase ParsePhase(const std::string&);
Collective ParseCollective(const std::string&);
Algorithm ParseAlgorithm(const std::string&);
CommPrecision ParseCommPrecision(const std::string&);
int BytesPerElement(CommPrecision);
TaskKind ParseTaskKind(const std::string&);

struct Task {
  int id = 0;  // index in the rank's task list
  TaskKind kind = TaskKind::kCompute;
  std::string name;       // "conv1/fwd/mb0", "bucket3/allreduce", "send act stage0->1 mb2"
  std::vector<int> deps;  // ids of tasks of the same rank that must finish first

  // Compute
  Phase phase = Phase::kForward;
  int layer = -1;           // vertex id in the network (-1: not a single layer, e.g. update)
  std::vector<int> layers;  // for update/aggregate/copy: the layers whose parameters it touches
  int micro_batch = 0;
  int64_t samples = 0;  // samples this task processes
  double flops = 0;
  double bytes = 0;  // device memory traffic

  // Communication
  Collective collective = Collective::kAllReduce;
  Algorithm algorithm = Algorithm::kRing;
  CommPrecision precision = CommPrecision::kFP32;
  int group = -1;              // index into Plan::groups (collectives)
  int64_t collective_id = -1;  // same id on every member rank for one collective call
  int peer = -1;               // send/recv: the other rank
  int64_t tag = 0;             // send/recv: matched with (src, dst, tag)
  double comm_bytes = 0;  // collectives: the buffer size (nccl-tests "size"); p2p: message size
  int bucket = -1;        // gradient bucket this communication belongs to

  // A parameter-server shard of one layer: the task touches only elements [slice_offset,
  // slice_offset + slice_elements) of the parameters of the one layer in `layers` (weights then
  // bias, as the executor's backends lay them out). slice_elements 0: every element of every
  // layer in `layers`. A message with a slice carries slice_elements elements.
  int64_t slice_offset = 0;
  int64_t slice_elements = 0;
};

// A rank's task list: a std::vector<Task> whose copies share one list until one of them is
// changed (copy on write). Data-parallel replicas run the same program, so `ranks[r].tasks =
// ranks[0].tasks` costs nothing: a 16,384-rank ResNet-50 plan holds one list of 463 tasks
// instead of 7.6 M tasks (2.2 GB). Reading through a const TaskList never copies; the non-const
// accessors (operator[], begin/end, back, push_back, ...) give this copy a list of its own
// first when the list is shared, so changing one rank never changes another. Iterate a shared
// list through a const reference to avoid that copy.
class TaskList {
 public:
  using value_type = Task;
  using iterator = std::vector<Task>::iterator;
  using const_iterator = std::vector<Task>::const_iterator;

  TaskList() = default;
  TaskList(std::vector<Task> tasks)  // NOLINT: implicit, a TaskList stands for a vector
      : list_(std::make_shared<std::vector<Task>>(std::move(tasks))) {}
  TaskList(std::initializer_list<Task> tasks) : TaskList(std::vector<Task>(tasks)) {}

  size_t size() const { return list_ ? list_->size() : 0; }
  bool empty() const { return size() == 0; }
  const Task& operator[](size_t i) const { return (*list_)[i]; }
  const Task& front() const { return list_->front(); }
  const Task& back() const { return list_->back(); }
  const_iterator begin() const { return Get().begin(); }
  const_iterator end() const { return Get().end(); }
  const std::vector<Task>& vector() const { return Get(); }
  // Whether both share one list (the same program, without comparing tasks).
  bool SharesWith(const TaskList& o) const { return list_ != nullptr && list_ == o.list_; }

  Task& operator[](size_t i) { return Own()[i]; }
  Task& back() { return Own().back(); }
  iterator begin() { return Own().begin(); }
  iterator end() { return Own().end(); }
  void push_back(Task t) { Own().push_back(std::move(t)); }
  Task& emplace_back() { return Own().emplace_back(); }
  iterator erase(const_iterator first, const_iterator last) {
    // `first` and `last` may point into a list shared with other copies: erase by position.
    const auto a = first - Get().begin(), b = last - Get().begin();
    std::vector<Task>& v = Own();
    return v.erase(v.begin() + a, v.begin() + b);
  }
  void reserve(size_t n) { Own().reserve(n); }
  void clear() { list_.reset(); }
  void resize(size_t n) { Own().resize(n); }

 private:
  const std::vector<Task>& Get() const {
    static const std::vector<Task> kNone;
    return list_ ? *list_ : kNone;
  }
  std::vector<Task>& Own() {
    if (!list_)
      list_ = std::make_shared<std::vector<Task>>();
    else if (list_.use_count() > 1)
      list_ = std::make_shared<std::vector<Task>>(*list_);
    return *list_;
  }
  std::shared_ptr<std::vector<Task>> list_;
};

enum class Role { kWorker, kServer, kStage };
const char* Name(Role);
Role ParseRole(const std::string&);

struct Rank {
  int endpoint = 0;  // cluster endpoint this rank runs on
  Role role = Role::kWorker;
  int stage = -1;    // pipeline stage, when pipelined
  int replica = -1;  // data-parallel replica index
  TaskList tasks;    // copies share one list (copy on write)
  // Predicted memory on the rank's device, bytes (memory model, docs/ARCHITECTURE.md).
  double memory_weights = 0, memory_gradients = 0, memory_optimizer = 0, memory_activations = 0,
         memory_buffers = 0, memory_workspace = 0;
  double memory_peak() const {
    return memory_weights + memory_gradients + memory_optimizer + memory_activations +
           memory_buffers + memory_workspace;
  }
};

// A rank's six predicted memory figures, each under its key of the plan format's `memory`
// object (docs/plan-format.md), in the order the plan writes them. The plan's reader and writer
// and the measured summary's prediction all go through this table.
struct MemoryField {
  const char* key;      // "weights_bytes", ...
  double Rank::*bytes;  // &Rank::memory_weights, ...
};
extern const MemoryField kMemoryFields[6];
// The six figures of `rank` as a JSON object keyed as above (bytes).
Json MemoryJson(const Rank& rank);

struct Group {
  std::vector<int> ranks;  // members in collective order (ring order for ring algorithms)
};

// Everything that determined the plan; copied into every output's context block.
struct Context {
  std::string model;
  std::string cluster;
  std::string strategy;           // "dp", "mp", "ps", "hybrid"
  Json options = Json::object();  // every strategy option with its resolved value
  // The layer graph (the model file format, docs/model-format.md) when the model is not a zoo
  // name, so the plan can be executed without the file it was made from; null otherwise.
  Json network;
  std::string convscale_version;
  std::string git_sha;
  int schema_version = kSchemaVersion;
};

struct Plan {
  Context context;
  int64_t global_batch = 0;
  std::string precision = "fp32";  // compute precision
  std::string optimizer = "sgd";   // "sgd" (momentum) or "adam"
  bool async = false;              // asynchronous parameter server: workers do not wait
  int staleness_bound = -1;        // async: iterations a worker may run ahead (-1 = unbounded)
  int cluster_endpoints = 0;       // endpoints of the cluster it was lowered for (0 = unknown)
  // Losses real clusters show beyond the roofline and the network (docs/simulator.md, "Losses"),
  // which the estimator and the simulator both apply to worker and stage ranks, never to
  // parameter servers: every compute task lasts `compute_factor` times its calibrated time, and
  // each rank's first compute task of an iteration also carries `iteration_overhead_s`.
  double compute_factor = 1;        // >= 1
  double iteration_overhead_s = 0;  // seconds, >= 0
  std::vector<Rank> ranks;
  std::vector<Group> groups;

  size_t num_tasks() const;
};

// JSON round trip. ToJson is deterministic (same plan, same bytes).
Json ToJson(const Plan& plan);
// Validates: schema version, ranks and endpoints in range, dependencies acyclic (a cycle is
// reported as the path "rank 1: t3 -> t7 -> t3"), every send matched by one receive, every
// collective id present on exactly its group's ranks with the same type, size and algorithm,
// every task's FLOPs and bytes within kMaxTaskFlops and kMaxTaskBytes.
// Errors are InputErrors located by JSON pointer in `file`.
Plan FromJson(const Json& j, const std::string& file);
Plan LoadPlan(const std::string& path);
void SavePlan(const Plan& plan, const std::string& path);  // atomic
// The same checks as FromJson on an in-memory plan (used by tests and after lowering).
void Validate(const Plan& plan, const std::string& where = "plan");

}  // namespace convscale::plan
