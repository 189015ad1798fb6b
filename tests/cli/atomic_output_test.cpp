// A failed run leaves earlier outputs as they were (docs/ARCHITECTURE.md, "Error policy"): each
// test writes outputs with a successful run, then runs a command that fails late (after the
// inputs were read and the work was done, or on one of several outputs) into the same places,
// and checks the exit code, the message and that every earlier file is byte-identical, with no
// temporary file left beside it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "../common/cli_run.h"

namespace {

using namespace convscale::testing;  // NOLINT: RunCli, ReadTree, ScratchDir, ...

// A small sweep, estimated (add --gpus and -o).
const std::string kSmallSweep =
    "sweep --cluster cpu-minicluster --model fashion_cnn --strategies dp --estimate-only --jobs 1";

// Puts a folder where an output file was, so that the next run cannot replace it and fails when
// it writes its outputs.
void MakeUnreplaceable(const std::string& file) {
  std::filesystem::remove(file);
  std::filesystem::create_directory(file);
}

TEST(AtomicOutput, PlanThatDoesNotFitKeepsTheEarlierPlan) {
  if (!HasCommand("plan")) GTEST_SKIP() << "convscale was built without the plan commands";
  ScratchDir dir("atomic_plan");
  const std::string out = dir / "plan.json";
  ASSERT_EQ(RunCli("plan --model resnet18 --cluster dgx-a100 --gpus 2 -o '" + out + "'").code, 0);
  const auto before = ReadTree(dir.path());
  ASSERT_EQ(before.size(), 1u);
  // The memory check runs after the whole plan was lowered.
  const CliResult r =
      RunCli("plan --model vgg16 --cluster dgx1-p100 --gpus 1 --batch 1024 -o '" + out + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("convscale: endpoint node0/gpu0 needs 84.0 GiB but has 16.0 GiB", 0), 0u)
      << r.err;
  EXPECT_EQ(ReadTree(dir.path()), before);
}

TEST(AtomicOutput, EstimateWithABadProfileKeepsTheEarlierSummary) {
  if (!HasCommand("estimate")) GTEST_SKIP() << "convscale was built without the plan commands";
  ScratchDir dir("atomic_estimate");
  const std::string out = dir / "estimate.json";
  const std::string args =
      "estimate --model resnet18 --cluster dgx-a100 --gpus 4 --json -o '" + out + "'";
  ASSERT_EQ(RunCli(args).code, 0);
  const auto before = ReadTree(dir.path());
  // The profile is read after the plan was lowered and its memory checked.
  const CliResult r = RunCli(args + " --profile '" + dir / "missing-profile.json" + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "convscale: " + dir / "missing-profile.json" +
                       ": cannot open: No such file or directory\n");
  EXPECT_EQ(ReadTree(dir.path()), before);
}

TEST(AtomicOutput, SimulateWritesAllItsOutputsOrNone) {
  if (!HasCommand("simulate")) GTEST_SKIP() << "convscale was built without the simulator";
  ScratchDir dir("atomic_simulate");
  const std::string base = "simulate --model resnet18 --cluster dgx-a100 --gpus 4 --iterations 1";
  const std::string outs = " --json -o '" + dir / "summary.json" + "' --trace '" +
                           dir / "trace.json" + "' --csv '" + dir / "summary.csv" + "'";
  ASSERT_EQ(RunCli(base + outs).code, 0);
  const auto before = ReadTree(dir.path());
  ASSERT_EQ(before.size(), 3u);

  // Another model, so every output would change; the CSV's folder does not exist: the trace
  // (made first) and the summary must not be replaced either.
  const CliResult r =
      RunCli("simulate --model resnet50 --cluster dgx-a100 --gpus 4 --iterations 1 --json -o '" +
             dir / "summary.json" + "' --trace '" + dir / "trace.json" + "' --csv '" +
             dir / "no-such-folder/summary.csv" + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "convscale: " + dir / "no-such-folder/summary.csv" +
                       ": cannot write: directory " + dir / "no-such-folder" + " does not exist\n");
  EXPECT_EQ(ReadTree(dir.path()), before);

  // A straggler naming a rank the plan does not have is found after lowering.
  const CliResult s = RunCli(base + outs + " --straggler 9:0.5");
  EXPECT_EQ(s.code, 2);
  EXPECT_NE(s.err.find("--straggler"), std::string::npos) << s.err;
  EXPECT_EQ(ReadTree(dir.path()), before);

  // An output that is a folder.
  const CliResult t = RunCli(base + " --json -o '" + dir / "summary.json" + "' --trace '" +
                             dir.path().string() + "'");
  EXPECT_EQ(t.code, 2);
  EXPECT_EQ(t.err, "convscale: " + dir.path().string() +
                       ": cannot write: it is a directory; give a file name\n");
  EXPECT_EQ(ReadTree(dir.path()), before);
}

TEST(AtomicOutput, FailedWhatIfKeepsTheReportFolderAndItsClusters) {
  if (!HasCommand("whatif")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("atomic_whatif");
  const std::string out = dir / "report";
  ASSERT_EQ(RunCli("whatif --model resnet18 --cluster dgx-a100 --gpus 1,2,4 --strategies dp "
                   "--vary network.bandwidth=2x -o '" +
                   out + "'")
                .code,
            0);
  const auto before = ReadTree(dir.path());
  ASSERT_EQ(before.count("report/clusters/network.bandwidth_2x.json"), 1u);
  ASSERT_EQ(before.count("report/report.json"), 1u);
  // Another cluster (so the variant cluster file would differ); the second variant fails after
  // the first variant's cluster was made.
  const CliResult r = RunCli(
      "whatif --model resnet18 --cluster dgx-a100-hdr200 --gpus 1,2,4 --strategies dp "
      "--vary network.bandwidth=2x --vary batch=0.001x -o '" +
      out + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "convscale: --vary batch=0.001x: the batch per device drops below 1\n");
  EXPECT_EQ(ReadTree(dir.path()), before);
}

// Every entry under `dir` (files and folders), relative to it: a failed run leaves no stray one.
std::set<std::string> Entries(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    names.insert(std::filesystem::relative(e.path(), dir).string());
  return names;
}

TEST(AtomicOutput, WhatIfWritesItsClustersWithTheReport) {
  if (!HasCommand("whatif")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("atomic_whatif_late");
  const std::string out = dir / "report";
  const std::string args =
      " --model resnet18 --gpus 1,2 --strategies dp --estimate-only "
      "--vary network.bandwidth=2x -o '" +
      out + "'";
  ASSERT_EQ(RunCli("whatif --cluster dgx-a100" + args).code, 0);
  // report.md cannot be replaced: the run fails after every variant cluster was made.
  MakeUnreplaceable(dir / "report/report.md");
  const auto before = ReadTree(dir.path());
  const auto entries = Entries(dir.path());
  ASSERT_EQ(before.count("report/clusters/network.bandwidth_2x.json"), 1u);
  // Another cluster: its variant would differ from the one written.
  const CliResult r = RunCli("whatif --cluster dgx-a100-hdr200" + args);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.substr(r.err.find("convscale: ")),
            "convscale: " + dir / "report/report.md" +
                ": cannot write: it is a directory; give a file name\n");
  EXPECT_EQ(ReadTree(dir.path()), before);
  EXPECT_EQ(Entries(dir.path()), entries);
}

TEST(AtomicOutput, FailedSweepKeepsTheEarlierSweepAndMakesNothing) {
  if (!HasCommand("sweep")) GTEST_SKIP() << "convscale was built without the sweep";
  ScratchDir dir("atomic_sweep");
  const std::string out = dir / "sweep";
  const std::string args =
      " --model fashion_cnn --strategies dp --gpus 1,2 --estimate-only "
      "--jobs 1 --vary network.bandwidth=2x";
  ASSERT_EQ(RunCli("sweep --cluster cpu-minicluster" + args + " -o '" + out + "'").code, 0);
  {
    const auto written = ReadTree(dir.path());
    EXPECT_EQ(written.count("sweep/clusters/network.bandwidth_2x.json"), 1u);
    EXPECT_EQ(written.count("sweep/points/0003-dp-2gpu-network.bandwidth_2x.json"), 1u);
    EXPECT_EQ(Entries(out).count(".partial"), 0u);
  }
  // sweep.csv cannot be replaced: the run fails once every point ran on another cluster (every
  // point, the variant cluster and the combined files would change).
  MakeUnreplaceable(dir / "sweep/sweep.csv");
  const auto before = ReadTree(dir.path());
  const auto entries = Entries(dir.path());
  const CliResult r = RunCli("sweep --cluster dgx-a100" + args + " -o '" + out + "'");
  EXPECT_EQ(r.code, 2);
  // The last line: the progress lines come first.
  EXPECT_EQ(r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1),
            "convscale: " + dir / "sweep/sweep.csv" +
                ": cannot write: it is a directory; give a file name\n");
  EXPECT_EQ(ReadTree(dir.path()), before);
  EXPECT_EQ(Entries(dir.path()), entries);

  // A new folder: the second variant is refused after the first variant's cluster was made, and
  // no folder appears.
  const CliResult s = RunCli("sweep --cluster cpu-minicluster" + args + " -o '" + dir / "new" +
                             "' --vary cluster=missing.json");
  EXPECT_EQ(s.code, 2);
  EXPECT_EQ(s.err,
            "convscale: \"missing.json\" is neither a built-in cluster nor a file (run "
            "\"convscale clusters\" for the list)\n");
  EXPECT_EQ(Entries(dir.path()), entries);
}

// A what-if whose name makes its cluster's file name longer than a folder entry may be (255
// bytes) fails when the sweep's files are written, after every point ran: the folders the run
// made for them (clusters/, points/, the output folder and its parents) are removed again.
TEST(AtomicOutput, SweepFailingAtTheWriteLeavesNoFolderOfItsOwn) {
  if (!HasCommand("sweep")) GTEST_SKIP() << "convscale was built without the sweep";
  ScratchDir dir("atomic_sweep_write");
  const std::string args = kSmallSweep + " --gpus 1";
  const std::string long_vary = "network.bandwidth=2." + std::string(250, '0') + "x";
  const std::string cluster_file = "network.bandwidth_2." + std::string(250, '0') + "x.json";
  auto last_line = [](const std::string& err) {
    return err.substr(err.rfind('\n', err.size() - 2) + 1);
  };

  // Into a new folder under folders that do not exist: nothing is left.
  const std::string fresh = dir / "a/b/sweep";
  const CliResult r = RunCli(args + " --vary " + long_vary + " -o '" + fresh + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(last_line(r.err), "convscale: " + fresh + "/clusters/" + cluster_file +
                                  ": cannot write: cannot create a file in " + fresh +
                                  "/clusters: File name too long\n");
  EXPECT_EQ(Entries(dir.path()), std::set<std::string>{});

  // Into an earlier sweep that has no clusters/: it stays as it was, with no empty clusters/.
  ASSERT_EQ(RunCli(args + " -o '" + fresh + "'").code, 0);
  const auto before = ReadTree(dir.path());
  const auto entries = Entries(dir.path());
  ASSERT_EQ(entries.count("a/b/sweep/points/0000-dp-1gpu-baseline.json"), 1u);
  const CliResult s = RunCli(args + " --vary " + long_vary + " -o '" + fresh + "'");
  EXPECT_EQ(s.code, 2);
  EXPECT_EQ(last_line(s.err), last_line(r.err));
  EXPECT_EQ(ReadTree(dir.path()), before);
  EXPECT_EQ(Entries(dir.path()), entries);
}

TEST(AtomicOutput, FailedCompareKeepsTheReportFolder) {
  if (!HasCommand("simulate") || !HasCommand("report compare"))
    GTEST_SKIP() << "convscale was built without the simulator or the reports";
  ScratchDir in("atomic_compare_in"), dir("atomic_compare");
  const std::string common = " --model resnet18 --cluster dgx-a100 --gpus 4 --iterations 1";
  ASSERT_EQ(RunCli("simulate" + common + " --json -o '" + in / "a.json" + "'").code, 0);
  ASSERT_EQ(
      RunCli("simulate" + common + " --json --straggler 1:0.5 -o '" + in / "b.json" + "'").code, 0);
  const std::string out = dir / "report";
  ASSERT_EQ(
      RunCli("report compare '" + in / "a.json" + "' '" + in / "b.json" + "' -o '" + out + "'")
          .code,
      0);
  const auto before = ReadTree(dir.path());
  ASSERT_GE(before.size(), 4u);
  const CliResult r = RunCli("report compare '" + in / "b.json" + "' '" + in / "missing.json" +
                             "' -o '" + out + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "convscale: " + in / "missing.json" + ": cannot open: No such file or directory\n");
  EXPECT_EQ(ReadTree(dir.path()), before);
}

TEST(AtomicOutput, UnwritableReportFolderIsBadInput) {
  if (!HasCommand("select")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("atomic_select");
  const std::string file = dir / "a-file";
  { std::ofstream(file) << "not a folder\n"; }
  const CliResult r = RunCli(
      "select --model resnet18 --cluster dgx-a100 --gpus 2 --strategies dp "
      "--simulate-top 0 -o '" +
      file + "/report'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.substr(r.err.find("convscale: ")),
            "convscale: " + file + "/report: cannot create the report folder: Not a directory\n");
  EXPECT_EQ(ReadBytes(file), "not a folder\n");
}

TEST(AtomicOutput, ReportFolderIsWrittenAllOrNothing) {
  if (!HasCommand("select")) GTEST_SKIP() << "convscale was built without the reports";
  ScratchDir dir("atomic_select_folder");
  const std::string out = dir / "report";
  const std::string args = " --cluster dgx-a100 --gpus 2 --strategies dp --simulate-top 0 -o '";
  ASSERT_EQ(RunCli("select --model resnet18" + args + out + "'").code, 0);
  // report.md (written after report.json and the CSV) cannot be replaced: none of the files is.
  MakeUnreplaceable(dir / "report/report.md");
  const auto before = ReadTree(dir.path());
  ASSERT_EQ(before.count("report/report.json"), 1u);
  const CliResult r = RunCli("select --model resnet50" + args + out + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.substr(r.err.find("convscale: ")),
            "convscale: " + dir / "report/report.md" +
                ": cannot write: it is a directory; give a file name\n");
  EXPECT_EQ(ReadTree(dir.path()), before);
  // A new folder appears whole: written under a temporary name, then renamed.
  const std::string fresh = dir / "fresh/report";
  ASSERT_EQ(RunCli("select --model resnet50" + args + fresh + "'").code, 0);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir / "fresh"))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"report"});
  EXPECT_EQ(ReadTree(fresh).size(), before.size() + 1);  // report.md too
}

