// sweep --model M --cluster C [--strategies dp,ps,mp,hybrid] --gpus 1,2,4,...,64
//       [--vary KEY=VALUE]... [strategy options as for plan] [--iterations N] [--warmup W]
//       [--collectives exact|coarse|auto] [--estimate-only] [--jobs N] [--shard I/N] -o DIR
// sweep merge DIR... -o DIR
//
// Every point (variant x strategy x device count) is lowered to a plan and simulated with
// SimGrid (or estimated in closed form with --estimate-only). Points run in child processes,
// --jobs at a time: SimGrid 3.32 holds one engine per process, a point that crashes or runs out
// of memory fails alone, and the parent keeps no simulator state. Each child writes its summary
// to DIR/points/ and sends its row back over a pipe; the parent writes the combined files
// (reports/writer.h: sweep.json, sweep.csv, report.md, index.html), sorted by strategy, variant
// and devices whatever the completion order.
//
// Point order (the index that --shard and the points/ file names use): variants (the baseline,
// then each --vary in the order given), within each the strategies in --strategies order, within
// each the device counts ascending. Shard I/N runs the points whose index mod N is I-1.
//
// Docs: docs/sweep.md.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "cli/commands.h"
#include "cli/common_lists.h"
#include "cli/common_plan_options.h"
#include "cli/common_report.h"
#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/util/context.h"
#include "model/util/error.h"
#include "model/util/json.h"
#include "model/util/output.h"
#include "model/util/process.h"
#include "model/util/subprocess.h"
#include "reports/analysis.h"
#include "reports/search.h"
#include "reports/writer.h"
#ifdef CONVSCALE_HAVE_SIMULATE
#include "simulate/simulator.h"
#endif

