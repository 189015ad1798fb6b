// The plan: enum names, JSON round trip and validation (docs/plan-format.md).
#include "model/plan/plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "model/util/context.h"
#include "model/util/error.h"
#include "topologies/cluster.h"

namespace convscale::plan {

namespace {

template <typename E>
struct NameOf {
  E value;
  const char* name;
};

constexpr NameOf<TaskKind> kTaskKinds[] = {{TaskKind::kCompute, "compute"},
                                           {TaskKind::kCollective, "collective"},
                                           {TaskKind::kSend, "send"},
                                           {TaskKind::kRecv, "recv"}};
constexpr NameOf<Phase> kPhases[] = {{Phase::kForward, "forward"},
                                     {Phase::kBackwardData, "backward-data"},
                                     {Phase::kBackwardWeight, "backward-weight"},
                                     {Phase::kUpdate, "update"},
                                     {Phase::kAggregate, "aggregate"},
                                     {Phase::kCopy, "copy"}};
constexpr NameOf<Collective> kCollectives[] = {{Collective::kAllReduce, "all-reduce"},
                                               {Collective::kReduceScatter, "reduce-scatter"},
                                               {Collective::kAllGather, "all-gather"},
                                               {Collective::kBroadcast, "broadcast"},
                                               {Collective::kReduce, "reduce"}};
constexpr NameOf<Algorithm> kAlgorithms[] = {{Algorithm::kRing, "ring"},
                                             {Algorithm::kTree, "tree"},
                                             {Algorithm::kHierarchical, "hierarchical"},
                                             {Algorithm::kHalvingDoubling, "halving-doubling"},
                                             {Algorithm::kDirect, "direct"}};
constexpr NameOf<CommPrecision> kPrecisions[] = {
    {CommPrecision::kFP32, "fp32"}, {CommPrecision::kFP16, "fp16"}, {CommPrecision::kBF16, "bf16"}};
constexpr NameOf<Role> kRoles[] = {
    {Role::kWorker, "worker"}, {Role::kServer, "server"}, {Role::kStage, "stage"}};

template <typename E, size_t N>
const char* NameIn(const NameOf<E> (&table)[N], E e) {
  for (const auto& x : table)
    if (x.value == e) return x.name;
  return "unknown";
}

template <typename E, size_t N>
E ParseIn(const NameOf<E> (&table)[N], const std::string& s, const char* what) {
  std::vector<std::string> names;
  for (const auto& x : table) {
    if (s == x.name) return x.value;
    names.emplace_back(x.name);
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw std::invalid_argument("\"" + s + "\" is not " + what + " (" + list + ")" +
                              DidYouMean(s, names));
}

}  // namespace

const char* Name(TaskKind k) {
  return NameIn(kTaskKinds, k);
}
const char* Name(Phase p) {
  return NameIn(kPhases, p);
}
const char* Name(Collective c) {
  return NameIn(kCollectives, c);
}
const char* Name(Algorithm a) {
  return NameIn(kAlgorithms, a);
}
const char* Name(CommPrecision p) {
  return NameIn(kPrecisions, p);
}
const char* Name(Role r) {
  return NameIn(kRoles, r);
}
TaskKind ParseTaskKind(const std::string& s) {
  return ParseIn(kTaskKinds, s, "a task kind");
}
Phase ParsePhase(const std::string& s) {
  return ParseIn(kPhases, s, "a phase");
}
Collective ParseCollective(const std::string& s) {
  return ParseIn(kCollectives, s, "a collective");
}
Algorithm ParseAlgorithm(const std::string& s) {
  return ParseIn(kAlgorithms, s, "an algorithm");
}
CommPrecision ParseCommPrecision(const std::string& s) {
  return ParseIn(kPrecisions, s, "a communication precision");
}
Role ParseRole(const std::string& s) {
  return ParseIn(kRoles, s, "a role");
}

int BytesPerElement(CommPrecision p) {
  return p == CommPrecision::kFP32 ? 4 : 2;
}

size_t Plan::num_tasks() const {
  size_t n = 0;
  for (const auto& r : ranks) n += r.tasks.size();
  return n;
}

// ---- JSON ----

const MemoryField kMemoryFields[6] = {
    {"weights_bytes", &Rank::memory_weights},     {"gradients_bytes", &Rank::memory_gradients},
    {"optimizer_bytes", &Rank::memory_optimizer}, {"activations_bytes", &Rank::memory_activations},
    {"buffers_bytes", &Rank::memory_buffers},     {"workspace_bytes", &Rank::memory_workspace}};

Json MemoryJson(const Rank& rank) {
  Json j = Json::object();
  for (const MemoryField& f : kMemoryFields) j[f.key] = rank.*f.bytes;
  return j;
}

namespace {

Json TaskToJson(const Task& t) {
  Json j = Json::object();
  j["id"] = t.id;
  j["kind"] = Name(t.kind);
  j["name"] = t.name;
  j["deps"] = t.deps;
  switch (t.kind) {
    case TaskKind::kCompute:
      j["phase"] = Name(t.phase);
      j["layer"] = t.layer;
      j["micro_batch"] = t.micro_batch;
      j["samples"] = t.samples;
      j["flops"] = t.flops;
      j["bytes"] = t.bytes;
      break;
    case TaskKind::kCollective:
      j["collective"] = Name(t.collective);
      j["algorithm"] = Name(t.algorithm);
      j["precision"] = Name(t.precision);
      j["group"] = t.group;
      j["collective_id"] = t.collective_id;
      j["comm_bytes"] = t.comm_bytes;
      j["micro_batch"] = t.micro_batch;
      break;
    case TaskKind::kSend:
    case TaskKind::kRecv:
      j["peer"] = t.peer;
      j["tag"] = t.tag;
      j["precision"] = Name(t.precision);
      j["comm_bytes"] = t.comm_bytes;
      j["micro_batch"] = t.micro_batch;
      break;
  }
  if (!t.layers.empty()) j["layers"] = t.layers;
  if (t.bucket >= 0) j["bucket"] = t.bucket;
  if (t.slice_elements > 0) {
    j["slice_offset"] = t.slice_offset;
    j["slice_elements"] = t.slice_elements;
  }
  return j;
}

template <typename F>
auto Located(const JsonObject& o, const char* key, F&& f) -> decltype(f(std::string())) {
  const std::string s = o.String(key);
  try {
    return f(s);
  } catch (const std::invalid_argument& e) {
    throw o.Error(key, e.what());
  }
}

Task TaskFromJson(const JsonObject& o) {
  Task t;
  t.kind = Located(o, "kind", ParseTaskKind);
  switch (t.kind) {
    case TaskKind::kCompute:
      o.CheckKeys({"id", "kind", "name", "deps", "phase", "layer", "layers", "micro_batch",
                   "samples", "flops", "bytes", "bucket", "slice_offset", "slice_elements"});
      break;
    case TaskKind::kCollective:
      o.CheckKeys({"id", "kind", "name", "deps", "collective", "algorithm", "precision", "group",
                   "collective_id", "comm_bytes", "micro_batch", "bucket", "layers"});
      break;
    case TaskKind::kSend:
    case TaskKind::kRecv:
      o.CheckKeys({"id", "kind", "name", "deps", "peer", "tag", "precision", "comm_bytes",
                   "micro_batch", "bucket", "layers", "slice_offset", "slice_elements"});
      break;
  }
  t.id = static_cast<int>(o.Int("id", 0, INT32_MAX));
  t.name = o.String("name", "");
  if (o.Has("deps"))
    for (int64_t d : o.IntArray("deps", INT32_MIN, INT32_MAX))
      t.deps.push_back(static_cast<int>(d));
  t.micro_batch = static_cast<int>(o.Int("micro_batch", 0, 0, INT32_MAX));
  t.bucket = static_cast<int>(o.Int("bucket", -1, -1, INT32_MAX));
  if (o.Has("layers"))
    for (int64_t l : o.IntArray("layers", 0, INT32_MAX)) t.layers.push_back(static_cast<int>(l));
  t.slice_offset = o.Int("slice_offset", 0, 0, INT64_MAX);
  t.slice_elements = o.Int("slice_elements", 0, 0, INT64_MAX);
  switch (t.kind) {
    case TaskKind::kCompute:
      t.phase = Located(o, "phase", ParsePhase);
      t.layer = static_cast<int>(o.Int("layer", -1, -1, INT32_MAX));
      t.samples = o.Int("samples", 0, 0, INT64_MAX);
      t.flops = o.Number("flops", 0.0);
      t.bytes = o.Number("bytes", 0.0);
      if (t.flops < 0) throw o.Error("flops", "must not be negative");
      if (t.bytes < 0) throw o.Error("bytes", "must not be negative");
      break;
    case TaskKind::kCollective:
      t.collective = Located(o, "collective", ParseCollective);
      t.algorithm = Located(o, "algorithm", ParseAlgorithm);
      t.precision =
          o.Has("precision") ? Located(o, "precision", ParseCommPrecision) : CommPrecision::kFP32;
      t.group = static_cast<int>(o.Int("group", INT32_MIN, INT32_MAX));
      t.collective_id = o.Int("collective_id");
      t.comm_bytes = o.Number("comm_bytes");
      if (t.comm_bytes < 0) throw o.Error("comm_bytes", "must not be negative");
      break;
    case TaskKind::kSend:
    case TaskKind::kRecv:
      t.peer = static_cast<int>(o.Int("peer", INT32_MIN, INT32_MAX));
      t.tag = o.Int("tag", 0, INT64_MIN, INT64_MAX);
      t.precision =
          o.Has("precision") ? Located(o, "precision", ParseCommPrecision) : CommPrecision::kFP32;
      t.comm_bytes = o.Number("comm_bytes");
      if (t.comm_bytes < 0) throw o.Error("comm_bytes", "must not be negative");
      break;
  }
  return t;
}

// "1e+308 bytes is more than ...": the value as JSON writes it, and the bound.
std::string TooLarge(double v, const std::string& unit, double bound) {
  const std::string limit =
      bound == kMaxTaskBytes ? "2^60 = 1152921504606846976" : Json(bound).dump();
  return Json(v).dump() + " " + unit + " is more than convscale accepts (at most " + limit + " " +
         unit + "; see docs/limits.md)";
}

// "layers [5] elements 0..512000": the parameters a message carries, for messages.
std::string Carried(const Task& t) {
  std::string s = "layers " + Json(t.layers).dump();
  if (t.slice_elements > 0)
    s += " elements " + std::to_string(t.slice_offset) + ".." +
         std::to_string(t.slice_offset + t.slice_elements);
  return s;
}

std::string T(int id) {
  return "t" + std::to_string(id);
}

std::string TaskPtr(int r, int t) {
  return "/ranks/" + std::to_string(r) + "/tasks/" + std::to_string(t);
}

}  // namespace

Json ToJson(const Plan& plan) {
  Json j = Json::object();
  Json ctx = Json::object();
  ctx["tool"] = "convscale";
  ctx["kind"] = "plan";
  ctx["version"] = plan.context.convscale_version;
  ctx["git_sha"] = plan.context.git_sha;
  ctx["schema_version"] = plan.context.schema_version;
  ctx["model"] = plan.context.model;
  ctx["cluster"] = plan.context.cluster;
  ctx["strategy"] = plan.context.strategy;
  ctx["options"] = plan.context.options;
  if (!plan.context.network.is_null()) ctx["network"] = plan.context.network;
  j["context"] = std::move(ctx);
  j["global_batch"] = plan.global_batch;
  j["precision"] = plan.precision;
  j["optimizer"] = plan.optimizer;
  j["async"] = plan.async;
  j["staleness_bound"] = plan.staleness_bound;
  j["cluster_endpoints"] = plan.cluster_endpoints;
  // Written only when a loss is modelled, so plans without one keep their bytes.
  if (plan.compute_factor != 1) j["compute_factor"] = plan.compute_factor;
  if (plan.iteration_overhead_s != 0) j["iteration_overhead_s"] = plan.iteration_overhead_s;
  Json groups = Json::array();
  for (const auto& g : plan.groups) groups.push_back(Json{{"ranks", g.ranks}});
  j["groups"] = std::move(groups);
  Json ranks = Json::array();
  for (size_t r = 0; r < plan.ranks.size(); ++r) {
    const Rank& rk = plan.ranks[r];
    Json jr = Json::object();
    jr["rank"] = r;
    jr["endpoint"] = rk.endpoint;
    jr["role"] = Name(rk.role);
    jr["stage"] = rk.stage;
    jr["replica"] = rk.replica;
    jr["memory"] = MemoryJson(rk);
    jr["memory"]["peak_bytes"] = rk.memory_peak();
    Json tasks = Json::array();
    for (const auto& t : rk.tasks) tasks.push_back(TaskToJson(t));
    jr["tasks"] = std::move(tasks);
    ranks.push_back(std::move(jr));
  }
  j["ranks"] = std::move(ranks);
  return j;
}

Plan FromJson(const Json& j, const std::string& file) {
  JsonObject root(j, file, "");
  // Another convscale output (a summary, a report) is named as such before its keys are
  // reported as unknown.
  if (root.Has("context") && root.Get("context").is_object()) {
    const JsonObject c = root.Object("context");
    if (c.Has("kind") && c.String("kind") != "plan")
      throw c.Error("kind", "\"" + c.String("kind") + "\" is not a plan (expected \"plan\")");
  }
  CheckDocumentKind(root.Raw(), root.File(), "plan");
  root.CheckKeys({"context", "global_batch", "precision", "optimizer", "async", "staleness_bound",
                  "cluster_endpoints", "compute_factor", "iteration_overhead_s", "groups",
                  "ranks"});
  Plan plan;
  JsonObject ctx = root.Object("context");
  ctx.CheckKeys({"tool", "kind", "version", "git_sha", "schema_version", "timestamp", "model",
                 "cluster", "strategy", "options", "network"});
  plan.context.schema_version = static_cast<int>(ctx.Int("schema_version"));
  if (plan.context.schema_version < kOldestSchemaVersion ||
      plan.context.schema_version > kSchemaVersion)
    throw ctx.Error("schema_version", "plan schema version " +
                                          std::to_string(plan.context.schema_version) +
                                          " is not supported (this convscale reads versions " +
                                          std::to_string(kOldestSchemaVersion) + " to " +
                                          std::to_string(kSchemaVersion) + ")");
  plan.context.convscale_version = ctx.String("version", "");
  plan.context.git_sha = ctx.String("git_sha", "");
  plan.context.model = ctx.String("model", "");
  plan.context.cluster = ctx.String("cluster", "");
  plan.context.strategy = ctx.String("strategy", "");
  if (ctx.Has("options")) plan.context.options = ctx.Object("options").Raw();
  if (ctx.Has("network")) {
    if (plan.context.schema_version < 2)
      throw ctx.Error("network", "appears in plan schema version 2; this plan says version " +
                                     std::to_string(plan.context.schema_version));
    plan.context.network = ctx.Object("network").Raw();
  }
  plan.global_batch = root.Int("global_batch", 0, 0, INT64_MAX);
  plan.precision = root.String("precision", "fp32");
  try {
    topo::ParsePrecision(plan.precision);
  } catch (const std::invalid_argument& e) {
    throw root.Error("precision", e.what());
  }
  plan.optimizer = root.String("optimizer", "sgd");
  if (plan.optimizer != "sgd" && plan.optimizer != "adam")
    throw root.Error("optimizer", "unknown optimizer \"" + plan.optimizer + "\" (sgd or adam)" +
                                      DidYouMean(plan.optimizer, {"sgd", "adam"}));
  plan.async = root.Bool("async", false);
  plan.staleness_bound = static_cast<int>(root.Int("staleness_bound", -1, -1, INT32_MAX));
  plan.cluster_endpoints = static_cast<int>(root.Int("cluster_endpoints", 0, 0, INT32_MAX));
  plan.compute_factor = root.Number("compute_factor", 1);
  if (!(plan.compute_factor >= 1 && std::isfinite(plan.compute_factor)))
    throw root.Error("compute_factor", "must be a finite number of at least 1 (a slow-down)");
  plan.iteration_overhead_s = root.Number("iteration_overhead_s", 0);
  if (!(plan.iteration_overhead_s >= 0 && std::isfinite(plan.iteration_overhead_s)))
    throw root.Error("iteration_overhead_s", "must be a finite number of seconds, 0 or more");
  if (root.Has("groups")) {
    auto groups = root.ObjectArray("groups");
    for (const auto& g : groups) {
      g.CheckKeys({"ranks"});
      Group grp;
      for (int64_t r : g.IntArray("ranks", INT32_MIN, INT32_MAX))
        grp.ranks.push_back(static_cast<int>(r));
      plan.groups.push_back(std::move(grp));
    }
  }
  auto ranks = root.ObjectArray("ranks");
  plan.ranks.reserve(ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r) {
    const JsonObject& o = ranks[r];
    o.CheckKeys({"rank", "endpoint", "role", "stage", "replica", "memory", "tasks"});
    if (o.Has("rank") && o.Int("rank") != static_cast<int64_t>(r))
      throw o.Error("rank", "rank " + std::to_string(o.Int("rank")) +
                                " does not match its position " + std::to_string(r));
    Rank rk;
    rk.endpoint = static_cast<int>(o.Int("endpoint", INT32_MIN, INT32_MAX));
    rk.role = o.Has("role") ? Located(o, "role", ParseRole) : Role::kWorker;
    rk.stage = static_cast<int>(o.Int("stage", -1, -1, INT32_MAX));
    rk.replica = static_cast<int>(o.Int("replica", -1, -1, INT32_MAX));
    if (o.Has("memory")) {
      JsonObject m = o.Object("memory");
      std::vector<std::string> keys;
      for (const MemoryField& f : kMemoryFields) keys.push_back(f.key);
      keys.push_back("peak_bytes");  // written for readers, ignored when read
      m.CheckKeys(keys);
      auto bytes = [&m](const char* key) {
        const double v = m.Number(key, 0.0);
        if (v < 0) {
          std::ostringstream os;
          os << v;
          throw m.Error(key, "must be a non-negative number of bytes, not " + os.str());
        }
        if (v > kMaxTaskBytes) throw m.Error(key, TooLarge(v, "bytes", kMaxTaskBytes));
        return v;
      };
      for (const MemoryField& f : kMemoryFields) rk.*f.bytes = bytes(f.key);
    }
    auto tasks = o.ObjectArray("tasks");
    rk.tasks.reserve(tasks.size());
    for (const auto& t : tasks) rk.tasks.push_back(TaskFromJson(t));
    plan.ranks.push_back(std::move(rk));
  }
  Validate(plan, file);
  return plan;
}

Plan LoadPlan(const std::string& path) {
  return FromJson(ReadJsonFile(path), path);
}

void SavePlan(const Plan& plan, const std::string& path) {
  WriteJsonAtomic(path, ToJson(plan));
}

// ---- Validation ----

namespace {

// Depth-first search for a dependency cycle in one rank; returns the cycle's task ids (first id
// repeated at the end) or an empty vector.
std::vector<int> FindCycle(const TaskList& tasks) {
  const int n = static_cast<int>(tasks.size());
  std::vector<char> color(n, 0);  // 0 new, 1 on the stack, 2 done
  std::vector<std::pair<int, size_t>> stack;
  for (int start = 0; start < n; ++start) {
    if (color[start]) continue;
    stack.push_back({start, 0});
    color[start] = 1;
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      if (next < tasks[v].deps.size()) {
        const int d = tasks[v].deps[next++];
        if (color[d] == 1) {
          std::vector<int> path;
          size_t i = 0;
          while (stack[i].first != d) ++i;
          for (; i < stack.size(); ++i) path.push_back(stack[i].first);
          path.push_back(d);
          return path;
        }
        if (color[d] == 0) {
          color[d] = 1;
          stack.push_back({d, 0});
        }
      } else {
        color[v] = 2;
        stack.pop_back();
      }
    }
  }
  return {};
}

}  // namespace

void Validate(const Plan& plan, const std::string& where) {
  auto fail = [&](const std::string& ptr, const std::string& what) {
    throw InputError(where, ptr, what);
  };
  const int nranks = static_cast<int>(plan.ranks.size());
  if (nranks == 0) fail("/ranks", "the plan has no ranks");
  const std::string nr = " (the plan has " + std::to_string(nranks) + " ranks)";

  // Groups: members in range and distinct.
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    const auto& members = plan.groups[g].ranks;
    if (members.empty()) fail("/groups/" + std::to_string(g) + "/ranks", "the group is empty");
    std::vector<char> seen(nranks, 0);
    for (size_t i = 0; i < members.size(); ++i) {
      const std::string ptr = "/groups/" + std::to_string(g) + "/ranks/" + std::to_string(i);
      const int r = members[i];
      if (r < 0 || r >= nranks) fail(ptr, "rank " + std::to_string(r) + " is out of range" + nr);
      if (seen[r]) fail(ptr, "rank " + std::to_string(r) + " appears twice in the group");
      seen[r] = 1;
    }
  }
  std::vector<std::vector<char>> member(plan.groups.size(), std::vector<char>(nranks, 0));
  for (size_t g = 0; g < plan.groups.size(); ++g)
    for (int r : plan.groups[g].ranks) member[g][r] = 1;