// The commands that write one file (model show and export, cluster show and export-simgrid):
// a run that fails after an earlier one wrote the file leaves it byte-identical, with no
// temporary file beside it.
TEST(AtomicOutput, OneFileCommandsKeepTheEarlierFile) {
  struct Command {
    std::string needs, good, bad, message;  // bad: {} is the output file
  };
  const std::vector<Command> commands = {
      {"model show", "model show resnet18 --json", "model show resnet18.json --json",
       "convscale: unknown model \"resnet18.json\"; did you mean \"resnet18\"? (not a zoo model "
       "and no such file; run \"convscale models\" for the list)\n"},
      {"model export", "model export resnet18", "model export resnet5",
       "convscale: unknown model \"resnet5\"; did you mean \"resnet50\"? (not a zoo model and no "
       "such file; run \"convscale models\" for the list)\n"},
      {"cluster show", "cluster show dgx-a100 --gpus 16", "cluster show dgx-a100 --gpus 2000000000",
       "convscale: builtin/dgx-a100.json: 2000000000 devices (250000000 nodes of 8) are more than "
       "a "
       "cluster may have (1048576 devices)\n"},
      {"cluster export-simgrid", "cluster export-simgrid dgx-a100 --gpus 16",
       "cluster export-simgrid dgx-a100 --gpus 20 --nodes 2",
       "convscale: builtin/dgx-a100.json: 20 devices do not fit 2 nodes of node type \"dgx-a100\" "
       "(8 devices per node): give between 9 and 16 devices\n"},
  };
  for (const Command& c : commands) {
    if (!HasCommand(c.needs)) continue;
    ScratchDir dir("atomic_one_file");
    const std::string out = dir / "out.txt";
    ASSERT_EQ(RunCli(c.good + " -o '" + out + "'").code, 0) << c.good;
    const auto before = ReadTree(dir.path());
    ASSERT_EQ(before.size(), 1u);
    const CliResult r = RunCli(c.bad + " -o '" + out + "'");
    EXPECT_EQ(r.code, 2) << c.bad;
    EXPECT_EQ(r.err, c.message) << c.bad;
    EXPECT_TRUE(ReadTree(dir.path()) == before) << c.bad << ": the earlier output changed";
  }
}