namespace convscale::cli {
namespace {

namespace fs = std::filesystem;

struct SweepArgs {
  PlanRequest request;
  std::string strategies = "dp,ps,mp,hybrid", gpus, shard, output;
  std::vector<std::string> vary;
  int jobs = 0, iterations = 3, warmup = 1;
  std::string collectives = "auto";
  bool estimate_only = false;
};

struct MergeArgs {
  std::vector<std::string> dirs;
  std::string output;
};

// One point to evaluate.
struct Point {
  int index = 0;
  std::string strategy, variant;
  int gpus = 0;
  std::string cluster;       // built-in name, cluster file, or DIR/clusters/VARIANT.json
  std::string cluster_text;  // a variant's description (made in memory, written with the rest)
  int64_t batch = 0, global_batch = 0;
};

struct Shard {
  int index = 1, count = 1;  // 1-based
};

Shard ParseShard(const std::string& text) {
  Shard s;
  if (text.empty()) return s;
  const size_t slash = text.find('/');
  auto whole = [](const std::string& t, int& v) {
    char* end = nullptr;
    const long x = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || x < 0 || x > 1 << 30) return false;
    v = static_cast<int>(x);
    return true;
  };
  if (slash == std::string::npos || !whole(text.substr(0, slash), s.index) ||
      !whole(text.substr(slash + 1), s.count))
    throw InputError("--shard " + text +
                     ": expected I/N, the shard I of N (from 1), e.g. 1/4 or, in a Slurm job "
                     "array, $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT");
  if (s.count < 1)
    throw InputError("--shard " + text + ": the number of shards must be at least 1");
  if (s.index < 1 || s.index > s.count)
    throw InputError("--shard " + text + ": the shard must be from 1 to " +
                     std::to_string(s.count));
  return s;
}

// The bytes of a file the sweep or a shard wrote.
std::string ReadText(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  if (!in) throw InputError(f.string() + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string FileSafe(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  return out;
}

// "0007-dp-8gpu-baseline.json": the index first, so `ls` lists points in sweep order.
std::string PointFileName(const Point& p, size_t total) {
  const int width = std::max<int>(4, static_cast<int>(std::to_string(total - 1).size()));
  char idx[32];
  std::snprintf(idx, sizeof idx, "%0*d", width, p.index);
  return std::string(idx) + "-" + p.strategy + "-" + std::to_string(p.gpus) + "gpu-" +
         FileSafe(p.variant) + ".json";
}

// The resolved inputs: the context's "inputs" block. Two sweeps with equal inputs have the same
// points; `sweep merge` requires it.
Json Inputs(const SweepArgs& a, const std::vector<std::string>& strategies,
            const std::vector<int>& gpus, const std::vector<reports::Variant>& variants) {
  const PlanRequest& r = a.request;
  Json in = Json::object();
  in["model"] = r.model;
  in["cluster"] = r.cluster;
  in["strategies"] = strategies;
  in["gpus"] = gpus;
  Json vary = Json::array();
  for (const auto& v : variants) vary.push_back(v.name);
  in["vary"] = vary;
  in["evaluator"] = a.estimate_only ? "estimate" : "simulate";
  in["options"] = {{"batch", r.batch},
                   {"global_batch", r.global_batch},
                   {"precision", r.precision},
                   {"optimizer", r.optimizer},
                   {"algorithm", r.algorithm},
                   {"bucket_size", r.bucket_size},
                   {"grad_precision", r.grad_precision},
                   {"stages", r.stages},
                   {"micro_batches", r.micro_batches},
                   {"schedule", r.schedule},
                   {"hybrid", r.hybrid},
                   {"servers", r.servers},
                   {"ps_placement", r.ps_placement},
                   {"ps_aggregation", r.ps_aggregation},
                   {"async", r.async},
                   {"staleness", r.staleness},
                   {"allow_oversubscribe", r.allow_oversubscribe}};
  if (!a.estimate_only)
    in["simulation"] = {
        {"iterations", a.iterations}, {"warmup", a.warmup}, {"collectives", a.collectives}};
  return in;
}

// Evaluates one point; runs in a child process. Never throws: a point that cannot run is a row
// with status "failed" (or "does-not-fit") and the reason.
reports::SweepPoint Evaluate(const SweepArgs& a, const Point& pt, const std::string& file) {
  reports::SweepPoint row;
  row.strategy = pt.strategy;
  row.variant = pt.variant;
  row.gpus = pt.gpus;
  row.predicted_by = a.estimate_only ? "estimate" : "simulate";
  row.label = pt.strategy;  // the options' label once the plan is lowered
  Json point_id = {
      {"index", pt.index}, {"strategy", pt.strategy}, {"gpus", pt.gpus}, {"variant", pt.variant}};
  try {
    PlanRequest r = a.request;
    r.cluster = pt.cluster;
    r.cluster_text = pt.cluster_text;
    r.gpus = pt.gpus;
    r.strategy = pt.strategy;
    if (pt.strategy != "ps") r.ps_aggregation = "none";  // a parameter-server option only
    r.batch = pt.batch;
    r.global_batch = pt.global_batch;
    const bool allow = r.allow_oversubscribe;
    r.allow_oversubscribe = true;  // checked below, so a point that does not fit is a row
    BuiltPlan b = BuildPlan(r);
    b.plan.context.options["allow_oversubscribe"] = allow;
    plan::StrategyOptions resolved = b.options;  // for the label: what the lowering chose
    const Json& po = b.plan.context.options;
    if (resolved.stages == 0 && po.contains("stages")) resolved.stages = po["stages"].get<int>();
    if (resolved.servers == 0 && po.contains("servers"))
      resolved.servers = po["servers"].get<int>();
    const reports::Candidate shape = reports::ToCandidate(resolved, b.plan, {}, *b.cluster);
    row.label = shape.label;
    row.memory_peak_bytes = shape.memory_peak_bytes;
    try {
      cost::CheckMemory(b.plan, *b.cluster);
    } catch (const InputError& e) {
      row.status = "does-not-fit";
      row.fits = false;
      row.reason = e.what();
    }
    if (row.status == "does-not-fit" && !allow) {
      Json j = {{"context", MakeContext("sweep-point", reports::kSchemaVersion)}};
      j["context"]["sweep_point"] = point_id;
      j["status"] = row.status;
      j["reason"] = row.reason;
      j["memory_peak_bytes"] = row.memory_peak_bytes;
      WriteJsonAtomic(file, j);
      return row;
    }
    cost::Summary s;
    Json j;
    if (a.estimate_only) {
      // The estimator of `estimate`, `select` and `whatif`.
      s = cost::EstimateStrategy(*b.network, *b.cluster, b.options, b.calibration,
                                 b.single_device_time_s);
      s.options = b.plan.context.options;
      j = cost::ToJson(s);
    } else {
#ifdef CONVSCALE_HAVE_SIMULATE
      sim::SimulateOptions so;
      so.iterations = a.iterations;
      so.warmup = a.warmup;
      so.lowering.collectives = sim::ParseCollectiveMode(a.collectives);
      so.lowering.calibration = b.calibration;  // as the estimator (and `simulate`) apply it
      const sim::SimulationResult res = sim::Simulate(b.plan, *b.cluster, so);
      s = sim::ToSummary(res, b.plan, *b.cluster);
      j = sim::SummaryJson(res, b.plan, *b.cluster);
#endif
    }
    j["context"]["sweep_point"] = point_id;
    WriteJsonAtomic(file, j);
    row.iteration_time_s = s.iteration_time_s;
    row.throughput_samples_per_s = s.throughput_samples_per_s;
    row.speedup = s.speedup;
    row.scaling_efficiency = s.scaling_efficiency;
    row.comm_time_s = s.comm_time_s;
    row.exposed_comm_time_s = s.exposed_comm_time_s;
    if (s.memory_peak_bytes > 0) row.memory_peak_bytes = s.memory_peak_bytes;
    return row;
  } catch (const InputError& e) {
    row.reason = e.what();
  } catch (const RuntimeError& e) {
    row.reason = e.what();
  } catch (const std::exception& e) {
    row.reason = std::string("internal error: ") + e.what();
  }
  row.status = "failed";
  row.fits = false;
  row.iteration_time_s = row.throughput_samples_per_s = row.speedup = row.scaling_efficiency = 0;
  row.comm_time_s = row.exposed_comm_time_s = 0;
  try {
    Json j = {{"context", MakeContext("sweep-point", reports::kSchemaVersion)}};
    j["context"]["sweep_point"] = point_id;
    j["status"] = row.status;
    j["reason"] = row.reason;
    WriteJsonAtomic(file, j);
  } catch (const std::exception& e) {
    row.reason += "; and writing " + file + " failed: " + e.what();
  }
  return row;
}

// One line on a terminal (redrawn), plain lines otherwise (logs, CI, Slurm output files).
class Progress {
 public:
  Progress(size_t total, bool tty) : total_(total), tty_(tty), start_(Clock::now()) {}
  void Done(const reports::SweepPoint& p) {
    ++done_;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double eta = elapsed / done_ * (total_ - done_);
    if (tty_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(kWidth * done_ / std::max<size_t>(1, total_));
      std::fprintf(stderr, "\r[%s%s] %zu/%zu points, %s elapsed, ETA %s   ",
                   std::string(filled, '#').c_str(), std::string(kWidth - filled, ' ').c_str(),
                   done_, total_, Hms(elapsed).c_str(), Hms(eta).c_str());
      if (done_ == total_) std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "convscale: sweep: %zu/%zu %s, %d GPUs, %s: %s%s%s (ETA %s)\n", done_,
                   total_, p.strategy.c_str(), p.gpus, p.variant.c_str(), p.status.c_str(),
                   p.reason.empty() ? "" : ": ", p.reason.c_str(), Hms(eta).c_str());
    }
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static std::string Hms(double s) {
    const long t = std::lround(s);
    char buf[32];
    if (t >= 3600)
      std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
      std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
  }
  size_t total_, done_ = 0;
  bool tty_;
  Clock::time_point start_;
};

// Runs `points`, `jobs` child processes at a time, each writing its summary into `points_dir`;
// returns the rows in the order of `points`.
std::vector<reports::SweepPoint> RunPoints(const SweepArgs& a, const std::vector<Point>& points,
                                           size_t total, const fs::path& points_dir, int jobs) {
  struct Child {
    pid_t pid;
    int fd;
    size_t at;  // position in `points`
    std::string data;
  };
  std::vector<reports::SweepPoint> rows(points.size());
  std::vector<Child> running;
  Progress progress(points.size(), isatty(STDERR_FILENO));
  size_t next = 0;
  auto failed = [&](size_t at, const std::string& why) {
    reports::SweepPoint row;
    row.strategy = points[at].strategy;
    row.variant = points[at].variant;
    row.gpus = points[at].gpus;
    row.predicted_by = a.estimate_only ? "estimate" : "simulate";
    row.fits = false;
    row.status = "failed";
    row.reason = why;
    return row;
  };
  while (next < points.size() || !running.empty()) {
    while (next < points.size() && static_cast<int>(running.size()) < jobs) {
      const size_t at = next++;
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0)
        throw RuntimeError(std::string("sweep: pipe2: ") + std::strerror(errno));
      std::fflush(nullptr);
      const pid_t parent = getpid();
      const pid_t pid = fork();
      if (pid < 0) throw RuntimeError(std::string("sweep: fork: ") + std::strerror(errno));
      if (pid == 0) {
        EndWithParent(parent);  // a killed sweep leaves no point running
        close(fds[0]);
        const reports::SweepPoint row =
            Evaluate(a, points[at], (points_dir / PointFileName(points[at], total)).string());
        const std::string text = reports::ToJson(row).dump();
        size_t off = 0;
        while (off < text.size()) {
          const ssize_t n = write(fds[1], text.data() + off, text.size() - off);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) _exit(4);
          off += static_cast<size_t>(n);
        }
        _exit(0);
      }
      close(fds[1]);
      running.push_back({pid, fds[0], at, ""});
    }
    std::vector<pollfd> pfds;
    for (const Child& c : running) pfds.push_back({c.fd, POLLIN, 0});
    if (poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw RuntimeError(std::string("sweep: poll: ") + std::strerror(errno));
    }
    for (size_t i = pfds.size(); i-- > 0;) {
      if (pfds[i].revents == 0) continue;
      Child& c = running[i];
      char buf[65536];
      const ssize_t n = read(c.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        c.data.append(buf, static_cast<size_t>(n));
        continue;
      }
      close(c.fd);
      int status = 0;
      while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
      }
      reports::SweepPoint row;
      if (WIFSIGNALED(status)) {
        row = failed(c.at, std::string("the process evaluating this point was killed by signal ") +
                               std::to_string(WTERMSIG(status)) + " (" +
                               strsignal(WTERMSIG(status)) + ")");
      } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || c.data.empty()) {
        row = failed(c.at, "the process evaluating this point exited with status " +
                               std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1));
      } else {
        try {
          row = reports::SweepPointFromJson(ParseJson(c.data, "sweep child"), "sweep child", "");
        } catch (const InputError& e) {
          row = failed(c.at, std::string("unreadable result: ") + e.what());
        }
      }
      rows[c.at] = row;
      progress.Done(row);
      running.erase(running.begin() + static_cast<long>(i));
    }
  }
  return rows;
}

