// `convscale plan` and `convscale estimate`, run as the built binary: exit codes and JSON keys.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../common/cli_run.h"

namespace {

using convscale::testing::CliRun;
using convscale::testing::Convscale;

bool HasPlanCommand() {
  return Convscale("plan --help 2>&1").code == 0;
}

TEST(PlanCli, EstimateJsonHasTheSummaryKeys) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  CliRun r = Convscale(
      "estimate --model resnet50 --cluster dgx-a100 --gpus 16 --strategy dp --batch 64 --json "
      "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* k :
       {"iteration_time_s", "throughput_samples_per_s", "speedup", "scaling_efficiency",
        "compute_time_s", "comm_time_s", "exposed_comm_time_s", "bubble_time_s", "comm_bytes_total",
        "memory_peak_bytes", "ranks", "context"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["ranks"].size(), 16u);
  EXPECT_EQ(j["global_batch"], 1024);
  EXPECT_GT(j["speedup"].get<double>(), 1.0);
  EXPECT_LE(j["scaling_efficiency"].get<double>(), 1.0 + 1e-9);
}

TEST(PlanCli, PlanWritesAValidPlanFile) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  const std::string path = ::testing::TempDir() + "/plan_cli_test.json";
  CliRun r = Convscale(
      "plan --model resnet18 --cluster dgx-a100 --gpus 8 --strategy mp "
      "--micro-batches 4 --schedule 1f1b -o '" +
      path + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  CliRun shown = Convscale(
      "plan --model resnet18 --cluster dgx-a100 --gpus 8 --strategy mp "
      "--micro-batches 4 --schedule 1f1b 2>/dev/null");
  ASSERT_EQ(shown.code, 0);
  const auto j = nlohmann::json::parse(shown.out);
  EXPECT_EQ(j["context"]["kind"], "plan");
  EXPECT_EQ(j["context"]["options"]["schedule"], "1f1b");
  EXPECT_EQ(j["ranks"].size(), 8u);
  EXPECT_TRUE(std::filesystem::exists(path));
}

// The commands that take the shared plan options (cli/common_plan_options.h): `simulate` only
// where convscale was built with SimGrid.
std::vector<std::string> PlanCommands() {
  std::vector<std::string> c = {"estimate"};
  if (Convscale("simulate --help >/dev/null 2>&1").code == 0) c.push_back("simulate");
  return c;
}

TEST(PlanCli, BadInputIsExitTwoWithAMessage) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  for (const std::string& cmd : PlanCommands()) {
    SCOPED_TRACE(cmd);
    CliRun r = Convscale(cmd + " --model resnet50 --cluster dgx-a100 --strategy dq 2>&1");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("--strategy dq: not a strategy (dp, mp, ps, hybrid); did you mean"),
              std::string::npos)
        << r.out;
    r = Convscale(cmd + " --model resnet50 --cluster dgx-a100 --algorithm rign 2>&1");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("did you mean \"ring\"?"), std::string::npos) << r.out;
    r = Convscale(cmd + " --model resnet50 --cluster dgx-a100 --gpus 2 --batch 4096 2>&1");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("needs"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--allow-oversubscribe"), std::string::npos) << r.out;
    r = Convscale(cmd +
                  " --model resnet50 --cluster dgx-a100 --gpus 2 --batch 4096 "
                  "--allow-oversubscribe --json 2>&1 >/dev/null");
    EXPECT_EQ(r.code, 0) << r.out;
    r = Convscale(cmd + " --model resnet50 --cluster dgx-a100 --bucket-size 25Mo 2>&1");
    EXPECT_EQ(r.code, 2);
  }
}

// `simulate` builds its plan from the same flags as `estimate`: the same resolved options, and
// with --plan the plan-building flags are refused rather than ignored.
TEST(PlanCli, SimulateTakesThePlanOptions) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  if (PlanCommands().size() < 2) GTEST_SKIP() << "convscale was built without SimGrid";
  const std::string flags =
      " --model resnet18 --cluster dgx-a100 --gpus 4 --strategy dp --bucket-size 50MiB "
      "--grad-precision fp16 --batch 16 --json 2>/dev/null";
  const CliRun est = Convscale("estimate" + flags);
  const CliRun sim = Convscale("simulate --iterations 1 --warmup 0" + flags);
  ASSERT_EQ(est.code, 0) << est.out;
  ASSERT_EQ(sim.code, 0) << sim.out;
  const auto e = nlohmann::json::parse(est.out), s = nlohmann::json::parse(sim.out);
  EXPECT_EQ(s["context"]["options"], e["context"]["options"]);
  EXPECT_EQ(s["context"]["options"]["bucket_bytes"], 50.0 * 1024 * 1024);
  EXPECT_EQ(s["global_batch"], 64);

  CliRun r = Convscale("simulate --model resnet18 --cluster dgx-a100 --bucket 25MiB 2>&1");
  EXPECT_EQ(r.code, 2) << r.out;  // the old simulate-only spelling is gone
  const std::string path = ::testing::TempDir() + "/plan_cli_simulate.json";
  ASSERT_EQ(
      Convscale("plan --model resnet18 --cluster dgx-a100 --gpus 2 -o '" + path + "' 2>&1").code,
      0);
  r = Convscale("simulate --plan '" + path + "' --strategy ps 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("convscale: simulate: --strategy describes a plan to build; give either "
                       "--plan or the plan options"),
            std::string::npos)
      << r.out;
  r = Convscale("simulate --plan '" + path + "' --iterations 1 --warmup 0 --json 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
}