  // Per rank: endpoint, ids, dependencies, peers, groups.
  for (int r = 0; r < nranks; ++r) {
    const Rank& rk = plan.ranks[r];
    const std::string rp = "/ranks/" + std::to_string(r);
    if (rk.endpoint < 0 || (plan.cluster_endpoints > 0 && rk.endpoint >= plan.cluster_endpoints))
      fail(rp + "/endpoint",
           "endpoint " + std::to_string(rk.endpoint) + " is out of range" +
               (plan.cluster_endpoints > 0
                    ? " (the cluster has " + std::to_string(plan.cluster_endpoints) + " endpoints)"
                    : ""));
    const int n = static_cast<int>(rk.tasks.size());
    for (int i = 0; i < n; ++i) {
      const Task& t = rk.tasks[i];
      const std::string tp = TaskPtr(r, i);
      if (t.id != i)
        fail(tp + "/id", "task id " + std::to_string(t.id) + " does not match its position " +
                             std::to_string(i));
      for (size_t k = 0; k < t.deps.size(); ++k)
        if (t.deps[k] < 0 || t.deps[k] >= n)
          fail(tp + "/deps/" + std::to_string(k), "dependency " + T(t.deps[k]) +
                                                      " does not exist (rank " + std::to_string(r) +
                                                      " has " + std::to_string(n) + " tasks)");
      if (t.kind == TaskKind::kCompute) {
        if (t.flops > kMaxTaskFlops) fail(tp + "/flops", TooLarge(t.flops, "FLOPs", kMaxTaskFlops));
        if (t.bytes > kMaxTaskBytes) fail(tp + "/bytes", TooLarge(t.bytes, "bytes", kMaxTaskBytes));
      } else if (t.comm_bytes > kMaxTaskBytes) {
        fail(tp + "/comm_bytes", TooLarge(t.comm_bytes, "bytes", kMaxTaskBytes));
      }
      if (t.slice_elements > 0 && t.layers.size() != 1)
        fail(tp + "/layers", "a slice (slice_elements " + std::to_string(t.slice_elements) +
                                 ") is of one layer, and `layers` names " +
                                 std::to_string(t.layers.size()));
      if (t.slice_elements == 0 && t.slice_offset != 0)
        fail(tp + "/slice_offset", "slice_offset " + std::to_string(t.slice_offset) +
                                       " without slice_elements (a slice needs both)");
      if (t.slice_elements > 0 && t.slice_offset > INT64_MAX - t.slice_elements)
        fail(tp + "/slice_elements", "the slice ends beyond 2^63 - 1 elements");
      if (t.slice_elements > 0 && (t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv) &&
          t.comm_bytes != double(t.slice_elements) * BytesPerElement(t.precision))
        fail(tp + "/comm_bytes",
             Json(t.comm_bytes).dump() + " bytes, but the slice is " +
                 std::to_string(t.slice_elements) + " elements of " + Name(t.precision) + " (" +
                 Json(double(t.slice_elements) * BytesPerElement(t.precision)).dump() + " bytes)");
      if (t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv) {
        if (t.peer < 0 || t.peer >= nranks)
          fail(tp + "/peer", "peer rank " + std::to_string(t.peer) + " is out of range" + nr);
        if (t.peer == r) fail(tp + "/peer", "a rank cannot send to itself");
      }
      if (t.kind == TaskKind::kCollective) {
        if (t.group < 0 || t.group >= static_cast<int>(plan.groups.size()))
          fail(tp + "/group", "group " + std::to_string(t.group) +
                                  " does not exist (the plan has " +
                                  std::to_string(plan.groups.size()) + " groups)");
        if (!member[t.group][r])
          fail(tp + "/group", "rank " + std::to_string(r) + " is not a member of group " +
                                  std::to_string(t.group));
        if (t.collective_id < 0)
          fail(tp + "/collective_id", "a collective needs a collective_id >= 0");
      }
    }
    std::vector<int> cycle = FindCycle(rk.tasks);
    if (!cycle.empty()) {
      std::string path = "rank " + std::to_string(r) + ": ";
      for (size_t k = 0; k < cycle.size(); ++k) path += (k ? " -> " : "") + T(cycle[k]);
      fail(TaskPtr(r, cycle[0]) + "/deps", "dependency cycle " + path);
    }
  }

