// `convscale sweep` and `convscale sweep merge`, run as the built binary on small cases
// (fashion_cnn on cpu-minicluster): the files a sweep writes, that its numbers are the ones
// `simulate` and `estimate` give for the same point, that shards merge to the bytes of an
// unsharded run, and the exact messages for bad input.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../common/cli_run.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using convscale::testing::CliRun;

// Runs convscale with a pinned context timestamp, so outputs can be compared byte for byte.
CliRun Convscale(const std::string& args) {
  setenv("CONVSCALE_FIXED_TIMESTAMP", "2026-01-01T00:00:00Z", 1);
  return convscale::testing::Convscale(args);
}

bool HasSweep() {
  return Convscale("sweep --help >/dev/null 2>&1").code == 0;
}
bool HasSimulate() {
  return Convscale("simulate --help >/dev/null 2>&1").code == 0;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The data rows of a CSV written by the report writers (after the "# key: value" context).
std::vector<std::string> CsvRows(const fs::path& p) {
  std::vector<std::string> rows;
  for (const std::string& l : Lines(Read(p)))
    if (l.rfind("# ", 0) != 0) rows.push_back(l);
  return rows;
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

fs::path Fresh(const std::string& name) {
  const fs::path d = fs::path(::testing::TempDir()) / name;
  fs::remove_all(d);
  return d;
}

// The sweep.json point of (strategy, gpus, variant).
const json& PointOf(const json& sweep, const std::string& strategy, int gpus,
                    const std::string& variant = "baseline") {
  static const json none;
  for (const json& p : sweep["sweeps"][0]["points"])
    if (p["strategy"] == strategy && p["gpus"] == gpus && p["variant"] == variant) return p;
  ADD_FAILURE() << "no point " << strategy << " " << gpus << " " << variant;
  return none;
}

const char kSmall[] = "--model fashion_cnn --cluster cpu-minicluster --strategies dp,mp --gpus 1,2";

TEST(SweepCli, WritesOneSummaryPerPointAndTheCombinedFiles) {
  if (!HasSweep() || !HasSimulate()) GTEST_SKIP() << "convscale was built without sweep/simulate";
  const fs::path d = Fresh("sweep-small");
  CliRun r = Convscale(std::string("sweep ") + kSmall + " --jobs 2 -o '" + d.string() + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  // Plain progress lines when stderr is not a terminal, one per point.
  EXPECT_NE(r.out.find("convscale: sweep: 4/4 "), std::string::npos) << r.out;
  EXPECT_EQ(Names(d / "points"),
            (std::vector<std::string>{"0000-dp-1gpu-baseline.json", "0001-dp-2gpu-baseline.json",
                                      "0002-mp-1gpu-baseline.json", "0003-mp-2gpu-baseline.json"}));
  for (const char* f : {"sweep.json", "sweep.csv", "report.md", "index.html"})
    EXPECT_TRUE(fs::exists(d / f)) << f;

  const json sweep = json::parse(Read(d / "sweep.json"));
  EXPECT_EQ(sweep["context"]["kind"], "sweep");
  EXPECT_EQ(sweep["context"]["inputs"]["gpus"], json({1, 2}));
  EXPECT_EQ(sweep["context"]["inputs"]["evaluator"], "simulate");
  ASSERT_EQ(sweep["sweeps"][0]["points"].size(), 4u);

  // Each row carries the numbers of its point's summary, and the summary is the simulator's.
  const json dp2 = json::parse(Read(d / "points" / "0001-dp-2gpu-baseline.json"));
  EXPECT_EQ(dp2["context"]["sweep_point"],
            json({{"index", 1}, {"strategy", "dp"}, {"gpus", 2}, {"variant", "baseline"}}));
  const json& row = PointOf(sweep, "dp", 2);
  EXPECT_EQ(row["status"], "ok");
  EXPECT_EQ(row["predicted_by"], "simulate");
  for (const char* k : {"iteration_time_s", "throughput_samples_per_s", "speedup",
                        "scaling_efficiency", "comm_time_s", "exposed_comm_time_s"})
    EXPECT_EQ(row[k].get<double>(), dp2[k].get<double>()) << k;
  EXPECT_GT(row["comm_time_s"].get<double>(), 0);
  // The simulator rounds its outputs to 12 significant digits.
  EXPECT_NEAR(row["scaling_efficiency"].get<double>(), row["speedup"].get<double>() / 2, 1e-11);
  CliRun sim = Convscale(
      "simulate --model fashion_cnn --cluster cpu-minicluster --gpus 2 --strategy dp --json "
      "2>/dev/null");
  ASSERT_EQ(sim.code, 0) << sim.out;
  EXPECT_EQ(json::parse(sim.out)["iteration_time_s"].get<double>(),
            row["iteration_time_s"].get<double>());

  // One CSV row per point, sorted by strategy, variant, gpus.
  const auto rows = CsvRows(d / "sweep.csv");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0],
            "model,cluster,strategy,variant,gpus,label,predicted_by,fits,iteration_time_s,"
            "throughput_samples_per_s,speedup,ideal_speedup,scaling_efficiency,samples_per_dollar,"
            "comm_time_s,exposed_comm_time_s,memory_peak_bytes,status,reason");
  EXPECT_EQ(rows[1].rfind("fashion_cnn,cpu-minicluster,dp,baseline,1,", 0), 0u) << rows[1];
  EXPECT_EQ(rows[4].rfind("fashion_cnn,cpu-minicluster,mp,baseline,2,", 0), 0u) << rows[4];
  EXPECT_NE(rows[2].find(",simulate,true,"), std::string::npos) << rows[2];
}

TEST(SweepCli, ShardsMergeToTheBytesOfAnUnshardedRun) {
  if (!HasSweep() || !HasSimulate()) GTEST_SKIP() << "convscale was built without sweep/simulate";
  const fs::path whole = Fresh("sweep-whole"), s1 = Fresh("sweep-s1"), s2 = Fresh("sweep-s2"),
                 merged = Fresh("sweep-merged");
  ASSERT_EQ(Convscale(std::string("sweep ") + kSmall + " --jobs 1 -o '" + whole.string() +
                      "' >/dev/null 2>&1")
                .code,
            0);
  // Shards with another --jobs: the output must not depend on it either.
  ASSERT_EQ(Convscale(std::string("sweep ") + kSmall + " --jobs 2 --shard 1/2 -o '" + s1.string() +
                      "' >/dev/null 2>&1")
                .code,
            0);
  ASSERT_EQ(Convscale(std::string("sweep ") + kSmall + " --jobs 2 --shard 2/2 -o '" + s2.string() +
                      "' >/dev/null 2>&1")
                .code,
            0);
  // Shard I/N runs the points whose index mod N is I-1.
  EXPECT_EQ(Names(s1 / "points"),
            (std::vector<std::string>{"0000-dp-1gpu-baseline.json", "0002-mp-1gpu-baseline.json"}));
  EXPECT_EQ(Names(s2 / "points"),
            (std::vector<std::string>{"0001-dp-2gpu-baseline.json", "0003-mp-2gpu-baseline.json"}));
  EXPECT_EQ(json::parse(Read(s2 / "sweep.json"))["context"]["shard"], "2/2");
  EXPECT_EQ(CsvRows(s1 / "sweep.csv").size(), 3u);

  CliRun m = Convscale("sweep merge '" + s2.string() + "' '" + s1.string() + "' -o '" +
                       merged.string() + "' 2>&1");
  ASSERT_EQ(m.code, 0) << m.out;
  for (const char* f : {"sweep.csv", "sweep.json", "report.md", "index.html"})
    EXPECT_EQ(Read(merged / f), Read(whole / f)) << f;
  ASSERT_EQ(Names(merged / "points"), Names(whole / "points"));
  for (const std::string& f : Names(whole / "points"))
    EXPECT_EQ(Read(merged / "points" / f), Read(whole / "points" / f)) << f;
  // Without the pinned timestamp the context's timestamp is the only difference.
  EXPECT_NE(Read(whole / "sweep.json").find("\"timestamp\": \"2026-01-01T00:00:00Z\""),
            std::string::npos);
}

TEST(SweepCli, PointsThatDoNotFitOrFailAreRowsWithTheReason) {
  if (!HasSweep()) GTEST_SKIP() << "convscale was built without sweep";
  const fs::path d = Fresh("sweep-rows");
  CliRun r = Convscale(
      "sweep --model fashion_cnn --cluster cpu-minicluster --strategies dp,hybrid --gpus 1,2 "
      "--vary batch=4096x --estimate-only -o '" +
      d.string() + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("8 points: 3 ok, 3 do not fit, 2 failed"), std::string::npos) << r.out;
  const json sweep = json::parse(Read(d / "sweep.json"));
  ASSERT_EQ(sweep["sweeps"][0]["points"].size(), 8u);
  // A hybrid needs at least two devices: the lowering's message is the reason.
  const json& h1 = PointOf(sweep, "hybrid", 1);
  EXPECT_EQ(h1["status"], "failed");
  EXPECT_EQ(h1["reason"], "--stages 2: only 1 devices are used");
  EXPECT_EQ(h1["throughput_samples_per_s"], 0);
  // 131072 samples per device do not fit in a 6 GiB socket: the memory check's message.
  const json& big = PointOf(sweep, "dp", 2, "batch=4096x");
  EXPECT_EQ(big["status"], "does-not-fit");
  EXPECT_FALSE(big["fits"].get<bool>());
  EXPECT_EQ(big["reason"].get<std::string>().rfind("endpoint node0/socket0 needs ", 0), 0u)
      << big["reason"];
  EXPECT_GT(big["memory_peak_bytes"].get<double>(), 6.0 * (1 << 30));
  const json nofit = json::parse(Read(d / "points" / "0005-dp-2gpu-batch_4096x.json"));
  EXPECT_EQ(nofit["status"], "does-not-fit");
  // --estimate-only gives `estimate --json`'s numbers.
  const json& dp2 = PointOf(sweep, "dp", 2);
  EXPECT_EQ(dp2["status"], "ok");
  EXPECT_EQ(dp2["predicted_by"], "estimate");
  CliRun est = Convscale(
      "estimate --model fashion_cnn --cluster cpu-minicluster --gpus 2 --strategy dp --json "
      "2>/dev/null");
  ASSERT_EQ(est.code, 0) << est.out;
  EXPECT_EQ(json::parse(est.out)["iteration_time_s"].get<double>(),
            dp2["iteration_time_s"].get<double>());
}

TEST(SweepCli, GpuListsWithAnEllipsis) {
  if (!HasSweep()) GTEST_SKIP() << "convscale was built without sweep";
  const fs::path d = Fresh("sweep-ellipsis");
  ASSERT_EQ(Convscale("sweep --model fashion_cnn --cluster cpu-minicluster --strategies dp "
                      "--gpus 1,2,...,16 --estimate-only -o '" +
                      d.string() + "' >/dev/null 2>&1")
                .code,
            0);
  EXPECT_EQ(json::parse(Read(d / "sweep.json"))["context"]["inputs"]["gpus"],
            json({1, 2, 4, 8, 16}));
  const fs::path e = Fresh("sweep-ellipsis-steps");
  ASSERT_EQ(Convscale("sweep --model fashion_cnn --cluster cpu-minicluster --strategies dp "
                      "--gpus 2,4,6,...,12 --estimate-only -o '" +
                      e.string() + "' >/dev/null 2>&1")
                .code,
            0);
  EXPECT_EQ(json::parse(Read(e / "sweep.json"))["context"]["inputs"]["gpus"],
            json({2, 4, 6, 8, 10, 12}));
}

TEST(SweepCli, BadInputIsExitTwoWithAnExactMessage) {
  if (!HasSweep()) GTEST_SKIP() << "convscale was built without sweep";
  const std::string base = "sweep --model fashion_cnn --cluster cpu-minicluster --estimate-only ";
  const fs::path d = Fresh("sweep-bad");
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"--strategies dp,pz --gpus 1,2",
       "convscale: --strategies dp,pz: unknown strategy \"pz\"; did you mean \"ps\"?\n"},
      {"--gpus 1,2 --shard 3/2", "convscale: --shard 3/2: the shard must be from 1 to 2\n"},
      {"--gpus 1,2 --shard 0/2", "convscale: --shard 0/2: the shard must be from 1 to 2\n"},
      {"--gpus 1,2 --shard 1/0",
       "convscale: --shard 1/0: the number of shards must be at least 1\n"},
      {"--gpus '' ", "convscale: sweep: --gpus is required (e.g. 1,2,4,...,64)\n"},
      {"--gpus , ",
       "convscale: --gpus ,: an empty entry (two commas in a row, or one at an end); write a "
       "list such as 1,2,4,8\n"},
      {"--gpus 1,2 --strategies dp,dp", "convscale: --strategies dp,dp: \"dp\" is given twice\n"},
  };
  for (const Case& c : cases) {
    CliRun r = Convscale(base + c.args + " -o '" + d.string() + "' 2>&1");
    EXPECT_EQ(r.code, 2) << c.args;
    EXPECT_EQ(r.out, c.message) << c.args;
  }
  EXPECT_FALSE(fs::exists(d)) << "bad input must not leave an output folder";

  // Shards of different sweeps do not merge; nor does an incomplete set.
  const fs::path a = Fresh("sweep-merge-a"), b = Fresh("sweep-merge-b"), out = Fresh("sweep-m");
  ASSERT_EQ(Convscale(base + "--strategies dp --gpus 1,2 --shard 1/2 -o '" + a.string() +
                      "' >/dev/null 2>&1")
                .code,
            0);
  ASSERT_EQ(Convscale(base + "--strategies dp --gpus 1,4 --shard 2/2 -o '" + b.string() +
                      "' >/dev/null 2>&1")
                .code,
            0);
  CliRun r = Convscale("sweep merge '" + a.string() + "' '" + b.string() + "' -o '" + out.string() +
                       "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "convscale: " + (b / "sweep.json").string() +
                       ": /context/inputs/gpus: [1,4] differs from " + (a / "sweep.json").string() +
                       "'s [1,2]; only shards of one sweep can be merged\n");
  r = Convscale("sweep merge '" + a.string() + "' -o '" + out.string() + "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out,
            "convscale: sweep merge: the sweep is incomplete: shard 2/2 is missing (1 of 2 points: "
            "dp 2 GPUs baseline); give the folders of all the shards\n");
  // A shard that did not finish (a killed array task) leaves a folder without sweep.json.
  const fs::path killed = Fresh("sweep-merge-killed");
  fs::create_directories(killed / "points");
  r = Convscale("sweep merge '" + a.string() + "' '" + killed.string() + "' -o '" + out.string() +
                "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out,
            "convscale: sweep merge: the sweep is incomplete: shard 2/2 is missing (1 of 2 "
            "points: dp 2 GPUs baseline); " +
                killed.string() +
                ": no sweep.json (a shard that did not finish: killed, failed or still "
                "running); give the folders of all the shards\n");
  r = Convscale("sweep merge '" + a.string() + "' '" + a.string() + "' -o '" + out.string() +
                "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "convscale: " + (a / "sweep.json").string() +
                       ": the point dp, 1 GPUs, baseline is also in " +
                       (a / "sweep.json").string() + " (the same shard given twice?)\n");
}

