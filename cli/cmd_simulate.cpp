// simulate --plan FILE | --model M --cluster C [the plan options of `plan` and `estimate`,
//          cli/common_plan_options.h]
//          [--iterations N] [--warmup W] [--collectives exact|coarse|auto]
//          [--straggler RANK:FACTOR]... [--beside PLAN]... [--background-load F]
//          [--trace FILE] [--csv FILE]
//          [--json] [-o FILE]
// cluster export-simgrid NAME|FILE [--gpus N] [--nodes N] [--servers N] -o platform.xml
//
// Docs: docs/simulator.md.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common_plan_options.h"
#include "model/plan/jobs.h"
#include "model/plan/strategy.h"
#include "model/util/error.h"
#include "model/util/json.h"
#include "model/util/output.h"
#include "model/util/units.h"
#include "simulate/platform.h"
#include "simulate/simulator.h"

namespace convscale::cli {
namespace {

struct SimulateArgs {
  PlanRequest plan;  // the plan options shared with `plan` and `estimate`
  std::string plan_file;
  int iterations = 3, warmup = 1;
  std::string collectives = "auto";
  std::vector<std::string> stragglers;
  std::vector<std::string> beside;  // plans of other jobs on the same cluster
  double background_load = 0;
  std::string trace, csv, output;
  bool json = false;
};

struct ExportArgs {
  std::string cluster, output;
  int gpus = 0, nodes = 0, servers = 0;
};

// Flags that describe a plan to build: with --plan they would be ignored, so they are refused.
constexpr const char* kBuildFlags[] = {"--model",
                                       "--batch",
                                       "--global-batch",
                                       "--strategy",
                                       "--algorithm",
                                       "--bucket-size",
                                       "--grad-precision",
                                       "--precision",
                                       "--optimizer",
                                       "--stages",
                                       "--micro-batches",
                                       "--schedule",
                                       "--hybrid",
                                       "--servers",
                                       "--ps-placement",
                                       "--ps-aggregation",
                                       "--async",
                                       "--staleness",
                                       "--single-gpu-throughput",
                                       "--allow-oversubscribe",
                                       "--loaded-node-efficiency",
                                       "--compute-cv",
                                       "--iteration-overhead",
                                       "--no-losses"};

// The cluster a plan file was lowered for: its context's cluster (or `name`) sized by its
// options (or `gpus`, `nodes`), checked against the endpoint count the plan records.
std::unique_ptr<topo::Cluster> ClusterOfPlan(const plan::Plan& p, const std::string& file,
                                             const std::string& name_override, int gpus,
                                             int nodes) {
  // The options are free-form in the plan format; the few read here are checked.
  const Json options = p.context.options.is_null() ? Json::object() : p.context.options;
  const JsonObject o(options, file, "/context/options");
  topo::ClusterOptions co;
  co.gpus = gpus > 0 ? gpus : static_cast<int>(o.Int("gpus", 0, 0, INT32_MAX));
  co.nodes = nodes;
  const std::string name = name_override.empty() ? p.context.cluster : name_override;
  if (name.empty()) throw InputError(file + ": the plan names no cluster; give --cluster");
  auto cluster = topo::LoadCluster(name, co);
  plan::StrategyOptions ps;  // the dedicated server hosts the plan's servers need
  ps.strategy = p.context.strategy;
  ps.gpus = co.gpus;
  ps.servers = static_cast<int>(o.Int("servers", 0, 0, INT32_MAX));
  ps.ps_placement = o.String("ps_placement", "") == "dedicated" ? plan::PsPlacement::kDedicated
                                                                : plan::PsPlacement::kHost;
  if (const int hosts = plan::DedicatedServerHosts(ps, *cluster); hosts > 0) {
    co.server_hosts = hosts;
    cluster = topo::LoadCluster(name, co);
  }
  if (p.cluster_endpoints > 0 && p.cluster_endpoints != cluster->num_endpoints())
    throw InputError(file + ": /cluster_endpoints: the plan was lowered for " +
                     std::to_string(p.cluster_endpoints) + " endpoints; cluster \"" + name +
                     "\" here has " + std::to_string(cluster->num_endpoints()) +
                     " (give the same --gpus/--nodes)");
  return cluster;
}

std::string Text(const sim::SimulationResult& r, const plan::Plan& p) {
  std::ostringstream o;
  char buf[256];
  auto line = [&](const char* k, const std::string& v) {
    std::snprintf(buf, sizeof buf, "%-24s %s\n", k, v.c_str());
    o << buf;
  };
  auto pct = [](double f) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f%%", 100 * f);
    return std::string(b);
  };
  line("model / strategy", p.context.model + " / " + p.context.strategy);
  o << AssumptionRows(p, "simulate (SimGrid)");
  line("devices / ranks", std::to_string(r.devices) + " / " + std::to_string(r.ranks.size()));
  line("iteration time", units::FormatTime(r.iteration_time_s));
  std::snprintf(buf, sizeof buf, "%.1f samples/s", r.throughput_samples_per_s);
  line("throughput", buf);
  std::snprintf(buf, sizeof buf, "%.2f (efficiency %s)", r.speedup,
                pct(r.scaling_efficiency).c_str());
  line("speedup", buf);
  line("compute (max rank)", units::FormatTime(r.compute_time_s));
  line("communication",
       units::FormatTime(r.comm_time_s) + ", exposed " + units::FormatTime(r.exposed_comm_time_s));
  line("idle (max rank)", units::FormatTime(r.bubble_time_s));
  line("bytes on the network", units::FormatBytes(r.comm_bytes));
  if (r.has_staleness) {
    std::snprintf(buf, sizeof buf, "mean %.2f, max %.0f iterations (bound %s)", r.staleness_mean,
                  r.staleness_max,
                  r.staleness_bound < 0 ? "none" : std::to_string(r.staleness_bound).c_str());
    line("staleness", buf);
    std::snprintf(buf, sizeof buf, "mean %.2f, max %.0f updates", r.staleness_updates_mean,
                  r.staleness_updates_max);
    line("", buf);
  }
  for (size_t i = 0; i < r.links.size() && i < 3; ++i) {
    std::snprintf(buf, sizeof buf, "%s (%s) %s", r.links[i].name.c_str(), r.links[i].level.c_str(),
                  pct(r.links[i].utilization).c_str());
    line(i == 0 ? "busiest links" : "", buf);
  }
  line("collectives",
       r.collectives + " (" + std::to_string(r.flows_per_iteration) + " flows per iteration)");
  if (!r.ps_messages.empty())
    line("ps messages", r.ps_messages + " (" + std::to_string(r.ps_messages_per_iteration) +
                            " pushes and pulls per iteration" +
                            (r.ps_messages == "coarse" ? ", those waiting on one connection sent "
                                                         "together up to " +
                                                             units::FormatBytes(r.ps_coalesce_bytes)
                                                       : std::string()) +
                            ")");
  for (size_t i = 0; i < r.jobs.size(); ++i) {
    const sim::JobResult& j = r.jobs[i];
    std::snprintf(buf, sizeof buf, "%s: %d devices, iteration %s, %.1f samples/s", j.name.c_str(),
                  j.devices, units::FormatTime(j.iteration_time_s).c_str(),
                  j.throughput_samples_per_s);
    line(i == 0 ? "jobs" : "", buf);
  }
  return o.str();
}

}  // namespace