  // Point-to-point: every send matched by exactly one receive with the same (src, dst, tag).
  using Key = std::tuple<int, int, int64_t>;        // src, dst, tag
  std::map<Key, std::pair<int, int>> sends, recvs;  // -> (rank, task)
  for (int r = 0; r < nranks; ++r)
    for (const Task& t : plan.ranks[r].tasks) {
      if (t.kind != TaskKind::kSend && t.kind != TaskKind::kRecv) continue;
      const bool send = t.kind == TaskKind::kSend;
      Key k = send ? Key{r, t.peer, t.tag} : Key{t.peer, r, t.tag};
      auto& m = send ? sends : recvs;
      auto [it, fresh] = m.emplace(k, std::pair<int, int>{r, t.id});
      if (!fresh)
        fail(TaskPtr(r, t.id), std::string(send ? "send to" : "receive from") + " rank " +
                                   std::to_string(t.peer) + " with tag " + std::to_string(t.tag) +
                                   " is not unique (also " + T(it->second.second) + ")");
    }
  for (const auto& [k, at] : sends) {
    const Task& s = plan.ranks[at.first].tasks[at.second];
    auto it = recvs.find(k);
    if (it == recvs.end())
      fail(TaskPtr(at.first, at.second),
           "send to rank " + std::to_string(s.peer) + " with tag " + std::to_string(s.tag) +
               " (\"" + s.name + "\") has no matching receive on rank " + std::to_string(s.peer));
    const Task& rv = plan.ranks[it->second.first].tasks[it->second.second];
    if (rv.comm_bytes != s.comm_bytes)
      fail(TaskPtr(it->second.first, it->second.second) + "/comm_bytes",
           "receive of " + Json(rv.comm_bytes).dump() + " bytes does not match the send of " +
               Json(s.comm_bytes).dump() + " bytes (rank " + std::to_string(at.first) + " " +
               T(at.second) + ")");
    // Where both ends name their layers, they name the same layers and the same slice.
    if (!rv.layers.empty() && !s.layers.empty() &&
        (rv.layers != s.layers || rv.slice_offset != s.slice_offset ||
         rv.slice_elements != s.slice_elements))
      fail(TaskPtr(it->second.first, it->second.second) + "/layers",
           "receive of " + Carried(rv) + " does not match the send of " + Carried(s) + " (rank " +
               std::to_string(at.first) + " " + T(at.second) + ")");
  }
  for (const auto& [k, at] : recvs)
    if (!sends.count(k)) {
      const Task& rv = plan.ranks[at.first].tasks[at.second];
      fail(TaskPtr(at.first, at.second),
           "receive from rank " + std::to_string(rv.peer) + " with tag " + std::to_string(rv.tag) +
               " (\"" + rv.name + "\") has no matching send on rank " + std::to_string(rv.peer));
    }

