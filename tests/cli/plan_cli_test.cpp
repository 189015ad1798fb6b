// `convscale plan` and `convscale estimate`, run as the built binary: exit codes and JSON keys.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

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
        "compute_time_s", "comm_time_s", "exposed_comm_time_s", "bubble_time_s", "comm_bytes",
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

TEST(PlanCli, BadInputIsExitTwoWithAMessage) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  CliRun r = Convscale("estimate --model resnet50 --cluster dgx-a100 --strategy dq 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--strategy dq: not a strategy (dp, mp, ps, hybrid); did you mean"),
            std::string::npos)
      << r.out;
  r = Convscale("estimate --model resnet50 --cluster dgx-a100 --algorithm rign 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("did you mean \"ring\"?"), std::string::npos) << r.out;
  r = Convscale("estimate --model resnet50 --cluster dgx-a100 --gpus 2 --batch 4096 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("needs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--allow-oversubscribe"), std::string::npos) << r.out;
  r = Convscale(
      "estimate --model resnet50 --cluster dgx-a100 --gpus 2 --batch 4096 "
      "--allow-oversubscribe --json 2>&1 >/dev/null");
  EXPECT_EQ(r.code, 0) << r.out;
  r = Convscale("estimate --model resnet50 --cluster dgx-a100 --bucket-size 25Mo 2>&1");
  EXPECT_EQ(r.code, 2);
}

TEST(PlanCli, TableOutput) {
  if (!HasPlanCommand()) GTEST_SKIP() << "convscale was built without the plan commands";
  CliRun r = Convscale("estimate --model resnet50 --cluster dgx-a100 --gpus 8 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* k : {"iteration time", "throughput", "speedup", "exposed communication",
                        "bytes moved", "peak memory"})
    EXPECT_NE(r.out.find(k), std::string::npos) << k << "\n" << r.out;
}

}  // namespace