// sweep merge fails on its last step (report.md cannot be replaced): the earlier merged folder
// keeps every file.
TEST(AtomicOutput, FailedMergeKeepsTheMergedFolder) {
  if (!HasCommand("sweep merge")) GTEST_SKIP() << "convscale was built without the sweep";
  ScratchDir dir("atomic_merge");
  const std::string args = kSmallSweep + " --gpus 1,2";
  for (const char* shard : {"1/2", "2/2"})
    ASSERT_EQ(
        RunCli(args + " --shard " + shard + " -o '" + dir / ("s" + std::string(1, shard[0])) + "'")
            .code,
        0);
  const std::string merge = "sweep merge '" + dir / "s1" + "' '" + dir / "s2" + "' -o '";
  ScratchDir out_dir("atomic_merge_out");
  const std::string out = out_dir / "merged";
  ASSERT_EQ(RunCli(merge + out + "'").code, 0);
  MakeUnreplaceable(out_dir / "merged/report.md");
  const auto before = ReadTree(out_dir.path());
  const auto entries = Entries(out_dir.path());
  ASSERT_EQ(before.count("merged/sweep.json"), 1u);
  // Another context timestamp, so every combined file would be rewritten.
  const CliResult r =
      RunCli(merge + out + "'", {{"CONVSCALE_FIXED_TIMESTAMP", "2030-01-01T00:00:00Z"}});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.substr(r.err.find("convscale: ")),
            "convscale: " + out_dir / "merged/report.md" +
                ": cannot write: it is a directory; give a file name\n");
  EXPECT_EQ(ReadTree(out_dir.path()), before);
  EXPECT_EQ(Entries(out_dir.path()), entries);
}

