// execute --plan FILE --backend cpu [-o FILE] [--trace FILE] [--iterations N] [--warmup W]
//         [--data synthetic|fashion-mnist] [--epochs E] ...
// profile --backend cpu --model M --batch B [-o FILE]
//
// Both are started once per rank by `mpirun -np N` (or srun); rank 0 writes the outputs. MPI
// starts only in exec::Launch. Docs: docs/executor.md.
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "execute/backend.h"
#include "execute/data.h"
#include "execute/measured.h"
#include "execute/runtime.h"
#include "model/graph/model_json.h"
#include "model/graph/zoo.h"
#include "model/plan/plan.h"
#include "model/util/context.h"
#include "model/util/error.h"
#include "model/util/units.h"
#include "topologies/cluster.h"
#ifdef CONVSCALE_HAVE_CPU_BACKEND
#include "execute/cpu/onednn_backend.h"
#ifdef CONVSCALE_HAVE_CUDA_BACKEND
#include "execute/cuda/cuda_backend.h"
#endif
#include "execute/launch.h"
#endif

namespace convscale::cli {
namespace {

struct ExecuteArgs {
  std::string plan, backend = "cpu", output, trace, data = "synthetic", data_dir, dump_weights;
  std::string profile;  // run the kernels this profile measured (ComputeBackend::Choices)
  int iterations = 10, warmup = 2, epochs = 0, threads = 0;
  uint64_t seed = 1;
  double lr = 0.01, momentum = 0.9, peer_timeout_s = 30;
  bool mpi_collectives = false;
  int kill_rank = -1, kill_after = 1;
};

struct ProfileArgs {
  std::string backend = "cpu", model, output, precision = "fp32";
  int64_t batch = 32;
  int iterations = 10, warmup = 2, threads = 0;
  std::string sizes = "4KiB,64KiB,1MiB,4MiB,16MiB,64MiB";
  double peer_timeout_s = 30;
  bool scale_to_iteration = false;
};

#ifdef CONVSCALE_HAVE_CPU_BACKEND

// The implementation choices per layer a profile recorded (its layers' "choices"), checked to
// come from the backend that will use them.
std::map<std::string, std::map<std::string, int>> RecordedChoices(const std::string& file,
                                                                  const std::string& backend) {
  const Json j = ReadJsonFile(file);
  const JsonObject root(j, file, "");
  const JsonObject context = root.Object("context");
  const std::string made_by = context.String("backend", "");
  if (made_by != backend)
    throw InputError(file + ": /context/backend: the profile was measured with \"" + made_by +
                     "\", this run uses \"" + backend + "\"; its kernel choices do not apply");
  std::map<std::string, std::map<std::string, int>> out;
  const Json& layers = j.contains("layers") ? j["layers"] : Json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string where = "/layers/" + std::to_string(i);
    const JsonObject l(layers[i], file, where);
    if (!layers[i].contains("choices")) continue;
    const JsonObject c = l.Object("choices");
    std::map<std::string, int>& m = out[l.String("name")];
    for (const auto& [k, v] : layers[i]["choices"].items())
      m[k] = static_cast<int>(c.Int(k.c_str(), INT32_MIN, INT32_MAX));
  }
  return out;
}

std::unique_ptr<exec::ComputeBackend> MakeBackend(const std::string& name) {
  if (name == "cpu") return exec::cpu::MakeOneDnnBackend();
#ifdef CONVSCALE_HAVE_CUDA_BACKEND
  if (name == "cuda") return cuda::MakeCudaBackend();
  const std::vector<std::string> built = {"cpu", "cuda"};
#else
  const std::vector<std::string> built = {"cpu"};
#endif
  std::string list;
  for (const auto& b : built) list += (list.empty() ? "" : ", ") + b;
  throw InputError("--backend: \"" + name + "\" is not available in this build" +
                   DidYouMean(name, built) + " (built: " + list + ")");
}

// The CPU backend computes in fp32 only; refused before MPI starts, so the message is the only
// output. `what` names where the precision came from.
void CheckPrecision(const std::string& backend, const std::string& precision,
                    const std::string& what) {
  if (backend == "cpu" && precision != "fp32")
    throw InputError(what + " is " + precision +
                     "; the cpu backend computes in fp32 only (plan with --precision fp32, or run "
                     "on GPUs with --backend cuda)");
}

// The communicator for a backend: NCCL for device buffers, MPI for host buffers. `algorithm` is
// the plan's collective algorithm (NCCL is told through NCCL_ALGO before it starts).
std::unique_ptr<exec::Communicator> MakeComm(const std::string& backend, exec::Launch& launch,
                                             plan::Algorithm algorithm) {
#ifdef CONVSCALE_HAVE_CUDA_BACKEND
  if (backend == "cuda") return cuda::MakeNcclCommunicator(-1, cuda::NcclAlgoFor(algorithm));
#endif
  (void)backend;
  (void)algorithm;
  return launch.MakeCommunicator();
}

// Writes this rank's parameters: for each layer with parameters, "name count\n" then `count`
// little-endian fp32 values. Used by the correctness tests.
void DumpWeights(const std::string& dir, int rank, const graph::Network& net,
                 exec::ComputeBackend& backend, const std::vector<int>& layers) {
  std::string out;
  for (int l : layers) {
    exec::Buffer b = backend.Parameters(l);
    if (b.empty()) continue;
    out += net.layer(l).name + " " + std::to_string(b.bytes / 4) + "\n";
    out.append(static_cast<const char*>(b.data), b.bytes);
  }
  WriteFileAtomic(dir + "/rank" + std::to_string(rank) + ".weights", out);
}

// Each rank's node in the plan's cluster (for hierarchical collectives); every rank its own node
// when the cluster cannot be loaded.
std::vector<int> NodesOf(const plan::Plan& plan) {
  std::vector<int> nodes;
  try {
    topo::ClusterOptions o;
    const Json& opt = plan.context.options;
    if (opt.contains("gpus") && opt["gpus"].is_number_integer()) o.gpus = opt["gpus"].get<int>();
    if (opt.contains("nodes") && opt["nodes"].is_number_integer())
      o.nodes = opt["nodes"].get<int>();
    auto cluster = topo::LoadCluster(plan.context.cluster, o);
    for (const plan::Rank& r : plan.ranks) {
      const int n = r.endpoint < cluster->num_endpoints() ? cluster->endpoint(r.endpoint).node : -1;
      nodes.push_back(n >= 0 ? n : 100000 + int(nodes.size()));
    }
  } catch (const std::exception&) {
    nodes.clear();
  }
  return nodes;
}

// Test-set loss and accuracy on a rank that holds every layer (forward only, micro-batch 0).
std::pair<double, double> Evaluate(exec::ComputeBackend& backend, const graph::Network& net,
                                   const std::vector<int>& owned, exec::DataSource& test,
                                   int64_t mb) {
  std::vector<float> images(size_t(mb * net.input_shape().elements()));
  std::vector<int32_t> labels(static_cast<size_t>(mb));
  double loss = 0;
  int64_t correct = 0, seen = 0;
  for (int64_t first = 0; first + mb <= test.size(); first += mb) {
    test.Fill(first, mb, images.data(), labels.data());
    backend.SetInput(0, images.data(), labels.data(), mb);
    for (int l : owned) backend.Forward(l, 0);
    loss += backend.Loss(0) * double(mb);
    correct += backend.Correct(0);
    seen += mb;
  }
  return {seen ? loss / double(seen) : 0, seen ? double(correct) / double(seen) : 0};
}

// The network a plan trains: the layer graph it carries (a model from a file), else the zoo model
// it names.
graph::Network NetworkOfPlan(const plan::Plan& p, const std::string& file) {
  if (p.context.network.is_null()) return graph::LoadModel(p.context.model, p.global_batch);
  const std::string where = file + ": /context/network";
  graph::Network net = graph::ModelFromJson(p.context.network, where);
  net.Infer(p.global_batch, where);
  return net;
}

int RunExecute(const ExecuteArgs& a) {
  if (a.iterations < 1) throw InputError("--iterations must be at least 1");
  if (a.warmup < 0) throw InputError("--warmup must not be negative");
  if (a.data != "synthetic" && a.data != "fashion-mnist")
    throw InputError("--data: \"" + a.data + "\" is not one of synthetic, fashion-mnist" +
                     DidYouMean(a.data, {"synthetic", "fashion-mnist"}));
  const plan::Plan plan = plan::LoadPlan(a.plan);
  plan::Validate(plan, a.plan);
  graph::Network net = NetworkOfPlan(plan, a.plan);
  CheckPrecision(a.backend, plan.precision, a.plan + ": the plan's precision");
  auto backend = MakeBackend(a.backend);
  const auto choices = a.profile.empty() ? std::map<std::string, std::map<std::string, int>>{}
                                         : RecordedChoices(a.profile, backend->name());

  exec::LaunchOptions lo;
  lo.library_collectives = a.mpi_collectives;
  lo.peer_timeout_s = a.peer_timeout_s;
  for (const plan::Rank& r : plan.ranks)
    for (const plan::Task& t : r.tasks)
      if (t.kind == plan::TaskKind::kCollective && lo.forced_algorithm.empty())
        lo.forced_algorithm = plan::Name(t.algorithm);
  plan::Algorithm algorithm = plan::Algorithm::kRing;
  for (const plan::Rank& r : plan.ranks)
    for (const plan::Task& t : r.tasks)
      if (t.kind == plan::TaskKind::kCollective) algorithm = t.algorithm;
  exec::Launch launch(lo);
  try {
    auto comm = MakeComm(a.backend, launch, algorithm);
    const int rank = comm->rank();
    std::unique_ptr<exec::DataSource> train, test;
    if (a.data == "fashion-mnist") {
      const std::string dir = a.data_dir.empty() ? exec::DefaultFashionMnistDir() : a.data_dir;
      if (net.input_shape() != graph::Shape{1, 28, 28} || net.num_classes() != 10)
        throw InputError("--data fashion-mnist needs a model with 1x28x28 input and 10 classes; " +
                         net.name() + " takes " + graph::ToString(net.input_shape()));
      train = exec::LoadFashionMnist(dir, "train");
      test = exec::LoadFashionMnist(dir, "t10k");
    } else {
      train = exec::MakeSyntheticData(net.input_shape(), net.num_classes(), a.seed);
    }
    exec::OptimizerConfig opt;
    opt.learning_rate = a.lr;
    opt.momentum = a.momentum;
    exec::RuntimeOptions ro;
    ro.peer_timeout_s = a.peer_timeout_s;
    ro.choices = choices;
    ro.threads = a.threads;
    ro.node_of_rank = NodesOf(plan);
    exec::Runtime runtime(plan, net, *backend, *comm, opt, a.seed, ro);

    int total = a.warmup + a.iterations;
    int per_epoch = 0;
    if (a.epochs > 0) {
      per_epoch = int(train->size() / plan.global_batch);
      if (per_epoch < 1) throw InputError("--epochs: the global batch exceeds the data set");
      total = a.epochs * per_epoch;
    }
    const bool whole_model = runtime.owned_layers().size() + 1 >= net.size();
    exec::RankRecord record;
    record.rank = rank;
    record.host = launch.host();
    exec::RunInfo info;
    info.backend = backend->name();
    info.device = backend->device_description();
    info.communicator = comm->method();
    info.data = train->name();
    info.warmup = a.epochs > 0 ? 0 : a.warmup;
    info.node_of_rank = ro.node_of_rank;
    Json epochs = Json::array();
    for (int i = 0; i < total; ++i) {
      if (i == a.kill_after && rank == a.kill_rank) {
        std::fprintf(stderr, "convscale: rank %d: killing itself (--kill-rank)\n", rank);
        std::fflush(stderr);
        raise(SIGKILL);
      }
      record.iterations.push_back(runtime.RunIteration(i, *train));
      if (per_epoch > 0 && (i + 1) % per_epoch == 0) {
        // Training loss of the epoch (mean over its iterations), test metrics from a rank that
        // holds the whole model.
        double l = 0;
        int n = 0;
        for (int k = i + 1 - per_epoch; k <= i; ++k)
          if (!std::isnan(record.iterations[size_t(k)].loss)) {
            l += record.iterations[size_t(k)].loss;
            ++n;
          }
        std::vector<double> mine = {n ? l / n : -1.0, -1.0, -1.0};
        if (whole_model && test) {
          auto [tl, acc] =
              Evaluate(*backend, net, runtime.owned_layers(), *test, runtime.micro_batch());
          mine[1] = tl;
          mine[2] = acc;
        }
        const std::vector<double> all = comm->AllGatherDoubles(mine);
        double train_loss = -1, test_loss = -1, accuracy = -1;
        for (int r = 0; r < comm->size(); ++r) {
          if (train_loss < 0 && all[size_t(3 * r)] >= 0) train_loss = all[size_t(3 * r)];
          if (accuracy < 0 && all[size_t(3 * r + 2)] >= 0) {
            test_loss = all[size_t(3 * r + 1)];
            accuracy = all[size_t(3 * r + 2)];
          }
        }
        const int epoch = (i + 1) / per_epoch;
        Json e = {{"epoch", epoch}, {"train_loss", train_loss}};
        e["test_loss"] = test_loss >= 0 ? Json(test_loss) : Json(nullptr);
        e["test_accuracy"] = accuracy >= 0 ? Json(accuracy) : Json(nullptr);
        epochs.push_back(e);
        if (rank == 0) {
          std::printf("epoch %d  train loss %.4f", epoch, train_loss);
          if (accuracy >= 0)
            std::printf("  test loss %.4f  test accuracy %.2f%%", test_loss, 100 * accuracy);
          std::printf("\n");
          std::fflush(stdout);
        }
      }
    }
    comm->Barrier();
    record.memory_peak_bytes = backend->PeakMemoryBytes();
    record.memory_bytes = backend->MemoryBytes();
    record.memory_process_bytes = backend->ProcessMemoryBytes();
    if (!a.dump_weights.empty())
      DumpWeights(a.dump_weights, rank, net, *backend, [&] {
        std::vector<int> all;
        for (size_t v = 0; v < net.size(); ++v) all.push_back(int(v));
        return all;
      }());

    std::vector<double> unc = comm->AllGatherDoubles({comm->clock_uncertainty_s()});
    for (double u : unc) info.clock_uncertainty_s = std::max(info.clock_uncertainty_s, u);
    const std::vector<std::string> records = comm->GatherStrings(exec::ToJson(record).dump());
    if (rank == 0) {
      std::vector<exec::RankRecord> ranks;
      for (const std::string& s : records)
        ranks.push_back(exec::RankRecordFromJson(Json::parse(s)));
      if (!epochs.empty()) info.extra["epochs"] = epochs;
      info.trace_file = a.trace;
      const Json summary = exec::BuildMeasuredSummary(plan, ranks, info);
      // The trace and the summary are written all or nothing.
      OutputFiles outputs;
      if (!a.trace.empty()) outputs.push_back({a.trace, exec::BuildChromeTrace(plan, ranks, info)});
      if (!a.output.empty()) outputs.push_back({a.output, summary.dump(2) + "\n"});
      EmitAll(outputs);
      if (a.output.empty()) {
        const Json& it = summary["iterations"];
        std::printf("# %s on %d ranks, %s; %s\n", plan.context.strategy.c_str(),
                    int(plan.ranks.size()), info.device.c_str(), info.communicator.c_str());
        std::printf(
            "iteration time  %.6f s median (min %.6f, max %.6f, stddev %.6f; %d "
            "measured after %d warm-up)\n",
            it["median_s"].get<double>(), it["min_s"].get<double>(), it["max_s"].get<double>(),
            it["stddev_s"].get<double>(), it["measured"].get<int>(), it["warmup"].get<int>());
        std::printf("throughput      %.1f samples/s\n",
                    summary["throughput_samples_per_s"].get<double>());
        std::printf(
            "compute         %.6f s   communication %.6f s   exposed %.6f s   bubble "
            "%.6f s\n",
            summary["compute_time_s"].get<double>(), summary["comm_time_s"].get<double>(),
            summary["exposed_comm_time_s"].get<double>(), summary["bubble_time_s"].get<double>());
        double predicted = 0;
        for (const Json& r : summary["ranks"])
          predicted = std::max(predicted, r["memory_predicted_bytes"].get<double>());
        std::printf(
            "peak memory     %s reserved by the backend (max over ranks); memory model %s\n",
            units::FormatBytes(summary["memory_peak_bytes"].get<double>()).c_str(),
            units::FormatBytes(predicted).c_str());
      }
    }
    comm->Barrier();
    return 0;
  } catch (const std::exception& e) {
    // Abort the whole job so no rank waits for this one; main prints the message.
    std::cerr << "convscale: rank " << launch.rank() << ": " << e.what() << "\n";
    launch.Fail(dynamic_cast<const InputError*>(&e) ? 2 : 1);
    throw;
  }
}

// Per-layer forward / backward times on one rank, and a point-to-point + all-reduce sweep over
// all ranks (when started with 2 or more) fitting latency and bandwidth.
int RunProfile(const ProfileArgs& a) {
  graph::Network net = graph::LoadModel(a.model, a.batch);
  const std::vector<std::string> precisions = {"fp32", "tf32", "fp16", "bf16"};
  if (std::find(precisions.begin(), precisions.end(), a.precision) == precisions.end())
    throw InputError("--precision: \"" + a.precision +
                     "\" is not a compute precision (fp32, tf32, fp16, bf16)" +
                     DidYouMean(a.precision, precisions));
  CheckPrecision(a.backend, a.precision, "--precision");
  // The activations kept for the backward pass, with the input batch and the weights, are held
  // at once: a batch whose share alone exceeds this machine's memory is refused before anything
  // is allocated (it ended in std::bad_alloc or the kernel's OOM killer).
  const graph::NetworkTotals totals = net.Totals();
  const double need = totals.saved_bytes + totals.weight_bytes +
                      double(a.batch) * double(net.input_shape().elements()) * 4;
  const double have = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGESIZE));
  if (have > 0 && need > have)
    throw InputError("--batch " + std::to_string(a.batch) + ": " + net.name() + " needs at least " +
                     units::FormatMemory(need) +
                     " at this batch (its input, weights and the activations kept for the "
                     "backward pass), more than this machine's memory (" +
                     units::FormatMemory(have) + "); use a smaller --batch");
  auto backend = MakeBackend(a.backend);
  std::vector<double> sizes;
  {
    std::stringstream ss(a.sizes);
    std::string item;
    while (std::getline(ss, item, ',')) {
      double bytes = 0;
      try {
        bytes = units::ParseBytes(item);
      } catch (const std::invalid_argument& e) {
        throw InputError("--sizes " + a.sizes + ": " + e.what());
      }
      // Each size is one buffer on every rank, and the ranks may share this machine.
      if (!(bytes >= 1) || (have > 0 && bytes > have / 4))
        throw InputError("--sizes " + a.sizes + ": a message of \"" + item +
                         "\" must be at least 1 byte and at most a quarter of this machine's "
                         "memory (" +
                         units::FormatMemory(have / 4) + ")");
      sizes.push_back(bytes);
    }
  }
  exec::LaunchOptions lo;
  lo.peer_timeout_s = a.peer_timeout_s;
  exec::Launch launch(lo);
  try {
    auto comm = MakeComm(a.backend, launch, plan::Algorithm::kRing);
    const int rank = comm->rank(), size = comm->size();
    std::vector<int> all;
    for (size_t v = 0; v < net.size(); ++v) all.push_back(int(v));
    exec::BackendConfig cfg;
    cfg.micro_batch = a.batch;
    cfg.precision = a.precision;
    cfg.threads = a.threads;
    backend->Setup(net, all, cfg);
    auto data = exec::MakeSyntheticData(net.input_shape(), net.num_classes(), 1);
    std::vector<float> images(size_t(a.batch * net.input_shape().elements()));
    std::vector<int32_t> labels(size_t(a.batch));
    data->Fill(0, a.batch, images.data(), labels.data());
    backend->SetInput(0, images.data(), labels.data(), a.batch);
    backend->SetGradientScale(1.0 / double(a.batch));
    auto now = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
    // Each call is timed the way `execute` times tasks: a backend that queues work (CUDA) keeps
    // its stream full while the host runs ahead, brackets each call with device events
    // (BeginTask/EndTask) and reports the times after the iteration's Synchronize(); a
    // synchronous backend (CPU) is timed by host clocks around the call.
    const int n = int(net.size());
    auto key = [n](int v, int phase) { return phase * n + v; };  // phase 0 fwd, 1 bd, 2 bw
    const int update_key = 3 * n;
    std::vector<double> host_s(size_t(3 * n + 1), 0.0);
    auto timed = [&](int k, auto&& call) {
      const double t0 = now();
      backend->BeginTask(k);
      call();
      backend->EndTask(k);
      host_s[size_t(k)] = now() - t0;
    };
    std::vector<std::vector<double>> fwd(net.size()), bd(net.size()), bw(net.size());
    std::vector<double> upd, whole;
    for (int i = 0; i < a.warmup + a.iterations; ++i) {
      std::fill(host_s.begin(), host_s.end(), 0.0);
      const double start = now();
      for (int v = 1; v < n; ++v) timed(key(v, 0), [&] { backend->Forward(v, 0); });
      for (int v = n - 1; v >= 1; --v) {
        timed(key(v, 1), [&] { backend->BackwardData(v, 0); });
        timed(key(v, 2), [&] { backend->BackwardWeight(v, 0); });
      }
      timed(update_key, [&] { backend->Update(all); });
      backend->Synchronize();
      const double iteration_s = now() - start;
      std::vector<double> t = host_s;
      for (const auto& d : backend->TaskTimes(now())) t[size_t(d.task)] = d.end_s - d.start_s;
      if (i < a.warmup) continue;
      for (int v = 1; v < n; ++v) {
        fwd[size_t(v)].push_back(t[size_t(key(v, 0))]);
        bd[size_t(v)].push_back(t[size_t(key(v, 1))]);
        bw[size_t(v)].push_back(t[size_t(key(v, 2))]);
      }
      upd.push_back(t[size_t(update_key)]);
      whole.push_back(iteration_s);
    }
    // A task's median is its time when the rank runs throughout, which a layer shorter than a
    // scheduling period usually does even when the rank runs only part of the time (a CPU quota
    // throttles it for whole periods, other work preempts it): the medians then add up to less
    // than an iteration takes. --scale-to-iteration multiplies every median by the ratio of the
    // whole iteration's median to the medians' sum, spreading the time the rank did not run over
    // the tasks in proportion to their own.
    const double update_median = exec::Summarise(upd).median;
    const double iteration_median = exec::Summarise(whole).median;
    double sum = update_median;
    for (size_t v = 1; v < net.size(); ++v)
      sum += exec::Summarise(fwd[v]).median + exec::Summarise(bd[v]).median +
             exec::Summarise(bw[v]).median;
    const double scale = a.scale_to_iteration && sum > 0 ? iteration_median / sum : 1.0;
    Json layers = Json::array();
    for (size_t v = 1; v < net.size(); ++v) {
      const graph::Layer& L = net.layer(int(v));
      layers.push_back({{"name", L.name},
                        {"type", std::string(graph::LayerTypeName(L.type))},
                        {"forward_s", scale * exec::Summarise(fwd[v]).median},
                        {"backward_data_s", scale * exec::Summarise(bd[v]).median},
                        {"backward_weight_s", scale * exec::Summarise(bw[v]).median}});
      // The kernels these times belong to, for `execute --profile` (cuDNN: the algorithms).
      const std::map<std::string, int> choices = backend->Choices(int(v));
      if (!choices.empty()) layers.back()["choices"] = choices;
    }

    // Communication sweep: ping-pong between ranks 0 and 1 (one-way time = round trip / 2) and
    // ring all-reduce over all ranks, median of `iterations` after `warmup`.
    Json p2p = Json::array(), allreduce = Json::array();
    double latency = 0, bandwidth = 0;
    if (size >= 2) {
      std::vector<double> xs, ys;
      for (double s : sizes) {
        exec::Buffer b = backend->Allocate(size_t(s));
        std::vector<double> times;
        for (int i = 0; i < a.warmup + a.iterations; ++i) {
          comm->Barrier();
          const double t0 = now();
          if (rank == 0) {
            exec::Request r = comm->Send(b, 1, 11);
            comm->Wait(r);
            r = comm->Recv(b, 1, 12);
            comm->Wait(r);
          } else if (rank == 1) {
            exec::Request r = comm->Recv(b, 0, 11);
            comm->Wait(r);
            r = comm->Send(b, 0, 12);
            comm->Wait(r);
          }
          if (i >= a.warmup) times.push_back((now() - t0) / 2);
        }
        const double t = comm->AllGatherDoubles({exec::Summarise(times).median})[0];
        p2p.push_back({{"bytes", s}, {"time_s", t}});
        xs.push_back(s);
        ys.push_back(t);
        exec::CommGroup g;
        for (int r = 0; r < size; ++r) g.ranks.push_back(r);
        g.index = 0;
        times.clear();
        for (int i = 0; i < a.warmup + a.iterations; ++i) {
          comm->Barrier();
          const double t0 = now();
          comm->Collective(plan::Collective::kAllReduce, plan::Algorithm::kRing, b,
                           exec::DataType::kF32, g, 0, i);
          if (i >= a.warmup) times.push_back(now() - t0);
        }
        std::vector<double> per_rank = comm->AllGatherDoubles({exec::Summarise(times).median});
        allreduce.push_back({{"bytes", s},
                             {"algorithm", "ring"},
                             {"ranks", size},
                             {"time_s", *std::max_element(per_rank.begin(), per_rank.end())}});
      }
      // Least-squares fit time = latency + bytes / bandwidth.
      const double n = double(xs.size());
      double sx = 0, sy = 0, sxx = 0, sxy = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        sx += xs[i];
        sy += ys[i];
        sxx += xs[i] * xs[i];
        sxy += xs[i] * ys[i];
      }
      const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
      latency = std::max(0.0, (sy - slope * sx) / n);
      bandwidth = slope > 0 ? 1 / slope : 0;
    }
    if (rank == 0) {
      Json j;
      j["context"] = MakeContext("profile", 1);
      j["context"]["backend"] = backend->name();
      j["context"]["device"] = backend->device_description();
      j["context"]["ranks"] = size;
      j["context"]["host"] = launch.host();
      j["measured"] = true;
      j["model"] = net.name();
      j["device"] = backend->device_description();
      j["precision"] = a.precision;
      j["batch"] = a.batch;
      j["params"] = net.Totals().params;
      j["layers"] = layers;
      j["update_s"] = scale * update_median;
      j["iteration"] = {
          {"median_s", iteration_median}, {"tasks_median_sum_s", sum}, {"layer_time_scale", scale}};
      if (size >= 2) {
        j["network"] = {{"latency_s", latency},
                        {"bandwidth_Bps", bandwidth},
                        {"p2p", p2p},
                        {"allreduce", allreduce}};
      }
      Emit(a.output, j.dump(2) + "\n");
    }
    comm->Barrier();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "convscale: rank " << launch.rank() << ": " << e.what() << "\n";
    launch.Fail(dynamic_cast<const InputError*>(&e) ? 2 : 1);
    throw;
  }
}