// The combined files of `r`: sweep.json, sweep.csv, report.md, index.html.
OutputFiles CombinedFiles(const reports::Report& r) {
  OutputFiles files{{"sweep.json", reports::ToJson(r).dump(2) + "\n"}};
  for (const char* format : {"csv", "markdown", "html"})
    for (const reports::OutputFile& f : reports::MakeWriter(format)->Write(r))
      if (f.name == "sweep.csv" || f.name == "report.md" || f.name == "index.html")
        files.push_back({f.name, f.content});
  return files;
}

void FinishPoints(reports::SweepReport& sw) {
  for (reports::SweepPoint& p : sw.points)
    if (sw.facts.gpu_hour_price_usd && p.status != "failed")
      p.samples_per_dollar = reports::SamplesPerDollar(p.throughput_samples_per_s, p.gpus,
                                                       *sw.facts.gpu_hour_price_usd);
  reports::SortPoints(sw.points);
}

std::string Summary(const std::vector<reports::SweepPoint>& rows) {
  int ok = 0, nofit = 0, failed = 0;
  for (const auto& p : rows) (p.status == "ok" ? ok : p.status == "failed" ? failed : nofit)++;
  return std::to_string(rows.size()) + " points: " + std::to_string(ok) + " ok, " +
         std::to_string(nofit) + " do not fit, " + std::to_string(failed) + " failed";
}