  // Collectives: each id present exactly once on every member of its group, all agreeing.
  std::map<int64_t, std::vector<std::pair<int, int>>> calls;  // id -> (rank, task)
  for (int r = 0; r < nranks; ++r)
    for (const Task& t : plan.ranks[r].tasks)
      if (t.kind == TaskKind::kCollective) calls[t.collective_id].push_back({r, t.id});
  for (const auto& [id, at] : calls) {
    const auto [r0, t0] = at.front();
    const Task& first = plan.ranks[r0].tasks[t0];
    const std::string ref = " on rank " + std::to_string(r0) + " (" + T(t0) + ")";
    const std::string cid = "collective " + std::to_string(id);
    std::vector<int> where_on(nranks, -1);
    for (const auto& [r, ti] : at) {
      const Task& t = plan.ranks[r].tasks[ti];
      const std::string tp = TaskPtr(r, ti);
      if (where_on[r] >= 0)
        fail(tp + "/collective_id", cid + " appears twice on rank " + std::to_string(r) + " (" +
                                        T(where_on[r]) + " and " + T(ti) + ")");
      where_on[r] = ti;
      if (t.group != first.group)
        fail(tp + "/group", cid + " has group " + std::to_string(t.group) + " here but group " +
                                std::to_string(first.group) + ref);
      if (t.collective != first.collective)
        fail(tp + "/collective",
             cid + " is " + Name(t.collective) + " here but " + Name(first.collective) + ref);
      if (t.comm_bytes != first.comm_bytes)
        fail(tp + "/comm_bytes", cid + " has " + Json(t.comm_bytes).dump() + " bytes here but " +
                                     Json(first.comm_bytes).dump() + " bytes" + ref);
      if (t.algorithm != first.algorithm)
        fail(tp + "/algorithm",
             cid + " uses " + Name(t.algorithm) + " here but " + Name(first.algorithm) + ref);
    }
    for (int m : plan.groups[first.group].ranks)
      if (where_on[m] < 0)
        fail(TaskPtr(r0, t0) + "/collective_id",
             cid + " (\"" + first.name + "\") is missing on rank " + std::to_string(m) +
                 ", a member of group " + std::to_string(first.group));
  }