// Two jobs on one fabric: `simulate --beside` reports each job's iteration; a calibrated job or a
// parameter server on dedicated hosts is refused with the reason.
TEST(PlanCli, SimulateBesideAnotherJob) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  if (PlanCommands().size() < 2) GTEST_SKIP() << "convscale was built without SimGrid";
  const std::string dir = ::testing::TempDir();
  const std::string a = dir + "/beside_a.json", b = dir + "/beside_b.json",
                    ps = dir + "/beside_ps.json";
  ASSERT_EQ(Convscale("plan --model resnet18 --cluster dgx-a100 --gpus 8 -o '" + a + "' 2>&1").code,
            0);
  ASSERT_EQ(Convscale("plan --model vgg11 --cluster dgx-a100 --gpus 16 -o '" + b + "' 2>&1").code,
            0);
  ASSERT_EQ(Convscale("plan --model resnet18 --cluster dgx-a100 --gpus 8 --strategy ps -o '" + ps +
                      "' 2>&1")
                .code,
            0);
  CliRun r = Convscale("simulate --plan '" + a + "' --beside '" + b +
                       "' --iterations 1 --warmup 0 --json 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["jobs"].size(), 2u);
  EXPECT_EQ(j["jobs"][0]["name"], a);
  EXPECT_EQ(j["jobs"][1]["devices"], 16);
  EXPECT_EQ(j["ranks"].size(), 24u);
  r = Convscale("simulate --plan '" + a + "' --beside '" + ps + "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(ps + ": /ranks/8: runs on server0, not on a device"), std::string::npos)
      << r.out;
  r = Convscale(
      "simulate --model resnet18 --cluster dgx-a100 --gpus 8 --single-gpu-throughput 900 "
      "--beside '" +
      b + "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("simulate --beside: this job is calibrated"), std::string::npos) << r.out;
}

TEST(PlanCli, TableOutput) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  CliRun r = Convscale("estimate --model resnet50 --cluster dgx-a100 --gpus 8 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* k : {"iteration time", "throughput", "speedup", "exposed communication",
                        "bytes moved", "peak memory"})
    EXPECT_NE(r.out.find(k), std::string::npos) << k << "\n" << r.out;
  // What the figures assumed: A100s train in bf16 by default, gradients travel in fp32.
  EXPECT_NE(r.out.find("predicted by             estimate (closed form)\n"
                       "assumed                  compute bf16, gradients fp32, global batch 256 "
                       "(32 per device)\n"),
            std::string::npos)
      << r.out;
  r = Convscale("estimate --model resnet50 --cluster dgx-a100 --gpus 8 --precision fp32 2>&1");
  EXPECT_NE(r.out.find("assumed                  compute fp32, gradients fp32"), std::string::npos)
      << r.out;
}

// The losses (docs/simulator.md, "Losses") are stated in every text summary, with the compute
// factor of 8 ranks on one node: (1 / 0.97) x (1 + 0.01 sqrt(2 ln 8)) = 1.05195 by default;
// --no-losses models none; bad values are refused naming the flag.
TEST(PlanCli, LossesAreStatedAndChecked) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  const std::string run = "estimate --model resnet50 --cluster dgx-a100 --gpus 8 ";
  // The summary's losses row for FLAGS.
  auto row = [&run](const std::string& flags) {
    const CliRun r = Convscale(run + flags + " 2>&1");
    EXPECT_EQ(r.code, 0) << r.out;
    const size_t at = r.out.find("\nlosses ");
    return at == std::string::npos ? r.out : r.out.substr(at + 1, r.out.find('\n', at + 1) - at);
  };
  EXPECT_EQ(row("--no-losses"), "losses                   none modelled\n");
  EXPECT_EQ(row(""),
            "losses                   loaded-node efficiency 0.97, compute-time CV 0.01, "
            "iteration overhead 0.0025 s (compute x1.0520)\n");
  EXPECT_EQ(row("--compute-cv 0.05 --iteration-overhead 0s"),
            "losses                   loaded-node efficiency 0.97, compute-time CV 0.05 (compute "
            "x1.1360)\n");
  CliRun r;
  r = Convscale(run + "--no-losses --compute-cv 0.05 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("convscale: --compute-cv excludes --no-losses\n", 0), 0u) << r.out;
  r = Convscale(run + "--loaded-node-efficiency 0 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out,
            "convscale: --loaded-node-efficiency 0: must be above 0 and at most 1 (a fraction of "
            "one device's speed alone)\n");
  r = Convscale(run + "--iteration-overhead 5 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("convscale: --iteration-overhead 5: ", 0), 0u) << r.out;
}

// A measured one-device throughput above the roofline (tf_cnn_benchmarks: VGG-16 on a P100 at
// 154 images/s; the direct-convolution roofline gives 107.6) is used as given, with a note.
TEST(PlanCli, ThroughputAboveTheRooflineIsUsedWithANote) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  const std::string args =
      "--model vgg16 --cluster dgx1-p100 --gpus 2 --batch 64 --strategy dp "
      "--single-gpu-throughput 154";
  CliRun r = Convscale("estimate " + args + " 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("note                     --single-gpu-throughput 154 is above the roofline "
                       "of vgg16 on one P100-SXM2-16GB at full efficiency (107.6 samples/s "
                       "at batch 64): used as given, every compute time scaled by 0.6988"),
            std::string::npos)
      << r.out;
  r = Convscale("estimate " + args + " --json 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const auto& o = j["context"]["options"];
  EXPECT_EQ(o["efficiency"], 1.0);
  EXPECT_NEAR(o["compute_scale"].get<double>(), 107.6 / 154, 0.0005);
  ASSERT_EQ(o["notes"].size(), 1u);
  // One device at the calibration trains the measured 154 samples/s: speedup is over it.
  EXPECT_NEAR(j["single_device_time_s"].get<double>(), 64.0 / 154, 1e-9);
}

}  // namespace