// Refuses an output folder that names something other than a folder, before any work.
void CheckFolder(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw InputError(dir + ": cannot write the sweep folder: a file of that name exists");
}

int RunSweep(const SweepArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  PlanRequest req = a.request;
  if (req.model.empty()) throw InputError("sweep: --model is required");
  if (req.cluster.empty()) throw InputError("sweep: --cluster is required");
  if (a.gpus.empty()) throw InputError("sweep: --gpus is required (e.g. 1,2,4,...,64)");
  if (a.output.empty()) throw InputError("sweep: -o DIR is required (the output folder)");
  CheckFolder(a.output);
  const std::vector<std::string> strategies = ParseStrategyList(a.strategies, true);
  const std::vector<int> gpus = ParseGpuList(a.gpus);
  const Shard shard = ParseShard(a.shard);
  std::vector<reports::Variant> variants;
  for (const std::string& v : a.vary) {
    variants.push_back(reports::ParseVariant(v));
    for (size_t i = 0; i + 1 < variants.size(); ++i)
      if (variants[i].name == v) throw InputError("--vary " + v + ": given twice");
  }
  if (a.jobs < 0) throw InputError("--jobs " + std::to_string(a.jobs) + ": must be positive");
#ifdef CONVSCALE_HAVE_SIMULATE
  if (!a.estimate_only) sim::ParseCollectiveMode(a.collectives);
#else
  if (!a.estimate_only)
    throw InputError("sweep: this convscale was built without the simulator; use --estimate-only");
#endif
  {
    PlanRequest check = req;
    check.strategy = strategies.front();
    ToStrategyOptions(check);  // bad option values are exit 2 here, not a failed row per point
    if (req.ps_aggregation != "none" &&
        std::find(strategies.begin(), strategies.end(), "ps") == strategies.end())
      throw InputError("--ps-aggregation " + req.ps_aggregation +
                       ": only with ps, and --strategies " + a.strategies + " has no ps");
  }

  // The baseline at the largest size: checks the model and the cluster, and gives the facts.
  const int64_t base_batch = req.batch > 0 ? req.batch : plan::kDefaultBatchPerDevice;
  const graph::Network net = graph::LoadModel(req.model, base_batch);
  topo::ClusterOptions co;
  co.gpus = gpus.back();
  const auto base_cluster = topo::LoadCluster(req.cluster, co);
  reports::SearchSpec spec;
  spec.model = req.model;
  spec.cluster = req.cluster;
  spec.gpus = gpus.back();
  spec.batch = base_batch;
  spec.precision = req.precision;
  spec.optimizer = req.optimizer;
  spec.losses = ToLosses(req.losses);
  reports::SweepReport sw;
  sw.facts = reports::MakeFacts(net, *base_cluster, spec);
  sw.facts.gpus = 0;
  sw.facts.global_batch = 0;
  {
    PlanRequest one = req;
    one.strategy = "dp";
    one.ps_aggregation = "none";
    one.gpus = 1;
    one.allow_oversubscribe = true;
    try {
      const BuiltPlan b = BuildPlan(one);
      const auto& o = b.plan.context.options;
      const double batch = o.contains("batch") ? o["batch"].get<double>() : base_batch;
      if (b.single_device_time_s > 0)
        sw.facts.single_device_throughput = batch / b.single_device_time_s;
    } catch (const InputError&) {
      // No single-device reference (the knees then use each series' first point).
    }
  }

  // The points, in the documented order.
  const fs::path dir = a.output;
  std::vector<std::pair<std::string, Point>> runs;  // variant name, template
  Point base;
  base.variant = "baseline";
  base.cluster = req.cluster;
  base.batch = req.batch;
  base.global_batch = req.global_batch;
  runs.push_back({"baseline", base});
  for (const reports::Variant& v : variants) {
    Point p = base;
    p.variant = v.name;
    if (v.key == "batch") {
      const double f = reports::VariantFactor(v);
      if (req.global_batch > 0)
        p.global_batch = std::llround(req.global_batch * f);
      else
        p.batch = std::llround(base_batch * f);
      if ((req.global_batch > 0 ? p.global_batch : p.batch) < 1)
        throw InputError("--vary " + v.name + ": the batch drops below 1");
    } else if (v.key == "cluster") {
      p.cluster = v.value;
      topo::LoadCluster(v.value, co);  // a bad name is exit 2 here
    } else {
      // Known by the file it is written to with the combined files; read from memory meanwhile.
      const std::string file = reports::VariantClusterFile(v);
      p.cluster = (dir / "clusters" / file).string();
      p.cluster_text = reports::ApplyVariant(base_cluster->description_json(), v);
      sw.variant_clusters.push_back({file, p.cluster_text});
    }
    runs.push_back({v.name, p});
  }
  std::vector<Point> all;
  for (const auto& [name, tmpl] : runs)
    for (const std::string& st : strategies)
      for (int g : gpus) {
        Point p = tmpl;
        p.index = static_cast<int>(all.size());
        p.strategy = st;
        p.gpus = g;
        all.push_back(p);
      }
  std::vector<Point> mine;
  for (const Point& p : all)
    if (p.index % shard.count == shard.index - 1) mine.push_back(p);

  // The points' summaries are written to DIR/.partial/points/ as they finish (a killed sweep
  // leaves them there, and no sweep.json), then moved to DIR/points/ with the clusters and the
  // combined files, all or nothing: a run that fails leaves an earlier sweep in DIR as it was,
  // and removes what it made.
  std::error_code ec;
  struct Partial {
    fs::path partial;
    std::vector<std::string> made;  // DIR and the folders above it that this run made
    ~Partial() {
      std::error_code e;
      fs::remove_all(partial, e);
      RemoveFolders(made);  // emptied when the run failed; kept (not empty) when it succeeded
    }
  } staging{dir / ".partial", MakeFolders(dir.string(), ec)};
  const fs::path points_dir = staging.partial / "points";
  if (!ec) fs::create_directories(points_dir, ec);
  if (ec) throw InputError(points_dir.string() + ": cannot create the folder: " + ec.message());
  const int jobs = a.jobs > 0 ? a.jobs : AvailableCpus();
  std::cerr << "convscale: sweep: " << mine.size() << " points"
            << (shard.count > 1
                    ? " (shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                          " of " + std::to_string(all.size()) + ")"
                    : "")
            << ", " << std::min<size_t>(jobs, mine.size()) << " at a time, "
            << (a.estimate_only ? "estimated" : "simulated") << "\n";
  sw.points = RunPoints(a, mine, all.size(), points_dir, jobs);
  FinishPoints(sw);

  reports::Report r;
  r.title = "Sweep: " + req.model + " on " + req.cluster +
            (a.estimate_only ? " (closed-form estimate)" : " (SimGrid simulation)");
  r.context = ReportContext("sweep");
  r.context["inputs"] = Inputs(a, strategies, gpus, variants);
  if (shard.count > 1)
    r.context["shard"] = std::to_string(shard.index) + "/" + std::to_string(shard.count);
  r.sweeps.push_back(sw);
  OutputFiles files;
  for (const Point& p : mine) {
    // A point whose child could not write its file has the reason in its row.
    const fs::path f = points_dir / PointFileName(p, all.size());
    std::error_code ec;
    if (fs::is_regular_file(f, ec))
      files.push_back({"points/" + PointFileName(p, all.size()), ReadText(f)});
  }
  for (const auto& [file, text] : sw.variant_clusters) files.push_back({"clusters/" + file, text});
  for (auto& f : CombinedFiles(r)) files.push_back(std::move(f));
  WriteFolderAtomic(dir.string(), files);
  staging.made.clear();
  Emit("", reports::MakeConsoleWriter()->Write(r).at(0).content);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char took[64];
  std::snprintf(took, sizeof took, " in %.1f s", wall);
  std::cerr << "convscale: sweep: " << Summary(sw.points) << took << "\n";
  std::cout << (dir / "index.html").string() << "\n";
  return 0;
}