#else

int RunExecute(const ExecuteArgs&) {
  throw InputError("this build has no executor backend (MPI and oneDNN were not found)");
}
int RunProfile(const ProfileArgs&) {
  throw InputError("this build has no executor backend (MPI and oneDNN were not found)");
}

#endif

}  // namespace

void AddExecuteCommands(CLI::App& app, Action& action) {
  auto ea = std::make_shared<ExecuteArgs>();
  CLI::App* e = app.add_subcommand(
      "execute", "Run a plan for real, one process per rank (mpirun -np N convscale execute ...)");
  e->add_option("--plan", ea->plan, "Plan JSON (convscale plan ... -o plan.json)")->required();
  e->add_option("--backend", ea->backend, "Compute backend: cpu")->capture_default_str();
  e->add_option("-o,--output", ea->output, "Measured summary JSON (default: a table on stdout)");
  e->add_option("--trace", ea->trace, "Chrome trace JSON of the measured iterations");
  e->add_option("--profile", ea->profile,
                "Profile JSON (convscale profile, same backend): run the kernels it measured");
  e->add_option("--iterations", ea->iterations, "Measured iterations")->capture_default_str();
  e->add_option("--warmup", ea->warmup, "Warm-up iterations, not measured")->capture_default_str();
  e->add_option("--data", ea->data, "synthetic or fashion-mnist")->capture_default_str();
  e->add_option("--data-dir", ea->data_dir, "Folder of the Fashion-MNIST .gz files");
  e->add_option("--epochs", ea->epochs, "Train this many epochs (replaces --iterations)");
  e->add_option("--seed", ea->seed, "Seed of parameters and synthetic data")->capture_default_str();
  e->add_option("--lr", ea->lr, "Learning rate")->capture_default_str();
  e->add_option("--momentum", ea->momentum, "SGD momentum")->capture_default_str();
  e->add_option("--threads", ea->threads,
                "Compute threads per rank (0: OMP_NUM_THREADS, else one per CPU the rank may use)");
  e->add_flag("--mpi-collectives", ea->mpi_collectives,
              "Run collectives with the MPI library forced to the plan's algorithm (coll_tuned) "
              "instead of the plan's point-to-point schedule");
  e->add_option("--peer-timeout", ea->peer_timeout_s,
                "Seconds to wait for a peer before reporting it lost")
      ->capture_default_str();
  e->add_option("--dump-weights", ea->dump_weights,
                "Folder to write each rank's final parameters to (rankR.weights)");
  e->add_option("--kill-rank", ea->kill_rank, "Fault injection: this rank kills itself ...");
  e->add_option("--kill-after", ea->kill_after, "... before this iteration")->capture_default_str();
  e->callback([ea, &action] { action = [ea] { return RunExecute(*ea); }; });

  auto pa = std::make_shared<ProfileArgs>();
  CLI::App* p = app.add_subcommand(
      "profile", "Measure per-layer times and link latency/bandwidth (mpirun -np 2 for links)");
  p->add_option("--backend", pa->backend, "Compute backend: cpu, cuda")->capture_default_str();
  p->add_option("--model", pa->model, "Zoo model or model file")->required();
  p->add_option("--batch", pa->batch, "Batch size of the layer timings")->capture_default_str();
  p->add_option("--precision", pa->precision, "Compute precision: fp32, tf32, fp16, bf16")
      ->capture_default_str();
  p->add_option("-o,--output", pa->output, "Profile JSON (default: stdout)");
  p->add_option("--iterations", pa->iterations, "Measured repetitions")->capture_default_str();
  p->add_option("--warmup", pa->warmup, "Warm-up repetitions")->capture_default_str();
  p->add_option("--threads", pa->threads,
                "Compute threads (0: OMP_NUM_THREADS, else one per CPU the process may use)");
  p->add_option("--sizes", pa->sizes, "Message sizes of the communication sweep")
      ->capture_default_str();
  p->add_option("--peer-timeout", pa->peer_timeout_s, "Seconds to wait for a peer")
      ->capture_default_str();
  p->add_flag("--scale-to-iteration", pa->scale_to_iteration,
              "Scale every task's median so that they add up to the median of a whole iteration "
              "(a rank that runs only part of the time: a CPU quota, a shared core)");
  p->callback([pa, &action] { action = [pa] { return RunProfile(*pa); }; });
}

}  // namespace convscale::cli
