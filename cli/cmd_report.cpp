// select  --model M --cluster C --gpus N [--strategies dp,ps,mp,hybrid] [--batch B]
//         [--precision P] [--estimate-only | --simulate-top K] [--simulate-all] [--jobs J]
//         [--gpu-hour-price USD] [-o DIR] [LOSSES]
// whatif  --model M --cluster C --gpus 1,2,4,...,64 [--strategies ...] [--vary KEY=VALUE]...
//         [--batch B] [--estimate-only] [--simulate-all] [--jobs J] [--gpu-hour-price USD]
//         [-o DIR] [LOSSES]
// report compare PREDICTED.json MEASURED.json [-o DIR]
// report main [-o DIR] [--simulate-top K]
//
// LOSSES: --no-losses, or --loaded-node-efficiency E --compute-cv C --iteration-overhead T
// (default: the calibrated values, plan::Losses), the same for every candidate.
//
// Each command prints its tables on the console; with -o DIR it also writes DIR/index.html,
// report.md, report.json and CSV files (reports/writer.h). Docs: docs/reports.md.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common_lists.h"
#include "cli/common_plan_options.h"
#include "cli/common_report.h"
#include "model/util/context.h"
#include "model/util/error.h"
#include "reports/compare.h"
#include "reports/search.h"
#include "reports/writer.h"
#ifdef CONVSCALE_HAVE_SIMULATE
#include "simulate/simulator.h"
#endif