// Joins shard folders: the same combined files as one unsharded run (the context's timestamp
// aside), plus the summary in points/ of every point and every shard's clusters/ files.
int RunMerge(const MergeArgs& m) {
  if (m.output.empty()) throw InputError("sweep merge: -o DIR is required (the output folder)");
  if (m.dirs.empty()) throw InputError("sweep merge: give the folders of the shards to merge");
  CheckFolder(m.output);
  struct Part {
    std::string file;
    Json doc;
    reports::SweepReport sweep;
  };
  std::vector<Part> parts;
  // Folders without sweep.json: a shard that was killed or failed (a Slurm array task) leaves
  // its folder with the points it finished and no combined files. They count as missing shards.
  std::vector<std::string> unfinished;
  const auto no_sweep_json = [](const std::string& d) {
    return InputError("sweep merge: " + d +
                      ": no sweep.json (not a folder written by convscale sweep)");
  };
  for (const std::string& d : m.dirs) {
    Part p;
    p.file = (fs::path(d) / "sweep.json").string();
    if (!fs::exists(p.file)) {
      if (!fs::is_directory(d)) throw no_sweep_json(d);
      unfinished.push_back(d);
      continue;
    }
    p.doc = ReadJsonFile(p.file);
    if (!p.doc.is_object() || !p.doc.contains("context") || !p.doc["context"].is_object() ||
        !p.doc["context"].contains("kind") || p.doc["context"]["kind"] != "sweep")
      throw InputError(p.file, "/context/kind", "not a sweep (written by convscale sweep)");
    const Json& sweeps = p.doc.contains("sweeps") ? p.doc["sweeps"] : Json();
    if (!sweeps.is_array() || sweeps.size() != 1)
      throw InputError(p.file, "/sweeps", "expected one sweep");
    p.sweep = reports::SweepFromJson(sweeps[0], p.file, "/sweeps/0");
    parts.push_back(std::move(p));
  }
  if (parts.empty()) throw no_sweep_json(unfinished.front());
  // Everything in the context but the timestamp and the shard must agree.
  auto comparable = [](Json c) {
    c.erase("timestamp");
    c.erase("shard");
    return c;
  };
  const Json ref = comparable(parts[0].doc["context"]);
  for (size_t i = 1; i < parts.size(); ++i) {
    const Json c = comparable(parts[i].doc["context"]);
    // The order of keys is not compared (a shard rewritten by a JSON tool may sort them).
    if (c == ref || nlohmann::json::parse(c.dump()) == nlohmann::json::parse(ref.dump())) continue;
    std::string where = "/context", mine = c.dump(), theirs = ref.dump();
    for (const auto& [key, value] : ref.items()) {
      if (!c.contains(key)) {
        where = "/context/" + key;
        mine = "nothing";
        theirs = value.dump();
        break;
      }
      if (c[key] == value) continue;
      where = "/context/" + key;
      mine = c[key].dump();
      theirs = value.dump();
      if (value.is_object() && c[key].is_object())
        for (const auto& [k2, v2] : value.items())
          if (!c[key].contains(k2) || c[key][k2] != v2) {
            where += "/" + k2;
            mine = c[key].contains(k2) ? c[key][k2].dump() : "nothing";
            theirs = v2.dump();
            break;
          }
      break;
    }
    throw InputError(parts[i].file, where,
                     mine + " differs from " + parts[0].file + "'s " + theirs +
                         "; only shards of one sweep can be merged");
  }
  // Every point exactly once, of the grid the sweep was asked for (located errors: a shard may have
  // been edited by hand).
  const Json none;  // JsonObject keeps a pointer to the value: it must outlive `in`
  const JsonObject in(ref.contains("inputs") ? ref["inputs"] : none, parts[0].file,
                      "/context/inputs");
  auto strings = [&in](const char* key) {
    std::vector<std::string> out;
    const Json& a = in.Array(key);
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_string())
        throw InputError(in.File(), PointerJoin(in.PointerOf(key), i),
                         std::string("expected a string, found ") + JsonTypeName(a[i]));
      out.push_back(a[i].get<std::string>());
    }
    return out;
  };
  const std::vector<std::string> grid_strategies = strings("strategies");
  const std::vector<int64_t> grid_gpus = in.IntArray("gpus", 1, INT32_MAX);
  std::vector<std::string> variants = {"baseline"};
  for (const std::string& v : strings("vary")) variants.push_back(v);
  std::map<std::tuple<std::string, std::string, int>, std::string> seen;
  reports::SweepReport all = parts[0].sweep;
  all.points.clear();
  for (const Part& p : parts)
    for (const reports::SweepPoint& pt : p.sweep.points) {
      const auto key = std::make_tuple(pt.variant, pt.strategy, pt.gpus);
      auto [it, fresh] = seen.emplace(key, p.file);
      if (!fresh)
        throw InputError(p.file, "",
                         "the point " + pt.strategy + ", " + std::to_string(pt.gpus) + " GPUs, " +
                             pt.variant + " is also in " + it->second +
                             " (the same shard given twice?)");
      all.points.push_back(pt);
    }
  // The shard count from the context ("I/N"; none: an unsharded run, one shard). Point k (in
  // the sweep's order: variants, strategies, device counts) belongs to shard k mod N + 1.
  // Every part must say the same N.
  int shards = 0;
  for (const Part& p : parts) {
    const Json& c = p.doc["context"];
    Shard mine;
    if (c.contains("shard")) {
      try {
        mine = ParseShard(c["shard"].is_string() ? c["shard"].get<std::string>() : "?");
      } catch (const InputError&) {
        throw InputError(p.file, "/context/shard",
                         "expected \"I/N\", the shard I of N (from 1), found " + c["shard"].dump());
      }
    }
    if (shards == 0) shards = mine.count;
    if (mine.count != shards)
      throw InputError(p.file, "/context/shard",
                       "a shard of " + std::to_string(mine.count) + ", " + parts[0].file +
                           " one of " + std::to_string(shards) +
                           "; only shards of one sweep can be merged");
  }
  std::vector<std::string> missing;
  std::set<int> missing_shards;
  std::vector<std::pair<Point, fs::path>> found;  // each point, the folder that has it
  size_t total = 0;
  for (const std::string& v : variants)
    for (const std::string& st : grid_strategies)
      for (const int64_t g : grid_gpus) {
        const size_t index = total++;
        if (auto it = seen.find({v, st, static_cast<int>(g)}); it != seen.end()) {
          Point pt;
          pt.index = static_cast<int>(index);
          pt.strategy = st;
          pt.variant = v;
          pt.gpus = static_cast<int>(g);
          found.push_back({pt, fs::path(it->second).parent_path()});
          continue;
        }
        missing.push_back(st + " " + std::to_string(g) + " GPUs " + v);
        missing_shards.insert(static_cast<int>(index % size_t(shards)) + 1);
      }
  if (!missing.empty()) {
    std::string list, which;
    for (size_t i = 0; i < missing.size() && i < 3; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 3) list += ", ...";
    for (int k : missing_shards)
      which += (which.empty() ? "" : ", ") + std::to_string(k) + "/" + std::to_string(shards);
    std::string unfinished_list;
    for (const std::string& d : unfinished)
      unfinished_list += (unfinished_list.empty() ? "" : ", ") + d;
    throw InputError(
        "sweep merge: the sweep is incomplete: " +
        (missing_shards.size() == 1 ? "shard " + which + " is" : "shards " + which + " are") +
        " missing (" + std::to_string(missing.size()) + " of " + std::to_string(total) +
        " points: " + list + ")" +
        (unfinished.empty() ? ""
                            : "; " + unfinished_list + ": no sweep.json (a shard that did not " +
                                  "finish: killed, failed or still running)") +
        "; give the folders of all the shards");
  }
  if (!unfinished.empty()) throw no_sweep_json(unfinished.front());
  reports::Report r;
  const Json& title = parts[0].doc.contains("title") ? parts[0].doc["title"] : Json();
  r.title = title.is_string() ? title.get<std::string>() : std::string("Sweep");
  r.context = parts[0].doc["context"];
  r.context.erase("shard");
  r.context["timestamp"] = MakeContext("sweep", reports::kSchemaVersion)["timestamp"];
  FinishPoints(all);
  r.sweeps.push_back(all);
  // The points' summaries, the shards' clusters/ files and the combined files, written all or
  // nothing. Each point of a sweep.json has its summary in points/ beside it (a point that did
  // not run has one too, with its reason).
  const fs::path out = m.output;
  OutputFiles files;
  for (const auto& [pt, d] : found) {
    const std::string name = PointFileName(pt, total);
    const fs::path f = d / "points" / name;
    std::error_code ec;
    if (!fs::is_regular_file(f, ec))
      throw InputError("sweep merge: " + f.string() + ": " +
                       (fs::exists(f, ec) ? "not a file" : "missing") + " (the summary of " +
                       pt.strategy + ", " + std::to_string(pt.gpus) + " GPUs, " + pt.variant +
                       " in " + (d / "sweep.json").string() + "); rerun that shard");
    const Json doc = ReadJsonFile(f.string());  // located messages for an edited summary
    if (!doc.is_object())
      throw InputError(f.string(), "",
                       std::string("expected an object, found ") + JsonTypeName(doc));
    files.push_back({"points/" + name, ReadText(f)});
  }
  for (const std::string& d : m.dirs) {
    const fs::path from = fs::path(d) / "clusters";
    std::error_code ec;
    if (!fs::is_directory(from, ec)) continue;
    std::vector<fs::path> clusters;
    for (const auto& e : fs::directory_iterator(from, ec))
      if (e.is_regular_file() && e.path().extension() == ".json") clusters.push_back(e.path());
    std::sort(clusters.begin(), clusters.end());
    for (const fs::path& f : clusters)
      files.push_back({("clusters" / f.filename()).string(), ReadText(f)});
  }
  for (auto& f : CombinedFiles(r)) files.push_back(std::move(f));
  WriteFolderAtomic(out.string(), files);
  std::cerr << "convscale: sweep merge: " << Summary(all.points) << " from " << parts.size()
            << " folders\n";
  std::cout << (out / "index.html").string() << "\n";
  return 0;
}

}  // namespace