// Shard folders edited by hand: a null or impossible shard, shards of different counts, a
// point's summary missing, a folder or null in its place, a summary that is not JSON. Each is
// refused with the file and the place, and no merged folder appears.
TEST(SweepCli, MergeRefusesEditedShardFolders) {
  if (!HasSweep()) GTEST_SKIP() << "convscale was built without sweep";
  const std::string base =
      "sweep --model fashion_cnn --cluster cpu-minicluster --estimate-only --strategies dp "
      "--gpus 1,2 ";
  const fs::path a = Fresh("sweep-edit-a"), b = Fresh("sweep-edit-b");
  ASSERT_EQ(Convscale(base + "--shard 1/2 -o '" + a.string() + "' >/dev/null 2>&1").code, 0);
  ASSERT_EQ(Convscale(base + "--shard 2/2 -o '" + b.string() + "' >/dev/null 2>&1").code, 0);
  const std::string b_json = Read(b / "sweep.json");
  const fs::path b_point = b / "points" / "0001-dp-2gpu-baseline.json";
  const std::string b_point_text = Read(b_point);
  const fs::path out = Fresh("sweep-edit-out");
  auto merge = [&] {
    CliRun r = Convscale("sweep merge '" + a.string() + "' '" + b.string() + "' -o '" +
                         out.string() + "' 2>&1");
    EXPECT_FALSE(fs::exists(out));
    return r;
  };
  auto set_shard = [&](const json& value) {
    json j = json::parse(b_json);
    j["context"]["shard"] = value;
    std::ofstream(b / "sweep.json") << j.dump(2);
  };
  const std::string where = "convscale: " + (b / "sweep.json").string() + ": /context/shard: ";
  set_shard(nullptr);
  CliRun r = merge();
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, where + "expected \"I/N\", the shard I of N (from 1), found null\n");
  set_shard("3/2");
  r = merge();
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, where + "expected \"I/N\", the shard I of N (from 1), found \"3/2\"\n");
  set_shard("2/3");
  r = merge();
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, where + "a shard of 3, " + (a / "sweep.json").string() +
                       " one of 2; only shards of one sweep can be merged\n");
  std::ofstream(b / "sweep.json") << b_json;

  const std::string summary = "(the summary of dp, 2 GPUs, baseline in " +
                              (b / "sweep.json").string() + "); rerun that shard\n";
  fs::remove(b_point);
  r = merge();
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "convscale: sweep merge: " + b_point.string() + ": missing " + summary);
  fs::create_directory(b_point);
  r = merge();
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "convscale: sweep merge: " + b_point.string() + ": not a file " + summary);
  fs::remove(b_point);
  std::ofstream(b_point) << "null\n";
  r = merge();
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "convscale: " + b_point.string() + ": expected an object, found null\n");
  std::ofstream(b_point) << "{\"context\": nul";
  r = merge();
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(
      r.out.rfind("convscale: " + b_point.string() + ": line 1, column 16: not valid JSON", 0), 0u)
      << r.out;

  // Restored, the shards merge; only the points of the sweep are copied.
  std::ofstream(b_point) << b_point_text;
  std::ofstream(b / "points" / "stray.json") << "{}\n";
  r = Convscale("sweep merge '" + a.string() + "' '" + b.string() + "' -o '" + out.string() +
                "' 2>/dev/null");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(Names(out / "points"),
            (std::vector<std::string>{"0000-dp-1gpu-baseline.json", "0001-dp-2gpu-baseline.json"}));
  EXPECT_EQ(Read(out / "points" / "0001-dp-2gpu-baseline.json"), b_point_text);
}

}  // namespace