namespace convscale::cli {
namespace {

struct SearchArgs {
  std::string model, cluster, strategies = "dp,ps,mp,hybrid", gpus, precision;
  std::string output;
  int64_t batch = 32;
  int simulate_top = -1;
  bool estimate_only = false, simulate_all = false;
  int jobs = 0;
  double price = 0;
  std::vector<std::string> vary;
  LossRequest losses;
};

struct CompareArgs {
  std::string predicted, measured, output;
};

struct MainArgs {
  std::string output = "convscale-report";
  int simulate_top = -1;
  bool estimate_only = false;
  std::string gpus = "1,2,4,8,16,32,64";
};

reports::SearchSpec Spec(const SearchArgs& a) {
  reports::SearchSpec s;
  s.model = a.model;
  s.cluster = a.cluster;
  s.batch = a.batch;
  s.precision = a.precision;
  s.losses = ToLosses(a.losses);
  s.simulate_top = a.estimate_only ? 0 : a.simulate_top;
  if (a.simulate_all) s.prune_margin = -1;
  s.jobs = a.jobs;
  s.strategies = ParseStrategyList(a.strategies);
  if (a.price > 0) s.gpu_hour_price_usd = a.price;
  return s;
}

// The simulator as an evaluator, when it was built.
reports::Evaluator SimulateEvaluator() {
#ifdef CONVSCALE_HAVE_SIMULATE
  return [](const plan::Plan& p, const topo::Cluster& c, double) {
    sim::SimulateOptions o;
    const sim::SimulationResult r = sim::Simulate(p, c, o);
    return sim::ToSummary(r, p, c);
  };
#else
  return nullptr;
#endif
}

int Finish(const reports::Report& r, const std::string& output) {
  Emit("", reports::MakeConsoleWriter()->Write(r).at(0).content);
  if (!output.empty()) std::cout << reports::WriteReportDir(r, output) << "\n";
  return 0;
}

void AddSearchOptions(CLI::App* c, SearchArgs& a, bool gpu_list) {
  c->add_option("--model", a.model, "zoo model name or model file")->required();
  c->add_option("--cluster", a.cluster, "built-in cluster name or cluster JSON file")->required();
  c->add_option("--gpus", a.gpus,
                gpu_list ? "device counts: 1,2,4,8 or 1..64 (doublings)" : "devices to use")
      ->required();
  c->add_option("--strategies", a.strategies, "strategies to try: dp,ps,mp,hybrid");
  c->add_option("--batch", a.batch, "samples per device")->check(CLI::PositiveNumber);
  c->add_option("--precision", a.precision, kPrecisionHelp);
  AddLossOptions(c, a.losses);
  c->add_option("--gpu-hour-price", a.price,
                "US dollars per device-hour (overrides the cluster's price_per_device_hour)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("-o,--output", a.output, "report folder (index.html, report.md/.json, CSV)");
  c->add_flag("--estimate-only", a.estimate_only,
              "closed-form estimates only, no simulation (instant, less exact)");
  c->add_flag("--simulate-all", a.simulate_all,
              "simulate every candidate that fits, also those the estimate proves slower");
  c->add_option("--jobs", a.jobs, "simulations at once, each in a child process (default: CPUs)")
      ->check(CLI::PositiveNumber);
}

// The main job: strategy selection at 64 GPUs and the what-if sweep from 1 to 64 for ResNet-50
// and VGG-16 on 8 DGX A100 nodes with HDR InfiniBand, in one folder.
int RunMain(const MainArgs& a) {
  reports::Report r;
  r.title = "Which strategy, how many GPUs: ResNet-50 and VGG-16 on 8 DGX A100 (HDR InfiniBand)";
  r.context = ReportContext("report");
  const std::vector<int> gpus = ParseGpuList(a.gpus);
  const std::vector<reports::Variant> variants = {reports::ParseVariant("network.bandwidth=2x"),
                                                  reports::ParseVariant("network.bandwidth=0.25x")};
  for (const char* model : {"resnet50", "vgg16"}) {
    reports::SearchSpec s;
    s.model = model;
    s.cluster = "dgx-a100-hdr200";
    s.gpus = gpus.back();
    s.simulate_top = a.estimate_only ? 0 : a.simulate_top;
    std::cerr << "convscale: selecting a strategy for " << model << " on " << s.gpus << " GPUs\n";
    r.selections.push_back(reports::Select(s, SimulateEvaluator()));
    std::cerr << "convscale: what-if sweep for " << model << "\n";
    r.sweeps.push_back(
        reports::WhatIf(s, gpus, variants, s.simulate_top != 0 ? SimulateEvaluator() : nullptr));
  }
  r.context["inputs"] = {{"models", {"resnet50", "vgg16"}},
                         {"cluster", "dgx-a100-hdr200"},
                         {"gpus", gpus},
                         {"variants", {"network.bandwidth=2x", "network.bandwidth=0.25x"}}};
  return Finish(r, a.output);
}

}  // namespace

void AddReportCommands(CLI::App& app, Action& action) {
  static SearchArgs sel_args, what_args;
  static CompareArgs cmp_args;
  static MainArgs main_args;

  auto* sel = app.add_subcommand(
      "select", "Try every strategy and its main options; rank them by throughput and say why");
  AddSearchOptions(sel, sel_args, false);
  sel->add_option("--simulate-top", sel_args.simulate_top,
                  "simulate at most the best K candidates by estimate (default: every one that "
                  "fits and is not provably slower; 0: estimates only)")
      ->check(CLI::NonNegativeNumber)
      ->excludes("--estimate-only");
  sel->callback([&action] {
    action = [] {
      reports::SearchSpec s = Spec(sel_args);
      const std::vector<int> g = ParseGpuList(sel_args.gpus);
      if (g.size() != 1) throw InputError("--gpus " + sel_args.gpus + ": select takes one count");
      s.gpus = g[0];
      reports::Report r;
      r.title = "Strategy selection: " + s.model + " on " + s.cluster + ", " +
                std::to_string(s.gpus) + " GPUs";
      r.context = ReportContext("select");
      r.selections.push_back(
          reports::Select(s, s.simulate_top != 0 ? SimulateEvaluator() : nullptr));
      return Finish(r, sel_args.output);
    };
  });

  auto* what = app.add_subcommand(
      "whatif", "Speedup and efficiency against GPU count per strategy, with what-if changes");
  AddSearchOptions(what, what_args, true);
  what->add_option("--vary", what_args.vary,
                   "a what-if change: network.bandwidth=2x, gpu.flops=2x, batch=2x, "
                   "cluster=NAME|FILE (repeatable)");
  what->callback([&action] {
    action = [] {
      reports::SearchSpec s = Spec(what_args);
      const std::vector<int> g = ParseGpuList(what_args.gpus);
      std::vector<reports::Variant> variants;
      for (const std::string& v : what_args.vary) variants.push_back(reports::ParseVariant(v));
      reports::Report r;
      r.title = "What-if: " + s.model + " on " + s.cluster;
      r.context = ReportContext("whatif");
      r.sweeps.push_back(
          reports::WhatIf(s, g, variants, s.simulate_top != 0 ? SimulateEvaluator() : nullptr));
      return Finish(r, what_args.output);
    };
  });

  auto* rep =
      app.add_subcommand("report", "Reports: compare predicted with measured, the main job");
  rep->require_subcommand(1);
  auto* cmp = rep->add_subcommand(
      "compare", "Predicted against measured: per-phase table, chart, error in percent");
  cmp->add_option("predicted", cmp_args.predicted, "summary JSON of a prediction")->required();
  cmp->add_option("measured", cmp_args.measured, "summary JSON of a measured run")->required();
  cmp->add_option("-o,--output", cmp_args.output, "report folder");
  cmp->callback([&action] {
    action = [] {
      reports::Report r;
      r.context = ReportContext("compare");
      r.comparisons.push_back(reports::CompareFiles(cmp_args.predicted, cmp_args.measured));
      r.title = "Predicted against measured: " + r.comparisons[0].title;
      r.context["inputs"] = {{"predicted", cmp_args.predicted}, {"measured", cmp_args.measured}};
      return Finish(r, cmp_args.output);
    };
  });

  auto* main_job = rep->add_subcommand(
      "main", "Strategy selection and what-if sweep for ResNet-50 and VGG-16 on 8 DGX A100");
  main_job->add_option("-o,--output", main_args.output, "report folder");
  main_job
      ->add_option("--simulate-top", main_args.simulate_top,
                   "simulate at most the best K candidates of each selection and sweep point "
                   "(default: every one that fits and is not provably slower)")
      ->check(CLI::NonNegativeNumber);
  main_job->add_flag("--estimate-only", main_args.estimate_only,
                     "closed-form estimates only, no simulation");
  main_job->add_option("--gpus", main_args.gpus,
                       "device counts of the sweep (the last is selected at)");
  main_job->callback([&action] { action = [] { return RunMain(main_args); }; });
}

}  // namespace convscale::cli