void AddSimulateCommands(CLI::App& app, Action& action) {
  static SimulateArgs a;
  auto* sim = app.add_subcommand(
      "simulate", "Predict an iteration with SimGrid: contention, timelines, stragglers");
  sim->add_option("--plan", a.plan_file, "plan JSON (from `convscale plan`)");
  AddPlanOptions(sim, a.plan, /*require_model=*/false);
  sim->add_option("--iterations", a.iterations, "measured iterations (default 3)")
      ->check(CLI::PositiveNumber);
  sim->add_option("--warmup", a.warmup, "warm-up iterations (default 1)")
      ->check(CLI::NonNegativeNumber);
  sim->add_option("--collectives", a.collectives,
                  "exact (chunk by chunk, one flow per parameter-server message), coarse (one flow "
                  "per phase; parameter-server messages waiting on one connection sent together) "
                  "or auto (default)");
  sim->add_option("--straggler", a.stragglers,
                  "RANK:FACTOR, a rank computing FACTOR as fast (repeatable)");
  sim->add_option("--beside", a.beside,
                  "plan JSON of another job sharing the cluster (repeatable): each job runs on "
                  "its own devices, after this job's, and gets its own iteration time");
  sim->add_option("--background-load", a.background_load,
                  "fraction of every fabric link taken by background traffic");
  sim->add_option("--trace", a.trace, "write the Chrome trace (Perfetto) timeline here");
  sim->add_option("--csv", a.csv, "write the summary as CSV here");
  sim->add_flag("--json", a.json, "print the summary JSON instead of text");
  sim->add_option("-o,--output", a.output, "write the summary here instead of stdout");
  sim->callback([&action, sim] {
    action = [sim] {
      std::unique_ptr<topo::Cluster> cluster;
      plan::Plan p;
      BuiltPlan built;  // owns the network, cluster and profile when the plan is built here
      sim::SimulateOptions so;
      if (!a.plan_file.empty()) {
        for (const char* flag : kBuildFlags)
          if (sim->count(flag) > 0)
            throw InputError(std::string("simulate: ") + flag +
                             " describes a plan to build; give either --plan or the plan options");
        p = plan::LoadPlan(a.plan_file);
        cluster = ClusterOfPlan(p, a.plan_file, a.plan.cluster, a.plan.gpus, a.plan.nodes);
        const Json options = p.context.options.is_null() ? Json::object() : p.context.options;
        const JsonObject o(options, a.plan_file, "/context/options");
        // The calibration the plan was made with (`plan --single-gpu-throughput/--profile`).
        if (options.contains("efficiency") && options["efficiency"].is_number())
          so.lowering.calibration.efficiency = options["efficiency"].get<double>();
        if (options.contains("compute_scale")) {
          const Json& s = options["compute_scale"];
          if (!s.is_number() || !(s.get<double>() > 0) || !std::isfinite(s.get<double>()))
            throw InputError(a.plan_file, "/context/options/compute_scale",
                             "must be a positive number, found " + s.dump());
          so.lowering.calibration.compute_scale = s.get<double>();
        }
        const std::string profile =
            !a.plan.profile.empty() ? a.plan.profile : o.String("profile", "");
        if (!profile.empty()) {
          try {
            built.profile = std::make_shared<cost::Profile>(cost::LoadProfile(profile));
          } catch (const InputError& e) {
            if (!a.plan.profile.empty()) throw;
            // The plan names the profile it was made with: the user never typed that name here,
            // so the message points at the plan's key.
            throw o.Error("profile", "the plan was made with the profile \"" + profile +
                                         "\", which cannot be used (" + e.what() +
                                         "); give --profile FILE to use another");
          }
          so.lowering.calibration.profile = built.profile.get();
        }
      } else {
        if (a.plan.model.empty() || a.plan.cluster.empty())
          throw InputError("simulate: give --plan FILE, or --model and --cluster");
        built = BuildPlan(a.plan);
        p = std::move(built.plan);
        cluster = std::move(built.cluster);
        so.lowering.calibration = built.calibration;
      }
      // Other jobs on the same fabric: every job moves to its own devices of one cluster big
      // enough for all of them (docs/simulator.md, "Two jobs on one fabric").
      std::vector<plan::Plan> beside_plans;
      std::vector<std::unique_ptr<topo::Cluster>> beside_clusters;
      if (!a.beside.empty()) {
        const cost::Calibration& cal = so.lowering.calibration;
        if (cal.profile != nullptr || cal.efficiency > 0 || cal.kernel_overhead_s >= 0)
          throw InputError(
              "simulate --beside: this job is calibrated (--profile or "
              "--single-gpu-throughput), which would be applied to the other jobs' models too; "
              "simulate jobs together uncalibrated");
        std::vector<plan::Job> jobs;
        const std::string main_name = a.plan_file.empty() ? "this job" : a.plan_file;
        jobs.push_back({&p, cluster.get(), main_name});
        beside_plans.reserve(a.beside.size());
        for (const std::string& file : a.beside) {
          beside_plans.push_back(plan::LoadPlan(file));
          beside_clusters.push_back(ClusterOfPlan(beside_plans.back(), file, "", 0, 0));
          const Json& bo = beside_plans.back().context.options;
          if (bo.is_object() && (bo.contains("profile") || bo.contains("efficiency")))
            throw InputError(file +
                             ": /context/options: the plan is calibrated for its own "
                             "model; simulate jobs together uncalibrated");
          jobs.push_back({&beside_plans.back(), beside_clusters.back().get(), file});
        }
        int devices = 0;
        for (const plan::Job& j : jobs) devices += plan::JobDevices(j);
        topo::ClusterOptions co;
        co.gpus = devices;
        const std::string name = p.context.cluster.empty() ? a.plan.cluster : p.context.cluster;
        auto shared = topo::LoadCluster(name, co);
        // `jobs` points into `p` and `cluster`: they are replaced once the jobs are placed.
        plan::Plan joint = plan::PlaceJobs(jobs, *shared, &so.jobs);
        p = std::move(joint);
        cluster = std::move(shared);
      }
      so.iterations = a.iterations;
      so.warmup = a.warmup;
      so.lowering.collectives = sim::ParseCollectiveMode(a.collectives);
      so.lowering.platform.background_load = a.background_load;
      for (const auto& s : a.stragglers) so.stragglers.push_back(sim::ParseStraggler(s));
      sim::SimulationResult r;
      try {
        r = sim::Simulate(p, *cluster, so);
      } catch (const InputError& e) {
        // The simulator locates plan errors in "plan"; name the file the plan came from.
        const std::string m = e.what();
        if (a.plan_file.empty() || m.rfind("plan: ", 0) != 0) throw;
        throw InputError(a.plan_file + m.substr(4));
      }
      // All outputs are made first and then written all or nothing (EmitAll).
      OutputFiles outputs;
      if (!a.trace.empty()) outputs.push_back({a.trace, sim::ChromeTrace(r, p, *cluster)});
      if (!a.csv.empty()) outputs.push_back({a.csv, sim::SummaryCsv(r, p)});
      const bool json = a.json || (!a.output.empty() && a.output.size() > 5 &&
                                   a.output.compare(a.output.size() - 5, 5, ".json") == 0);
      outputs.push_back(
          {a.output, json ? sim::SummaryJson(r, p, *cluster).dump(2) + "\n" : Text(r, p)});
      EmitAll(outputs);
      return 0;
    };
  });

  // `cluster export-simgrid` joins the "cluster" group (added before this one in main.cpp).
  CLI::App* cluster = nullptr;
  try {
    cluster = app.get_subcommand("cluster");
  } catch (const CLI::OptionNotFound&) {
    cluster = nullptr;
  }
  if (cluster != nullptr) {
    static ExportArgs e;
    auto* ex = cluster->add_subcommand(
        "export-simgrid", "Write the SimGrid XML platform of a cluster (docs/simulator.md)");
    ex->add_option("cluster", e.cluster, "built-in cluster name or cluster JSON file")->required();
    ex->add_option("--gpus", e.gpus, "number of devices")->check(CLI::PositiveNumber);
    ex->add_option("--nodes", e.nodes, "number of nodes")->check(CLI::PositiveNumber);
    ex->add_option("--servers", e.servers, "dedicated parameter-server hosts")
        ->check(CLI::NonNegativeNumber);
    ex->add_option("-o,--output", e.output, "output file (default: stdout)");
    ex->callback([&action] {
      action = [] {
        topo::ClusterOptions o;
        o.gpus = e.gpus;
        o.nodes = e.nodes;
        o.server_hosts = e.servers;
        auto c = topo::LoadCluster(e.cluster, o);
        Emit(e.output, sim::ExportSimgridXml(*c));
        return 0;
      };
    });
  }
}

}  // namespace convscale::cli