void AddSweepCommands(CLI::App& app, Action& action) {
  static SweepArgs a;
  static MergeArgs m;
  auto* sw = app.add_subcommand(
      "sweep",
      "Simulate every strategy x GPU count x what-if point, in parallel; combined CSV/JSON");
  sw->add_option("--model", a.request.model, "zoo model name or model file");
  sw->add_option("--cluster", a.request.cluster, "built-in cluster name or cluster file");
  sw->add_option("--strategies", a.strategies, "strategies: dp,ps,mp,hybrid (default: all four)");
  sw->add_option("--gpus", a.gpus, "device counts: 1,2,4,8 or 1..64 (doublings) or 1,2,4,...,64");
  sw->add_option("--vary", a.vary,
                 "a what-if change: network.bandwidth=2x, gpu.flops=2x, batch=2x, "
                 "cluster=NAME|FILE (repeatable)");
  AddStrategyOptions(sw, a.request);
  sw->add_flag("--allow-oversubscribe", a.request.allow_oversubscribe,
               "simulate points that do not fit in device memory too (still marked does-not-fit)");
  sw->add_option("--iterations", a.iterations, "measured iterations per simulation (default 3)")
      ->check(CLI::PositiveNumber);
  sw->add_option("--warmup", a.warmup, "warm-up iterations per simulation (default 1)")
      ->check(CLI::NonNegativeNumber);
  sw->add_option("--collectives", a.collectives, "exact, coarse or auto (default)");
  sw->add_flag("--estimate-only", a.estimate_only,
               "closed-form estimates instead of simulations (fast, no contention)");
  sw->add_option("--jobs,-j", a.jobs, "points evaluated at once (default: all cores)")
      ->check(CLI::PositiveNumber);
  sw->add_option("--shard", a.shard,
                 "I/N: run only the points whose index mod N is I-1 (docs/sweep.md)");
  sw->add_option("-o,--output", a.output, "output folder");
  sw->require_subcommand(0, 1);

  auto* merge = sw->add_subcommand("merge", "Join the folders of a sharded sweep into one");
  merge->add_option("dirs", m.dirs, "the shards' output folders")->required();
  merge->add_option("-o,--output", m.output, "output folder")->required();
  merge->callback([&action] { action = [] { return RunMerge(m); }; });
  sw->callback([&action, merge] {
    if (merge->parsed()) return;
    action = [] { return RunSweep(a); };
  });
}

}  // namespace convscale::cli