  // Waits across ranks. A send and its receive start together, once both are ready; a collective
  // starts once every member is ready. Ranks whose tasks wait on each other in a cycle through
  // such joints never start it: the plan deadlocks, whichever interpreter runs it. Each joint (a
  // matched send and receive, a collective's member tasks) is one node here, every dependency
  // an edge; what is left after peeling the nodes that can start is stuck.
  {
    std::vector<int64_t> offset(nranks + 1, 0);
    for (int r = 0; r < nranks; ++r) offset[r + 1] = offset[r] + plan.ranks[r].tasks.size();
    const int64_t n = offset[nranks];
    std::vector<int64_t> root(n);
    for (int64_t v = 0; v < n; ++v) root[v] = v;
    auto find = [&](int64_t v) {
      while (root[v] != v) v = root[v] = root[root[v]];
      return v;
    };
    auto join = [&](int64_t a, int64_t b) {
      a = find(a);
      b = find(b);
      if (a != b) root[std::max(a, b)] = std::min(a, b);
    };
    for (const auto& [k, at] : sends) {
      const auto& rv = recvs.at(k);
      join(offset[at.first] + at.second, offset[rv.first] + rv.second);
    }
    for (const auto& [id, at] : calls)
      for (const auto& [r, ti] : at)
        join(offset[at.front().first] + at.front().second, offset[r] + ti);
    // Edges between joints, CSR by source.
    std::vector<std::pair<int64_t, int64_t>> edges;
    for (int r = 0; r < nranks; ++r)
      for (const Task& t : plan.ranks[r].tasks)
        for (int d : t.deps) {
          const int64_t a = find(offset[r] + d), b = find(offset[r] + t.id);
          if (a != b) edges.push_back({a, b});
        }
    std::vector<int64_t> indeg(n, 0);
    std::vector<int64_t> begin(n + 1, 0);
    for (const auto& [a, b] : edges) {
      ++indeg[b];
      ++begin[a + 1];
    }
    for (int64_t v = 0; v < n; ++v) begin[v + 1] += begin[v];
    std::vector<int64_t> succ(edges.size()), cursor(begin.begin(), begin.end() - 1);
    for (const auto& [a, b] : edges) succ[cursor[a]++] = b;
    std::vector<int64_t> ready;
    for (int64_t v = 0; v < n; ++v)
      if (find(v) == v && indeg[v] == 0) ready.push_back(v);
    int64_t started = 0, joints = 0;
    for (int64_t v = 0; v < n; ++v) joints += find(v) == v;
    while (!ready.empty()) {
      const int64_t v = ready.back();
      ready.pop_back();
      ++started;
      for (int64_t k = begin[v]; k < begin[v + 1]; ++k)
        if (--indeg[succ[k]] == 0) ready.push_back(succ[k]);
    }
    if (started < joints) {
      // A cycle among the stuck joints: walk back along stuck predecessors until one repeats.
      std::vector<int64_t> pred(n, -1);
      for (const auto& [a, b] : edges)
        if (indeg[a] > 0 && indeg[b] > 0 && pred[b] < 0) pred[b] = a;
      int64_t v = -1;
      for (int64_t u = 0; u < n && v < 0; ++u)
        if (find(u) == u && indeg[u] > 0) v = u;
      std::vector<int64_t> seen(n, -1), path;
      while (seen[v] < 0) {
        seen[v] = static_cast<int64_t>(path.size());
        path.push_back(v);
        v = pred[v];
      }
      // Printed as the waits go, as a rank's dependency cycle is: "a -> b", a waits for b.
      path.erase(path.begin(), path.begin() + seen[v]);
      // A joint by what it is: a message between two ranks, a collective, or one rank's task.
      auto rank_of = [&](int64_t g) {
        return static_cast<int>(std::upper_bound(offset.begin(), offset.end(), g) -
                                offset.begin()) -
               1;
      };
      std::map<int64_t, std::string> joint_names;
      for (const auto& [k, at] : sends) {
        const auto& rv = recvs.at(k);
        const Task& t = plan.ranks[at.first].tasks[at.second];
        joint_names[find(offset[at.first] + at.second)] =
            "the message \"" + t.name + "\" (rank " + std::to_string(at.first) + " " +
            T(at.second) + " to rank " + std::to_string(rv.first) + " " + T(rv.second) + ")";
      }
      for (const auto& [id, at] : calls) {
        const Task& t = plan.ranks[at.front().first].tasks[at.front().second];
        joint_names[find(offset[at.front().first] + at.front().second)] =
            "collective " + std::to_string(id) + " (\"" + t.name + "\")";
      }
      auto name = [&](int64_t g) {
        auto it = joint_names.find(g);
        if (it != joint_names.end()) return it->second;
        const int r = rank_of(g);
        const Task& t = plan.ranks[r].tasks[g - offset[r]];
        return "rank " + std::to_string(r) + " " + T(t.id) + " (\"" + t.name + "\")";
      };
      // Runs of one rank's own tasks shown by their first and last.
      std::string cycle;
      path.push_back(path.front());
      for (size_t i = 0; i < path.size(); ++i) {
        const bool plain = !joint_names.count(path[i]);
        size_t j = i;
        while (plain && i + 1 < path.size() - 1 && j + 1 < path.size() - 1 &&
               !joint_names.count(path[j + 1]) && rank_of(path[j + 1]) == rank_of(path[i]))
          ++j;
        cycle += (cycle.empty() ? "" : " -> ") + name(path[i]);
        if (j > i) {
          const int r = rank_of(path[j]);
          const Task& t = plan.ranks[r].tasks[path[j] - offset[r]];
          cycle += " ... " + T(t.id) + " (\"" + t.name + "\")";
          i = j;
        }
      }
      const int64_t g0 = path.front();
      const int r0 = rank_of(g0);
      fail(TaskPtr(r0, static_cast<int>(g0 - offset[r0])),
           "the ranks wait for each other in a cycle, so the plan deadlocks (" +
               std::to_string(joints - started) + " of its " + std::to_string(joints) +
               " steps never start, a message or a collective being one step): " + cycle);
    }
  }
}

}  // namespace convscale::plan
