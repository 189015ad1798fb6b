// plan --model M --cluster C [--gpus N] --strategy S [options] -o plan.json
// estimate (the same options) [--json] [-o FILE]
//
// Docs: docs/plan-format.md.
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/common_plan_options.h"
#include "model/cost/estimate.h"
#include "model/util/units.h"

namespace convscale::cli {

namespace {

std::string Gib(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  return buf;
}

std::string Table(const cost::Summary& s, const BuiltPlan& b) {
  std::string out;
  char buf[256];
  auto row = [&](const char* k, const std::string& v) {
    std::snprintf(buf, sizeof buf, "%-24s %s\n", k, v.c_str());
    out += buf;
  };
  const topo::Endpoint& e0 = b.cluster->endpoint(0);
  out += s.model + " on " + s.cluster + ": strategy " + s.strategy + ", " +
         std::to_string(s.devices) + " devices, global batch " + std::to_string(s.global_batch) +
         "\n";
  out += AssumptionRows(b.plan, "estimate (closed form)");
  row("iteration time", units::FormatTime(s.iteration_time_s));
  std::snprintf(buf, sizeof buf, "%.1f samples/s", s.throughput_samples_per_s);
  row("throughput", buf);
  std::snprintf(buf, sizeof buf, "%.2fx over one %s (scaling efficiency %.1f%%)", s.speedup,
                e0.type ? e0.type->name.c_str() : "device", 100 * s.scaling_efficiency);
  row("speedup", buf);
  row("compute time", units::FormatTime(s.compute_time_s));
  row("communication time", units::FormatTime(s.comm_time_s));
  row("exposed communication", units::FormatTime(s.exposed_comm_time_s));
  row("pipeline bubble / idle", units::FormatTime(s.bubble_time_s));
  row("bytes moved", units::FormatBytes(s.comm_bytes_total));
  std::string where;
  double peak = -1;
  for (const auto& r : s.ranks)
    if (r.memory_peak_bytes > peak) {
      peak = r.memory_peak_bytes;
      where = r.endpoint;
    }
  row("peak memory", Gib(s.memory_peak_bytes) + " (" + where + ")");
  return out;
}

}  // namespace

void AddPlanCommands(CLI::App& app, Action& action) {
  static PlanRequest plan_req;
  static std::string plan_out = "-";
  auto* plan = app.add_subcommand("plan", "Lower a strategy to a plan (per-rank task graph)");
  AddPlanOptions(plan, plan_req);
  plan->add_option("-o,--output", plan_out, "plan file to write (default: stdout)");
  plan->callback([&action] {
    action = [] {
      BuiltPlan b = BuildPlan(plan_req);
      Emit(plan_out, ToJson(b.plan).dump(2) + "\n");
      return 0;
    };
  });

  static PlanRequest est_req;
  static std::string est_out = "-";
  static bool est_json = false;
  auto* est = app.add_subcommand("estimate", "Closed-form estimate of a strategy's iteration");
  AddPlanOptions(est, est_req);
  est->add_flag("--json", est_json, "print the summary as JSON");
  est->add_option("-o,--output", est_out, "file to write (default: stdout)");
  est->callback([&action] {
    action = [] {
      BuiltPlan b = BuildPlan(est_req);
      // The estimator of `select` and `whatif` too (the same numbers as estimating b.plan).
      cost::Summary s = cost::EstimateStrategy(*b.network, *b.cluster, b.options, b.calibration,
                                               b.single_device_time_s);
      s.options = b.plan.context.options;  // with what BuildPlan added (nodes, calibration)
      Emit(est_out, est_json ? cost::ToJson(s).dump(2) + "\n" : Table(s, b));
      return 0;
    };
  });
}

}  // namespace convscale::cli
