// Timelines open in Perfetto: `simulate --trace` output for every strategy passes the Chrome
// Trace Event Format checker of tests/common/trace_schema.h, and the checker itself rejects what
// Perfetto rejects.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../common/cli_run.h"
#include "../common/trace_schema.h"

namespace convscale::testing {
namespace {

using nlohmann::json;

json Slice(int pid, int tid, double ts, double dur) {
  return {{"ph", "X"}, {"name", "s"}, {"pid", pid}, {"tid", tid}, {"ts", ts}, {"dur", dur}};
}

TEST(TraceSchema, AcceptsNestedAndSequentialSlices) {
  const json t = {
      {"displayTimeUnit", "ms"},
      {"traceEvents",
       {{{"ph", "M"}, {"name", "process_name"}, {"pid", 0}, {"args", {{"name", "rank 0"}}}},
        {{"ph", "M"}, {"name", "thread_name"}, {"pid", 0}, {"tid", 1}, {"args", {{"name", "c"}}}},
        Slice(0, 0, 0, 10),
        Slice(0, 0, 2, 3),
        Slice(0, 0, 10, 5),
        Slice(0, 1, 1, 20)}}};
  EXPECT_EQ(CheckChromeTrace(t), std::vector<std::string>{});
}

TEST(TraceSchema, RejectsPartialOverlapOnOneTrack) {
  const json t = {{"traceEvents", {Slice(3, 1, 0, 10), Slice(3, 1, 9.5, 1)}}};
  EXPECT_EQ(
      CheckChromeTrace(t),
      std::vector<std::string>{"event 1: overlaps event 0 on pid 3 tid 1 without nesting in it"});
}

TEST(TraceSchema, RejectsMissingFieldsAndBadValues) {
  json t = {{"displayTimeUnit", "s"},
            {"traceEvents",
             {{{"name", "x"}},
              {{"ph", "X"}, {"name", "a"}, {"pid", 0}, {"tid", 0}, {"ts", -1.0}, {"dur", 1}},
              {{"ph", "B"}, {"name", "b"}, {"pid", 0}},
              {{"ph", "M"}, {"name", "thread_name"}, {"pid", 0}, {"args", {{"name", "t"}}}}}}};
  EXPECT_EQ(CheckChromeTrace(t),
            (std::vector<std::string>{"root: displayTimeUnit must be \"ms\" or \"ns\"",
                                      "event 0: \"ph\" (a string) is required",
                                      "event 1: \"ts\" must be finite and non-negative",
                                      "event 2: phase \"B\" is not one convscale writes (X or M)",
                                      "event 3: thread_name needs an integer \"tid\""}));
  EXPECT_EQ(CheckChromeTrace(json::array()),
            std::vector<std::string>{"root: an object with a \"traceEvents\" array is required"});
}

class SimulatedTrace : public ::testing::TestWithParam<const char*> {};

// Each strategy's simulated timeline: valid, with compute and communication slices on separate
// tracks of every rank.
TEST_P(SimulatedTrace, IsAValidChromeTrace) {
  if (Convscale("simulate --help >/dev/null 2>&1").code != 0)
    GTEST_SKIP() << "convscale was built without SimGrid (no simulate command)";
  const std::string path = ::testing::TempDir() + "/trace.json";
  const std::string summary = ::testing::TempDir() + "/summary.txt";
  const CliRun r = Convscale(std::string("simulate ") + GetParam() + " --trace '" + path +
                             "' -o '" + summary + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(path);
  const json t = json::parse(in);
  EXPECT_EQ(CheckChromeTrace(t), std::vector<std::string>{});
  size_t compute = 0, comm = 0;
  for (const json& e : t["traceEvents"]) {
    if (e["ph"] != "X") continue;
    (e["tid"] == 0 ? compute : comm) += 1;
  }
  EXPECT_GT(compute, 0u);
  EXPECT_GT(comm, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Strategies, SimulatedTrace,
    ::testing::Values(
        // Overlapping bucket all-reduces: several communication lanes per rank.
        "--model resnet18 --cluster dgx-a100 --gpus 16 --strategy dp --bucket-size 4MiB --batch 32",
        "--model resnet18 --cluster dgx-a100 --gpus 4 --strategy mp --micro-batches 4 "
        "--schedule 1f1b --global-batch 64",
        "--model fashion_cnn --cluster cpu-minicluster --gpus 4 --strategy ps --servers 1 "
        "--global-batch 64",
        "--model resnet18 --cluster dgx-a100 --gpus 8 --strategy hybrid --hybrid dp-pp "
        "--stages 2 --micro-batches 2 --global-batch 64"));

}  // namespace
}  // namespace convscale::testing