// An output that is not a regular file is written through and stays what it was: a named pipe
// gets the output, a link into /proc (as /dev/stdout is) writes to the descriptor, and a link to
// a regular file stays a link while the file it names is replaced.
TEST(AtomicOutput, PipesAndLinksAreWrittenThroughNotReplaced) {
  if (!HasCommand("model show")) GTEST_SKIP() << "convscale was built without the model commands";
  ScratchDir dir("atomic_through");
  const CliResult shown = RunCli("model show fashion_cnn");
  ASSERT_EQ(shown.code, 0);
  ASSERT_FALSE(shown.out.empty());

  const std::string fifo = dir / "fifo", got = dir / "got.txt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string cmd = "cat '" + fifo + "' > '" + got + "' & '" + CONVSCALE_BINARY +
                          "' model show fashion_cnn -o '" + fifo + "'; s=$?; wait; exit $s";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_EQ(ReadBytes(got), shown.out);

  const std::string to_stdout = dir / "stdout";
  std::filesystem::create_symlink("/proc/self/fd/1", to_stdout);
  const CliResult r = RunCli("model show fashion_cnn -o '" + to_stdout + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, shown.out);
  EXPECT_TRUE(std::filesystem::is_symlink(to_stdout));
  std::filesystem::remove(to_stdout);

  const std::string file = dir / "file.txt", link = dir / "link.txt";
  { std::ofstream(file) << "old\n"; }
  std::filesystem::create_symlink("file.txt", link);
  EXPECT_EQ(RunCli("model show fashion_cnn -o '" + link + "'").code, 0);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(ReadBytes(file), shown.out);
  std::set<std::string> names;  // no temporary file is left
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"fifo", "file.txt", "got.txt", "link.txt"}));
}

}  // namespace
