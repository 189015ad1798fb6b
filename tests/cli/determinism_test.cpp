// Determinism (docs/ARCHITECTURE.md, "Determinism"): `plan`, `estimate --json`, `simulate` (its
// summary JSON, CSV and Chrome trace) and the reports (`select`, `whatif`, `report compare`
// folders) give byte-identical outputs for the same input. The only field allowed to differ is
// the context block's timestamp: each test runs twice with two different pinned timestamps
// (CONVSCALE_FIXED_TIMESTAMP), checks that every JSON output carries it in context.timestamp
// and nowhere else, masks it, and compares the rest byte for byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../common/cli_run.h"

namespace {

using namespace convscale::testing;  // NOLINT: RunCli, ReadTree, ScratchDir, ...
namespace fs = std::filesystem;

constexpr const char* kFirst = "2026-01-01T00:00:00Z";
constexpr const char* kSecond = "2031-12-31T23:59:59Z";

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

std::string Mask(std::string text, const std::string& timestamp) {
  for (size_t p = text.find(timestamp); p != std::string::npos; p = text.find(timestamp, p))
    text.replace(p, timestamp.size(), "<timestamp>");
  return text;
}

// A JSON output with a context block: the pinned timestamp is context.timestamp and appears
// nowhere else in the text.
void ExpectTimestampOnlyInContext(const std::string& name, const std::string& text,
                                  const std::string& timestamp) {
  const auto j = nlohmann::json::parse(text);
  ASSERT_TRUE(j.contains("context")) << name;
  EXPECT_EQ(j["context"].value("timestamp", ""), timestamp) << name;
  EXPECT_EQ(Count(text, timestamp), 1u) << name;
}

// The files a run wrote (paths relative to `dir`), removed afterwards so the second run writes
// them afresh under the same names.
std::map<std::string, std::string> Collect(const ScratchDir& dir) {
  auto files = ReadTree(dir.path());
  for (const auto& e : fs::directory_iterator(dir.path())) fs::remove_all(e.path());
  return files;
}

// Runs `args` twice (timestamps kFirst, kSecond) and returns the two runs' files under `dir`
// with stdout as the entry "<stdout>".
std::pair<std::map<std::string, std::string>, std::map<std::string, std::string>> Twice(
    const std::string& args, const ScratchDir& dir) {
  std::map<std::string, std::string> runs[2];
  for (int i = 0; i < 2; ++i) {
    const CliResult r = RunCli(args, {{"CONVSCALE_FIXED_TIMESTAMP", i == 0 ? kFirst : kSecond}});
    EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
    runs[i] = Collect(dir);
    runs[i]["<stdout>"] = r.out;
  }
  return {runs[0], runs[1]};
}

// Same files, same bytes once the timestamps are masked; JSON files carry the timestamp only in
// their context block. Returns how many files were compared.
size_t ExpectSameOutputs(const std::map<std::string, std::string>& a,
                         const std::map<std::string, std::string>& b) {
  EXPECT_EQ(a.size(), b.size());
  size_t compared = 0;
  for (const auto& [name, text] : a) {
    auto it = b.find(name);
    if (it == b.end()) {
      ADD_FAILURE() << name << " written by the first run only";
      continue;
    }
    const bool json = name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0 &&
                      text.find("\"context\"") != std::string::npos;
    if (json) {
      ExpectTimestampOnlyInContext(name, text, kFirst);
      ExpectTimestampOnlyInContext(name, it->second, kSecond);
    }
    EXPECT_EQ(Mask(text, kFirst), Mask(it->second, kSecond)) << name << " differs between runs";
    ++compared;
  }
  return compared;
}

TEST(Determinism, PlanIsByteIdenticalAndHasNoTimestamp) {
  if (!HasCommand("plan")) GTEST_SKIP() << "convscale was built without the plan commands";
  ScratchDir dir("det_plan");
  const auto [a, b] = Twice(
      "plan --model resnet18 --cluster dgx-a100-hdr200 --gpus 16 --strategy hybrid --stages 2 "
      "--micro-batches 4 --schedule 1f1b -o '" +
          dir / "plan.json" + "'",
      dir);
  ASSERT_EQ(a.count("plan.json"), 1u);
  // A plan has no timestamp at all (docs/plan-format.md): the bytes are equal unmasked.
  EXPECT_EQ(Count(a.at("plan.json"), kFirst), 0u);
  EXPECT_EQ(a.at("plan.json"), b.at("plan.json"));
  EXPECT_GT(a.at("plan.json").size(), 10000u);
}

TEST(Determinism, EstimateJson) {
  if (!HasCommand("estimate")) GTEST_SKIP() << "convscale was built without the plan commands";
  ScratchDir dir("det_estimate");
  const auto [a, b] = Twice(
      "estimate --model resnet50 --cluster dgx-a100-hdr200 --gpus 32 --strategy ps "
      "--ps-placement colocated --json -o '" +
          dir / "estimate.json" + "'",
      dir);
  EXPECT_EQ(ExpectSameOutputs(a, b), 2u);
}

TEST(Determinism, SimulateSummaryCsvAndTrace) {
  if (!HasCommand("simulate")) GTEST_SKIP() << "convscale was built without the simulator";
  ScratchDir dir("det_simulate");
  const auto [a, b] = Twice(
      "simulate --model resnet18 --cluster dgx-a100-hdr200 --gpus 16 --strategy dp "
      "--algorithm hierarchical --iterations 2 --warmup 1 --straggler 3:0.5 --json -o '" +
          dir / "summary.json" + "' --trace '" + dir / "trace.json" + "' --csv '" +
          dir / "summary.csv" + "'",
      dir);
  EXPECT_EQ(ExpectSameOutputs(a, b), 4u);  // three files and stdout
  EXPECT_GT(a.at("trace.json").size(), 10000u);
}

TEST(Determinism, SimulateFromAPlanFile) {
  if (!HasCommand("simulate")) GTEST_SKIP() << "convscale was built without the simulator";
  ScratchDir in("det_simulate_plan_in"), dir("det_simulate_plan");
  const CliResult p = RunCli(
      "plan --model resnet18 --cluster dgx-a100 --gpus 4 --strategy mp --micro-batches 4 "
      "--schedule 1f1b -o '" +
      in / "plan.json" + "'");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto [a, b] = Twice("simulate --plan '" + in / "plan.json" + "' --json -o '" +
                                dir / "summary.json" + "' --trace '" + dir / "trace.json" + "'",
                            dir);
  EXPECT_EQ(ExpectSameOutputs(a, b), 3u);
}

TEST(Determinism, SelectReportFolder) {
  if (!HasCommand("select")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("det_select");
  const bool sim = HasCommand("simulate");
  const auto [a, b] = Twice(
      "select --model resnet18 --cluster dgx-a100-hdr200 --gpus 16 "
      "--strategies dp,ps,mp --simulate-top " +
          std::string(sim ? "1" : "0") + " -o '" + dir / "report" + "'",
      dir);
  for (const char* f : {"report/index.html", "report/report.md", "report/report.json"})
    EXPECT_EQ(a.count(f), 1u) << f;
  EXPECT_GE(ExpectSameOutputs(a, b), 5u);
}

TEST(Determinism, WhatIfReportFolderWithVariantClusters) {
  if (!HasCommand("whatif")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("det_whatif");
  const auto [a, b] = Twice(
      "whatif --model resnet18 --cluster dgx-a100-hdr200 --gpus 1..32 --strategies dp,mp "
      "--vary network.bandwidth=0.5x --vary batch=2x -o '" +
          dir / "report" + "'",
      dir);
  EXPECT_EQ(a.count("report/clusters/network.bandwidth_0.5x.json"), 1u);
  EXPECT_GE(ExpectSameOutputs(a, b), 6u);
}

TEST(Determinism, ReportCompareFolder) {
  if (!HasCommand("simulate") || !HasCommand("report compare"))
    GTEST_SKIP() << "convscale was built without the simulator or the reports";
  ScratchDir in("det_compare_in"), dir("det_compare");
  const std::string common = " --model resnet18 --cluster dgx-a100 --gpus 8 --strategy dp";
  ASSERT_EQ(RunCli("estimate" + common + " --json -o '" + in / "estimate.json" + "'").code, 0);
  ASSERT_EQ(RunCli("simulate" + common + " --json -o '" + in / "simulated.json" + "'").code, 0);
  const auto [a, b] = Twice("report compare '" + in / "estimate.json" + "' '" +
                                in / "simulated.json" + "' -o '" + dir / "report" + "'",
                            dir);
  EXPECT_EQ(a.count("report/report.json"), 1u);
  EXPECT_GE(ExpectSameOutputs(a, b), 4u);
}

}  // namespace
