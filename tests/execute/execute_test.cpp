// The executor: collective schedules (run in-process, members stepped in lock-step), and end-to-end
// runs under mpirun: data-parallel gradients after each all-reduce algorithm, parameter server and
// pipeline weights, against single-process training of the same global batch; a lost rank.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "../common/trace_schema.h"
#include "../common/two_rank_timeline.h"
#include "execute/cpu/onednn_backend.h"
#include "execute/cpu/schedules.h"
#include "execute/data.h"
#include "execute/measured.h"
#include "execute/runtime.h"
#include "model/graph/model_json.h"
#include "model/graph/zoo.h"
#include "model/plan/memory_plan.h"
#include "model/util/error.h"

namespace convscale::exec {
namespace {

namespace fs = std::filesystem;
using plan::Algorithm;
using plan::Collective;

// Runs every member's steps in lock-step on float buffers (messages are copied before any
// receive is applied, as concurrent transfers would be).
std::vector<std::vector<float>> Simulate(Collective c, Algorithm a, int n, size_t count, int root,
                                         std::vector<std::vector<float>> bufs,
                                         const std::vector<int>& node_of = {}) {
  std::vector<std::vector<cpu::OpStep>> steps;
  size_t max_steps = 0;
  for (int m = 0; m < n; ++m) {
    steps.push_back(cpu::MemberSteps(c, a, n, m, count, root, node_of));
    max_steps = std::max(max_steps, steps.back().size());
  }
  for (size_t s = 0; s < max_steps; ++s) {
    // (src, dst) -> queued messages in order.
    std::map<std::pair<int, int>, std::vector<std::vector<float>>> wire;
    for (int m = 0; m < n; ++m)
      if (s < steps[size_t(m)].size())
        for (const cpu::Op& op : steps[size_t(m)][s].ops)
          if (op.send)
            wire[{m, op.peer}].emplace_back(bufs[size_t(m)].begin() + long(op.offset),
                                            bufs[size_t(m)].begin() + long(op.offset + op.count));
    for (int m = 0; m < n; ++m)
      if (s < steps[size_t(m)].size())
        for (const cpu::Op& op : steps[size_t(m)][s].ops)
          if (!op.send) {
            auto& q = wire[{op.peer, m}];
            EXPECT_FALSE(q.empty()) << "step " << s << ": member " << m << " waits for " << op.peer
                                    << " which sends nothing";
            if (q.empty()) return bufs;
            std::vector<float> msg = q.front();
            q.erase(q.begin());
            EXPECT_EQ(msg.size(), op.count);
            for (size_t i = 0; i < op.count && i < msg.size(); ++i)
              bufs[size_t(m)][op.offset + i] =
                  op.reduce ? bufs[size_t(m)][op.offset + i] + msg[i] : msg[i];
          }
    for (auto& [k, q] : wire)
      EXPECT_TRUE(q.empty()) << "step " << s << ": " << k.first << " -> " << k.second
                             << " sent a message nobody received";
  }
  return bufs;
}

std::vector<std::vector<float>> Inputs(int n, size_t count) {
  std::vector<std::vector<float>> b(static_cast<size_t>(n), std::vector<float>(count));
  for (int m = 0; m < n; ++m)
    for (size_t i = 0; i < count; ++i) b[size_t(m)][i] = float((m + 1) * 1000 + int(i));
  return b;
}
float Sum(int n, size_t i) {
  float s = 0;
  for (int m = 0; m < n; ++m) s += float((m + 1) * 1000 + int(i));
  return s;
}
// Chunk c of n over count elements (the communicator's split: the last takes the remainder).
std::pair<size_t, size_t> ChunkOf(size_t count, int n, int c) {
  const size_t base = count / size_t(n);
  return {base * size_t(c), c == n - 1 ? count - base * size_t(n - 1) : base};
}

struct Case {
  Algorithm a;
  int n;
};

class AllReduceSchedule : public ::testing::TestWithParam<Case> {};

TEST_P(AllReduceSchedule, EveryMemberEndsWithTheSum) {
  const auto [a, n] = GetParam();
  for (size_t count : {size_t(1), size_t(7), size_t(64), size_t(1001)}) {
    if (count < size_t(n) && a != Algorithm::kTree) continue;
    auto out = Simulate(Collective::kAllReduce, a, n, count, 0, Inputs(n, count));
    for (int m = 0; m < n; ++m)
      for (size_t i = 0; i < count; ++i)
        ASSERT_EQ(out[size_t(m)][i], Sum(n, i)) << plan::Name(a) << " n=" << n << " count=" << count
                                                << " member " << m << " [" << i << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Algorithms, AllReduceSchedule,
    ::testing::Values(Case{Algorithm::kRing, 2}, Case{Algorithm::kRing, 3},
                      Case{Algorithm::kRing, 4}, Case{Algorithm::kRing, 8},
                      Case{Algorithm::kHalvingDoubling, 2}, Case{Algorithm::kHalvingDoubling, 4},
                      Case{Algorithm::kHalvingDoubling, 8}, Case{Algorithm::kTree, 2},
                      Case{Algorithm::kTree, 3}, Case{Algorithm::kTree, 4},
                      Case{Algorithm::kTree, 7}, Case{Algorithm::kHierarchical, 4},
                      Case{Algorithm::kDirect, 3}, Case{Algorithm::kDirect, 4}));

TEST(Schedules, HierarchicalUsesNodes) {
  const int n = 4;
  const size_t count = 100;
  auto out = Simulate(Collective::kAllReduce, Algorithm::kHierarchical, n, count, 0,
                      Inputs(n, count), {0, 0, 1, 1});
  for (int m = 0; m < n; ++m)
    for (size_t i = 0; i < count; ++i) ASSERT_EQ(out[size_t(m)][i], Sum(n, i));
  // Two members per node: the first step stays inside the nodes.
  // Keep the steps alive: a range-for over a member of a temporary would dangle.
  const auto steps = cpu::MemberSteps(Collective::kAllReduce, Algorithm::kHierarchical, n, 0, count,
                                      0, {0, 0, 1, 1});
  ASSERT_FALSE(steps.empty());
  for (const cpu::Op& op : steps[0].ops) EXPECT_EQ(op.peer, 1);
}

TEST(Schedules, ReduceScatterLeavesMemberIWithChunkI) {
  for (Algorithm a : {Algorithm::kRing, Algorithm::kHalvingDoubling, Algorithm::kDirect}) {
    const int n = 4;
    const size_t count = 103;
    auto out = Simulate(Collective::kReduceScatter, a, n, count, 0, Inputs(n, count));
    for (int m = 0; m < n; ++m) {
      auto [off, len] = ChunkOf(count, n, m);
      for (size_t i = off; i < off + len; ++i)
        ASSERT_EQ(out[size_t(m)][i], Sum(n, i)) << plan::Name(a) << " member " << m;
    }
  }
}

TEST(Schedules, AllGatherBroadcastReduce) {
  const int n = 4;
  const size_t count = 50;
  for (Algorithm a : {Algorithm::kRing, Algorithm::kHalvingDoubling, Algorithm::kDirect}) {
    auto in = Inputs(n, count);
    auto out = Simulate(Collective::kAllGather, a, n, count, 0, in);
    for (int m = 0; m < n; ++m)
      for (int c = 0; c < n; ++c) {
        auto [off, len] = ChunkOf(count, n, c);
        for (size_t i = off; i < off + len; ++i) ASSERT_EQ(out[size_t(m)][i], in[size_t(c)][i]);
      }
  }
  for (Algorithm a : {Algorithm::kRing, Algorithm::kTree, Algorithm::kDirect})
    for (int root : {0, 2}) {
      auto in = Inputs(n, count);
      auto b = Simulate(Collective::kBroadcast, a, n, count, root, in);
      auto r = Simulate(Collective::kReduce, a, n, count, root, in);
      for (int m = 0; m < n; ++m)
        for (size_t i = 0; i < count; ++i) ASSERT_EQ(b[size_t(m)][i], in[size_t(root)][i]);
      for (size_t i = 0; i < count; ++i) ASSERT_EQ(r[size_t(root)][i], Sum(n, i));
    }
}

TEST(Schedules, RejectsCombinationsThatDoNotExist) {
  EXPECT_THROW(
      cpu::MemberSteps(Collective::kAllReduce, Algorithm::kHalvingDoubling, 3, 0, 10, 0, {}),
      std::invalid_argument);
  EXPECT_THROW(cpu::MemberSteps(Collective::kReduceScatter, Algorithm::kTree, 4, 0, 10, 0, {}),
               std::invalid_argument);
}

TEST(Schedules, MatchThePlansSchedule) {
  for (Algorithm a : {Algorithm::kRing, Algorithm::kHalvingDoubling, Algorithm::kTree})
    for (int n : {2, 4, 8})
      EXPECT_EQ(cpu::MatchesPlanSchedule(Collective::kAllReduce, a, n, 1 << 20, 4, 0, {}), "")
          << plan::Name(a) << " n=" << n;
}

TEST(Measured, SpreadIsMedianMinMaxMeanStddev) {
  const Spread s = Summarise({3, 1, 2, 10});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_DOUBLE_EQ(s.mean, 4);
  EXPECT_NEAR(s.stddev, std::sqrt((1 + 9 + 4 + 36) / 3.0), 1e-12);
}

// The hand-computed timeline of tests/common/two_rank_timeline.h, measured: the executor's
// summary has the figures the reducer gives on the estimator's and the simulator's side.
TEST(Measured, SummaryOfTheSameIntervalsHasTheReducersFigures) {
  const convscale::testing::TwoRankCase c = convscale::testing::TwoRankTimeline();
  std::vector<RankRecord> records(2);
  for (int r = 0; r < 2; ++r) {
    records[r].rank = r;
    records[r].host = "host" + std::to_string(r);
    IterationResult it;
    it.iteration = 0;
    it.start_s = 100;  // the aligned clock need not start at 0
    it.loss = std::nan("");
    for (const auto& t : c.times[r]) {
      it.tasks.push_back({t.task, 0, 100 + t.start_s, 100 + t.end_s});
      it.end_s = std::max(it.end_s, 100 + t.end_s);
    }
    records[r].iterations.push_back(it);
  }
  RunInfo info;
  const Json j = BuildMeasuredSummary(c.plan, records, info);
  EXPECT_EQ(j["context"]["source"], "execute");
  EXPECT_EQ(j["iteration_time_s"], 12);
  EXPECT_EQ(j["critical_rank"], 1);
  EXPECT_EQ(j["compute_time_s"], 9);
  EXPECT_EQ(j["comm_time_s"], 4);
  EXPECT_EQ(j["exposed_comm_time_s"], 4);
  EXPECT_EQ(j["bubble_time_s"], 1);
  EXPECT_EQ(j["comm_bytes_total"], 2000);
  EXPECT_EQ(j["ranks"][0]["exposed_comm_time_s"], 2);
  EXPECT_EQ(j["ranks"][0]["finish_s"], 11);
  EXPECT_EQ(j["ranks"][1]["idle_time_s"], 1);
  EXPECT_EQ(j["ranks"][1]["comm_bytes_sent"], 1000);
  EXPECT_EQ(j["ranks"][1]["host"], "host1");
  // The trace: the all-reduce from its last post (6 s) on both ranks, in microseconds.
  const Json t = Json::parse(BuildChromeTrace(c.plan, records, info));
  EXPECT_EQ(convscale::testing::CheckChromeTrace(t), std::vector<std::string>{});
  int seen = 0;
  for (const Json& e : t["traceEvents"])
    if (e["ph"] == "X" && e["name"] == "bucket0/allreduce") {
      EXPECT_EQ(e["ts"], 6e6);
      EXPECT_EQ(e["dur"], 4e6);
      ++seen;
    }
  EXPECT_EQ(seen, 2);
}

TEST(SendQueues, OnePeerOneAfterTheOtherLowestTaskIdFirst) {
  // Peers 1 and 2 queue; peer 3 posts receives that wait for something, so it does not.
  SendQueues q({false, true, true, false});
  EXPECT_TRUE(q.Ready(7, 1));   // peer 1 idle: posted
  EXPECT_FALSE(q.Ready(9, 1));  // behind 7
  EXPECT_FALSE(q.Ready(8, 1));  // behind 7, ahead of 9 (plan order)
  EXPECT_TRUE(q.Ready(10, 2));  // another peer: its own connection
  EXPECT_TRUE(q.Ready(11, 3));  // not queued: posted at once, however many are in flight
  EXPECT_TRUE(q.Ready(12, 3));
  EXPECT_EQ(q.Done(1), 8);
  EXPECT_EQ(q.Done(1), 9);
  EXPECT_EQ(q.Done(1), -1);     // idle again
  EXPECT_TRUE(q.Ready(13, 1));  // so the next ready one goes at once
  EXPECT_EQ(q.Done(2), -1);
  EXPECT_EQ(q.Done(3), -1);
  EXPECT_TRUE(q.Ready(14, 7));  // a peer beyond the table is not queued
  EXPECT_FALSE(q.Ready(15, 1));
  q.Clear();  // a new iteration: nothing in flight
  EXPECT_TRUE(q.Ready(16, 1));
}

// ---- End-to-end under mpirun ----------------------------------------------------------------

struct ShellResult {
  int rc = -1;
  std::string output;
  double seconds = 0;
};

ShellResult Shell(const std::string& cmd) {
  ShellResult r;
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// The `timeout` guard around a launch, in seconds: a hang guard, never a bound a test asserts.
// CONVSCALE_TEST_TIME_SCALE (a positive number, default 1) multiplies it: scripts/check-sanitizers
// sets it, since ranks under AddressSanitizer with its slow unwinder run several times slower.
std::string Guard(int seconds) {
  const char* scale = std::getenv("CONVSCALE_TEST_TIME_SCALE");
  const double k = scale ? std::atof(scale) : 1.0;
  return "timeout " + std::to_string(static_cast<int>(seconds * (k > 0 ? k : 1.0))) + " ";
}

bool HaveMpirun() {
  return Shell("command -v mpirun").rc == 0;
}

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveMpirun()) GTEST_SKIP() << "mpirun is not installed";
    dir_ = fs::temp_directory_path() /
           ("convscale-exec-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string Bin() const { return CONVSCALE_BINARY; }
  // A cpu-minicluster of 2 nodes of 2 cores each (in-node aggregation needs 2 workers a node).
  std::string TwoByTwo() {
    Json cluster = Json::parse(std::ifstream(std::string(CONVSCALE_SOURCE_DIR) +
                                             "/topologies/builtin/cpu-minicluster.json"));
    cluster["name"] = "cpu-2x2";
    cluster["node_types"]["emulated-host"]["devices"] = 2;
    cluster["nodes"] = 2;
    const std::string file = (dir_ / "cpu-2x2.json").string();
    std::ofstream(file) << cluster.dump();
    return file;
  }
  std::string Plan(const std::string& name, const std::string& args) {
    const std::string path = (dir_ / (name + ".json")).string();
    const ShellResult r = Shell(Bin() + " plan --model fashion_cnn --cluster cpu-minicluster " +
                                args + " -o " + path);
    EXPECT_EQ(r.rc, 0) << r.output;
    return path;
  }
  // Runs the plan and returns the folder holding each rank's weights.
  std::string Execute(const std::string& plan, int ranks, const std::string& args) {
    const std::string out = (dir_ / (fs::path(plan).stem().string() + "-w")).string();
    fs::create_directories(out);
    const std::string launch = ranks == 1 ? ""
                                          : "mpirun --allow-run-as-root --oversubscribe -np " +
                                                std::to_string(ranks) + " ";
    const ShellResult r =
        Shell("OMP_NUM_THREADS=1 " + Guard(120) + launch + Bin() + " execute --plan " + plan +
              " -o " + out + "/summary.json --dump-weights " + out + " " + args);
    EXPECT_EQ(r.rc, 0) << r.output;
    return out;
  }
  fs::path dir_;
};

using Weights = std::map<std::string, std::vector<float>>;
Weights Load(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  Weights w;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    size_t count = 0;
    ls >> name >> count;
    std::vector<float> v(count);
    in.read(reinterpret_cast<char*>(v.data()), std::streamsize(count * 4));
    w[name] = std::move(v);
  }
  return w;
}
// Largest difference over the layers present in both.
double MaxDiff(const Weights& a, const Weights& b, size_t* compared) {
  double m = 0;
  *compared = 0;
  for (const auto& [k, v] : b) {
    auto it = a.find(k);
    if (it == a.end() || it->second.size() != v.size()) continue;
    ++*compared;
    for (size_t i = 0; i < v.size(); ++i) m = std::max(m, double(std::fabs(v[i] - it->second[i])));
  }
  return m;
}

// One SGD step with learning rate 1 and no momentum: w1 = w0 - g, with w0 the same seeded
// parameters everywhere, so equal weights mean equal gradients (all-reduced mean over the global
// batch of 32 against one process's full batch).
class DataParallelGradients : public EndToEnd,
                              public ::testing::WithParamInterface<std::tuple<std::string, int>> {};

TEST_P(DataParallelGradients, EqualTheSingleProcessGradient) {
  const auto [algorithm, ranks] = GetParam();
  const std::string step = "--iterations 1 --warmup 0 --lr 1 --momentum 0";
  const std::string single = Execute(Plan("single", "--gpus 1 --global-batch 32"), 1, step);
  const std::string dp = Execute(
      Plan("dp", "--gpus " + std::to_string(ranks) + " --global-batch 32 --algorithm " + algorithm),
      ranks, step);
  const Weights ref = Load(single + "/rank0.weights");
  ASSERT_EQ(ref.size(), 4u);  // conv1, conv2, fc1, fc2
  for (int r = 0; r < ranks; ++r) {
    size_t compared = 0;
    const double d = MaxDiff(ref, Load(dp + "/rank" + std::to_string(r) + ".weights"), &compared);
    EXPECT_EQ(compared, 4u) << "rank " << r;
    EXPECT_LT(d, 2e-5) << algorithm << " on " << ranks << " ranks, rank " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, DataParallelGradients,
                         ::testing::Combine(::testing::Values("ring", "halving-doubling", "tree",
                                                              "hierarchical"),
                                            ::testing::Values(2, 4)),
                         [](const auto& info) {
                           std::string a = std::get<0>(info.param);
                           for (char& c : a)
                             if (c == '-') c = '_';
                           return a + "_" + std::to_string(std::get<1>(info.param)) + "ranks";
                         });

// Every rank of the run in `out` holds all four of fashion_cnn's parameter layers, each within
// 5e-5 of the single-process run in `single`.
void ExpectEveryRankHasTheWeightsOf(const std::string& single, const std::string& out, int ranks) {
  const Weights ref = Load(single + "/rank0.weights");
  for (int r = 0; r < ranks; ++r) {
    size_t compared = 0;
    const double d = MaxDiff(ref, Load(out + "/rank" + std::to_string(r) + ".weights"), &compared);
    EXPECT_EQ(compared, 4u) << "rank " << r;
    EXPECT_LT(d, 5e-5) << "rank " << r;
  }
}

// Three SGD-momentum steps: the synchronous parameter server and the pipeline reach the weights
// of single-process training.
TEST_F(EndToEnd, ParameterServerSyncMatchesSingleProcess) {
  const std::string steps = "--iterations 3 --warmup 0 --lr 0.05";
  const std::string single = Execute(Plan("single", "--gpus 1 --global-batch 32"), 1, steps);
  const std::string plan = Plan("ps", "--gpus 2 --global-batch 32 --strategy ps --servers 1");
  const int ranks = 3;  // two workers, one server
  const std::string ps = Execute(plan, ranks, steps);
  ExpectEveryRankHasTheWeightsOf(single, ps, ranks);
}

// In-node aggregation (--ps-aggregation node) on 2 nodes of 2 cores (cpu-minicluster with two
// devices per node), one server on a host CPU: each node's leader receives its peer's push into
// a slot of its own, sums it into its own gradients, pushes the sum and forwards the pulled
// parameters, so all five ranks reach the weights of single-process training. The leaders' slots
// are one fp32 copy of fashion_cnn's 421,642 parameters (conv1 320 + conv2 18,496 + fc1 401,536
// + fc2 1,290), 1,686,568 B, as the memory model predicts; the other workers stage nothing, the
// server one copy per leader.
TEST_F(EndToEnd, ParameterServerNodeAggregationMatchesSingleProcess) {
  const std::string cluster_file = TwoByTwo();
  const std::string plan = (dir_ / "psnode.json").string();
  const ShellResult made =
      Shell(Bin() + " plan --model fashion_cnn --cluster " + cluster_file +
            " --gpus 4 --global-batch 32 --strategy ps --servers 1 --ps-placement host"
            " --ps-aggregation node -o " +
            plan);
  ASSERT_EQ(made.rc, 0) << made.output;
  const std::string steps = "--iterations 3 --warmup 0 --lr 0.05";
  const std::string single = Execute(Plan("single", "--gpus 1 --global-batch 32"), 1, steps);
  const int ranks = 5;  // four workers, one server
  const std::string ps = Execute(plan, ranks, steps);
  ExpectEveryRankHasTheWeightsOf(single, ps, ranks);
  std::ifstream in(ps + "/summary.json");
  const Json j = Json::parse(in);
  ASSERT_EQ(j["ranks"].size(), size_t(ranks));
  const double copy = 421642.0 * 4;
  const std::vector<double> staged = {copy, 0, copy, 0, 2 * copy};
  for (int r = 0; r < ranks; ++r) {
    EXPECT_EQ(j["ranks"][r]["memory"]["buffers_bytes"].get<double>(), staged[size_t(r)])
        << "rank " << r;
    EXPECT_EQ(j["ranks"][r]["memory_predicted"]["buffers_bytes"].get<double>(), staged[size_t(r)])
        << "rank " << r;
  }
}

// An asynchronous server applies each push as it arrives; with one worker there is nothing to be
// stale against, so it must train exactly as one process does. (Before this test, async servers
// applied whatever was in their gradient buffers instead of the push: Fashion-MNIST diverged to
// 9% accuracy.)
TEST_F(EndToEnd, ParameterServerAsyncWithOneWorkerMatchesSingleProcess) {
  const std::string steps = "--iterations 3 --warmup 0 --lr 0.05";
  const std::string single = Execute(Plan("single", "--gpus 1 --global-batch 32"), 1, steps);
  const std::string plan =
      Plan("psasync", "--gpus 1 --global-batch 32 --strategy ps --servers 1 --async");
  const std::string ps = Execute(plan, 2, steps);
  const Weights ref = Load(single + "/rank0.weights");
  for (int r = 0; r < 2; ++r) {
    size_t compared = 0;
    const double d = MaxDiff(ref, Load(ps + "/rank" + std::to_string(r) + ".weights"), &compared);
    EXPECT_EQ(compared, 4u) << "rank " << r;
    EXPECT_LT(d, 5e-5) << "rank " << r;
  }
}

// ---- A layer split over parameter servers --------------------------------------------------

// A model whose fc1 (1024 inputs, 1025 outputs) has 1,024 x 1,025 + 1,025 = 1,050,625 fp32
// parameters, 4,202,500 B: above the 4,096,000 B partition, so the ps lowering splits it over
// every server. Over 2 servers the shards are elements 0..525312 and 525312..1050625, pushed and
// pulled as 2,101,248 B and 2,101,252 B. fc2 (10,260 parameters) goes whole to one server.
constexpr int64_t kSplitParams = 1024 * 1025 + 1025;
constexpr int64_t kShard0 = kSplitParams / 2, kShard1 = kSplitParams - kSplitParams / 2;
const char* kSplitModel = R"({
  "format": "convscale-model", "version": 1, "name": "split_fc",
  "input": {"channels": 1, "height": 32, "width": 32}, "num_classes": 10,
  "layers": [
    {"name": "flat", "type": "flatten", "inputs": ["input"]},
    {"name": "fc1", "type": "linear", "inputs": ["flat"], "out_features": 1025},
    {"name": "relu", "type": "relu", "inputs": ["fc1"]},
    {"name": "fc2", "type": "linear", "inputs": ["relu"], "out_features": 10},
    {"name": "loss", "type": "loss", "inputs": ["fc2"]}
  ]
})";

// A communicator for one rank alone: every message completes at once (receives leave their
// buffers as they were) and is recorded with the bytes the runtime handed over.
class RecordingCommunicator final : public Communicator {
 public:
  RecordingCommunicator(int rank, int size) : rank_(rank), size_(size) {}
  struct Message {
    bool send;
    int peer;
    int64_t tag;
    size_t bytes;
  };
  std::vector<Message> messages;
  std::string name() const override { return "recording"; }
  std::string method() const override { return "records point-to-point messages"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void Collective(plan::Collective, plan::Algorithm, Buffer, DataType, const CommGroup&, int,
                  int64_t) override {
    ADD_FAILURE() << "a parameter-server plan runs no collective";
  }
  Request Send(Buffer buf, int peer, int64_t tag) override { return Post(true, buf, peer, tag); }
  Request Recv(Buffer buf, int peer, int64_t tag) override { return Post(false, buf, peer, tag); }
  bool Test(Request&) override { return true; }
  void Wait(Request&) override {}
  void Barrier() override {}
  double Now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  double clock_offset_s() const override { return 0; }
  double clock_uncertainty_s() const override { return 0; }
  std::vector<double> AllGatherDoubles(const std::vector<double>& mine) override {
    std::vector<double> all;
    for (int r = 0; r < size_; ++r) all.insert(all.end(), mine.begin(), mine.end());
    return all;
  }
  std::vector<std::string> GatherStrings(const std::string& mine) override { return {mine}; }

 private:
  Request Post(bool send, Buffer buf, int peer, int64_t tag) {
    messages.push_back({send, peer, tag, buf.bytes});
    return {int64_t(messages.size())};
  }
  int rank_, size_;
};

class SplitLayer : public EndToEnd {
 protected:
  // A ps plan of kSplitModel on `cluster` (a file or a built-in name) with `args`.
  std::string SplitPlan(const std::string& name, const std::string& cluster,
                        const std::string& args) {
    const std::string model = (dir_ / "split_fc.json").string();
    if (!fs::exists(model)) std::ofstream(model) << kSplitModel;
    const std::string path = (dir_ / (name + ".json")).string();
    const ShellResult r = Shell(Bin() + " plan --model " + model + " --cluster " + cluster +
                                " --global-batch 32 " + args + " -o " + path);
    EXPECT_EQ(r.rc, 0) << r.output;
    return path;
  }
  // Every rank of `out` (`workers` workers, then two servers) holds what it trains within 5e-5
  // of the single-process run `single`: a worker both layers, server k its shard of fc1 (and fc2
  // where it serves it; the rest of its copy of fc1 is never stepped).
  void ExpectWeightsOf(const std::string& single, const std::string& out, int workers) {
    const Weights ref = Load(single + "/rank0.weights");
    ASSERT_EQ(ref.size(), 2u);
    ASSERT_EQ(ref.at("fc1").size(), size_t(kSplitParams));
    for (int r = 0; r < workers + 2; ++r) {
      const Weights got = Load(out + "/rank" + std::to_string(r) + ".weights");
      const bool server = r >= workers;
      const size_t lo = r == workers + 1 ? size_t(kShard0) : 0;
      const size_t hi = r == workers ? size_t(kShard0) : size_t(kSplitParams);
      double d = 0;
      size_t compared = 0;
      for (const auto& [name, w] : got) {
        const std::vector<float>& want = ref.at(name);
        ASSERT_EQ(w.size(), want.size()) << name;
        const bool sliced = server && name == "fc1";
        for (size_t i = sliced ? lo : 0; i < (sliced ? hi : w.size()); ++i)
          d = std::max(d, double(std::fabs(w[i] - want[i])));
        compared += sliced ? (hi - lo) : w.size();
      }
      // Workers hold both layers (1,060,885 parameters); server 0 its shard of fc1 and fc2
      // (the least loaded after the split), server 1 its shard.
      const size_t expect = !server        ? size_t(kSplitParams) + 10260
                            : r == workers ? size_t(kShard0) + 10260
                                           : size_t(kShard1);
      EXPECT_EQ(compared, expect) << "rank " << r;
      EXPECT_LT(d, 5e-5) << "rank " << r;
      std::printf("rank %d: %zu parameters compared, largest difference %.3g\n", r, compared, d);
    }
  }
};

// Runs every rank of `plan_file` alone on the CPU backend for one iteration and checks that each
// message hands the communicator exactly the plan's comm_bytes; returns every rank's messages.
std::vector<std::vector<RecordingCommunicator::Message>> RunEveryRankAlone(
    const std::string& plan_file) {
  const plan::Plan p = plan::LoadPlan(plan_file);
  graph::Network net = graph::ModelFromJson(p.context.network, plan_file);
  net.Infer(p.global_batch, plan_file);
  std::vector<std::vector<RecordingCommunicator::Message>> all;
  for (int r = 0; r < int(p.ranks.size()); ++r) {
    RecordingCommunicator comm(r, int(p.ranks.size()));
    std::unique_ptr<ComputeBackend> backend = cpu::MakeOneDnnBackend();
    Runtime rt(p, net, *backend, comm, OptimizerConfig{}, 1);
    auto data = MakeSyntheticData(net.input_shape(), net.num_classes(), 1);
    rt.RunIteration(0, *data);
    std::map<std::tuple<bool, int, int64_t>, double> planned;
    for (const plan::Task& t : p.ranks[size_t(r)].tasks)
      if (t.kind == plan::TaskKind::kSend || t.kind == plan::TaskKind::kRecv)
        planned[{t.kind == plan::TaskKind::kSend, t.peer, t.tag}] = t.comm_bytes;
    EXPECT_EQ(comm.messages.size(), planned.size()) << "rank " << r;
    for (const auto& m : comm.messages)
      EXPECT_EQ(double(m.bytes), planned.at({m.send, m.peer, m.tag}))
          << "rank " << r << (m.send ? " send to " : " receive from ") << m.peer << " tag "
          << m.tag;
    all.push_back(comm.messages);
  }
  return all;
}

// Sync, 2 workers and 2 servers on host CPUs: each worker pushes fc1 as two shards, one to each
// server, and fc2 whole; every message carries its shard's bytes, the plan's comm_bytes.
TEST_F(SplitLayer, EveryMessageCarriesThePlansBytes) {
  const std::string plan = SplitPlan("sync", "cpu-minicluster",
                                     "--gpus 2 --strategy ps --servers 2 --ps-placement host");
  const auto messages = RunEveryRankAlone(plan);
  ASSERT_EQ(messages.size(), 4u);
  // Worker 0's pushes: fc1's shards (tags 0 and 2, as the lowering numbers them in push order
  // after fc2's tag) and fc2.
  std::multiset<size_t> pushed;
  for (const auto& m : messages[0])
    if (m.send) pushed.insert(m.bytes);
  EXPECT_EQ(pushed, (std::multiset<size_t>{size_t(kShard0) * 4, size_t(kShard1) * 4, 10260 * 4}));
  EXPECT_EQ(kShard0 * 4, 2101248);
  EXPECT_EQ(kShard1 * 4, 2101252);
  // Each server receives 2 pushes and sends 2 pulls of its fc1 shard (and one of them fc2).
  for (int server : {2, 3}) {
    size_t fc1 = 0;
    for (const auto& m : messages[size_t(server)])
      if (m.bytes == size_t(server == 2 ? kShard0 : kShard1) * 4) ++fc1;
    EXPECT_EQ(fc1, 4u) << "server rank " << server;
  }
  // In-node aggregation: the leader receives its peer's shards and forwards its pulls, each of
  // the shard's bytes.
  RunEveryRankAlone(SplitPlan("node", TwoByTwo(),
                              "--gpus 4 --strategy ps --servers 2 --ps-placement host "
                              "--ps-aggregation node"));
  RunEveryRankAlone(SplitPlan("async", "cpu-minicluster",
                              "--gpus 1 --strategy ps --servers 2 --ps-placement host --async"));
}

// What a plan cannot check without the model, the runtime refuses before anything runs: a slice
// beyond its layer, and a message whose elements are not its comm_bytes'.
TEST_F(SplitLayer, SliceBeyondTheLayerOrBytesThatAreNotItsElementsAreRefused) {
  const std::string file = SplitPlan("sync", "cpu-minicluster",
                                     "--gpus 2 --strategy ps --servers 2 --ps-placement host");
  const plan::Plan good = plan::LoadPlan(file);
  graph::Network net = graph::ModelFromJson(good.context.network, file);
  net.Infer(good.global_batch, file);
  auto refusal = [&](const std::string& task, auto change) {
    plan::Plan p = good;
    int id = -1;
    for (plan::Task& t : p.ranks[0].tasks)
      if (t.name == task) {
        change(t);
        id = t.id;
      }
    EXPECT_GE(id, 0) << task;
    RecordingCommunicator comm(0, int(p.ranks.size()));
    std::unique_ptr<ComputeBackend> backend = cpu::MakeOneDnnBackend();
    try {
      Runtime rt(p, net, *backend, comm, OptimizerConfig{}, 1);
    } catch (const InputError& e) {
      return std::string(e.what()).replace(0, ("rank 0: task " + std::to_string(id)).size(),
                                           "rank 0: task N");
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refusal("push fc1 s1", [](plan::Task& t) { ++t.slice_offset; }),
            "rank 0: task N (\"push fc1 s1\"): elements 525313..1050626 of layer \"fc1\", which "
            "has 1050625 parameters");
  EXPECT_EQ(refusal("push fc2 s0", [](plan::Task& t) { t.comm_bytes -= 4; }),
            "rank 0: task N (\"push fc2 s0\"): carries 10260 parameters of its layers, but its "
            "comm_bytes say 10259 elements of fp32");
  EXPECT_EQ(refusal("push fc2 s0", [](plan::Task&) {}), "accepted");
}

// Three SGD-momentum steps with fc1 split over 2 servers reach the weights of single-process
// training: sync with 2 workers, sync with in-node aggregation (4 workers on 2 nodes), and async
// with one worker (nothing to be stale against). Before shards carried their slices, a worker
// pushed the whole layer per shard and zeroed its gradients after the first push, so the
// second server stepped on zeros and its pull overwrote the first's.
TEST_F(SplitLayer, ParameterServerMatchesSingleProcess) {
  const std::string steps = "--iterations 3 --warmup 0 --lr 0.05";
  const std::string single = Execute(SplitPlan("single", "cpu-minicluster", "--gpus 1"), 1, steps);
  ExpectWeightsOf(single,
                  Execute(SplitPlan("sync", "cpu-minicluster",
                                    "--gpus 2 --strategy ps --servers 2 --ps-placement host"),
                          4, steps),
                  2);
  ExpectWeightsOf(single,
                  Execute(SplitPlan("node", TwoByTwo(),
                                    "--gpus 4 --strategy ps --servers 2 --ps-placement host "
                                    "--ps-aggregation node"),
                          6, steps),
                  4);
  ExpectWeightsOf(single,
                  Execute(SplitPlan("async", "cpu-minicluster",
                                    "--gpus 1 --strategy ps --servers 2 --ps-placement host "
                                    "--async"),
                          3, steps),
                  1);
}

TEST_F(EndToEnd, PipelineMatchesSingleProcess) {
  const std::string steps = "--iterations 3 --warmup 0 --lr 0.05";
  const std::string single = Execute(Plan("single", "--gpus 1 --global-batch 32"), 1, steps);
  for (int stages : {2, 4}) {
    const std::string mp =
        Execute(Plan("mp" + std::to_string(stages),
                     "--gpus " + std::to_string(stages) +
                         " --global-batch 32 --strategy mp --micro-batches 4 --schedule 1f1b"),
                stages, steps);
    const Weights ref = Load(single + "/rank0.weights");
    size_t total = 0;
    for (int r = 0; r < stages; ++r) {
      size_t compared = 0;
      const double d = MaxDiff(ref, Load(mp + "/rank" + std::to_string(r) + ".weights"), &compared);
      total += compared;
      EXPECT_LT(d, 5e-5) << stages << " stages, rank " << r;
    }
    EXPECT_EQ(total, 4u) << "every parameter layer lives on exactly one stage";
  }
}

// --threads sets the compute threads through OpenMP itself (OpenMP reads OMP_NUM_THREADS only
// when it loads, so a variable set later changed nothing), over OMP_NUM_THREADS; the summary's
// device names the count.
TEST_F(EndToEnd, ThreadsFlagSetsTheComputeThreadsAndTheDeviceNamesThem) {
  const std::string plan = Plan("single", "--gpus 1 --global-batch 8");
  const std::string out = (dir_ / "summary.json").string();
  auto device = [&](const std::string& flag) {
    const ShellResult r = Shell("OMP_NUM_THREADS=2 " + Guard(60) + Bin() + " execute --plan " +
                                plan + " --iterations 1 --warmup 0 " + flag + " -o " + out);
    EXPECT_EQ(r.rc, 0) << r.output;
    std::ifstream in(out);
    return Json::parse(in)["context"]["device"].get<std::string>();
  };
  const std::string three = device("--threads 3"), env = device(""), one = device("--threads 1");
  EXPECT_NE(three.find(", 3 threads)"), std::string::npos) << three;
  EXPECT_NE(env.find(", 2 threads)"), std::string::npos) << env;
  EXPECT_NE(one.find(", 1 thread)"), std::string::npos) << one;
}

TEST_F(EndToEnd, SummaryIsMarkedMeasuredWithMemoryBesideThePrediction) {
  const std::string out =
      Execute(Plan("dp", "--gpus 2 --global-batch 32"), 2,
              "--iterations 3 --warmup 1 --trace " + (dir_ / "t.json").string());
  std::ifstream in(out + "/summary.json");
  const Json j = Json::parse(in);
  EXPECT_EQ(j["measured"], true);
  EXPECT_EQ(j["iterations"]["measured"], 3);
  EXPECT_EQ(j["iterations"]["times_s"].size(), 3u);
  EXPECT_GT(j["iteration_time_s"].get<double>(), 0);
  for (const char* k :
       {"throughput_samples_per_s", "compute_time_s", "comm_time_s", "exposed_comm_time_s",
        "bubble_time_s", "comm_bytes_total", "critical_rank"})
    EXPECT_TRUE(j.contains(k)) << k;
  ASSERT_EQ(j["ranks"].size(), 2u);
  EXPECT_GT(j["ranks"][0]["memory_peak_bytes"].get<double>(), 0);
  EXPECT_GT(j["ranks"][0]["memory_predicted_bytes"].get<double>(), 0);
  std::ifstream tin(dir_ / "t.json");
  const Json t = Json::parse(tin);
  EXPECT_GT(t["traceEvents"].size(), 50u);
  EXPECT_EQ(convscale::testing::CheckChromeTrace(t), std::vector<std::string>{});
}

// `report compare` of a simulated and a measured run of the same plan compares like with like:
// the byte totals are the same quantity on both sides (the schedules' bytes of all ranks), and
// the measured exposed communication never exceeds the measured communication.
TEST_F(EndToEnd, CompareOfSimulatedAndMeasuredRunsComparesLikeWithLike) {
  const std::string plan = Plan("dp", "--gpus 2 --global-batch 32");
  const std::string sim = (dir_ / "sim.json").string();
  ShellResult r = Shell(Bin() + " simulate --plan " + plan + " -o " + sim);
  ASSERT_EQ(r.rc, 0) << r.output;
  const std::string out = Execute(plan, 2, "--iterations 3 --warmup 1");
  const std::string report = (dir_ / "report").string();
  r = Shell(Bin() + " report compare " + sim + " " + out + "/summary.json -o " + report);
  ASSERT_EQ(r.rc, 0) << r.output;
  std::ifstream in(report + "/report.json");
  const Json j = Json::parse(in);
  std::map<std::string, Json> rows;
  for (const Json& row : j["comparisons"][0]["phases"]) rows[row["item"]] = row;
  ASSERT_TRUE(rows.count("bytes over the network, all ranks"));
  const Json& bytes = rows["bytes over the network, all ranks"];
  EXPECT_GT(bytes["predicted"].get<double>(), 0);
  EXPECT_EQ(bytes["predicted"], bytes["measured"]);
  EXPECT_EQ(bytes["error_pct"], 0);
  ASSERT_TRUE(rows.count("exposed communication") && rows.count("communication (hidden or not)"));
  EXPECT_LE(rows["exposed communication"]["measured"].get<double>(),
            rows["communication (hidden or not)"]["measured"].get<double>());
  EXPECT_LE(rows["exposed communication"]["predicted"].get<double>(),
            rows["communication (hidden or not)"]["predicted"].get<double>());
}

// A rank that dies mid-run: every other rank exits non-zero within 30 s, and the output names the
// lost rank.
TEST_F(EndToEnd, LostRankStopsTheJobNamingIt) {
  const std::string plan = Plan("dp3", "--gpus 3 --global-batch 30");
  const ShellResult r =
      Shell("OMP_NUM_THREADS=1 " + Guard(60) + "mpirun --allow-run-as-root --oversubscribe -np 3 " +
            Bin() + " execute --plan " + plan +
            " --iterations 20 --warmup 0 --kill-rank 1 --kill-after 2 --peer-timeout 20");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out: " << r.output;
  EXPECT_LT(r.seconds, 45);
  EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
}

// A plan made from a model file carries the layer graph (context.network, plan schema version 2),
// so it executes after the file is gone; a zoo model's plan names the model only.
TEST_F(EndToEnd, PlanFromAModelFileRunsWithoutTheFile) {
  const std::string model = (dir_ / "my_cnn.json").string();
  ShellResult r = Shell(Bin() + " model export fashion_cnn -o " + model);
  ASSERT_EQ(r.rc, 0) << r.output;
  // Renamed, so no zoo model of that name could stand in for the file.
  r = Shell("sed -i 's/\"name\": \"fashion_cnn\"/\"name\": \"my_cnn\"/' " + model);
  ASSERT_EQ(r.rc, 0) << r.output;
  const std::string plan = (dir_ / "from_file.json").string();
  r = Shell(Bin() + " plan --model " + model +
            " --cluster cpu-minicluster --gpus 1 --global-batch 8 -o " + plan);
  ASSERT_EQ(r.rc, 0) << r.output;
  std::ifstream in(plan);
  const Json j = Json::parse(in);
  EXPECT_EQ(j["context"]["schema_version"], 2);
  EXPECT_EQ(j["context"]["network"]["format"], "convscale-model");
  EXPECT_EQ(j["context"]["model"], "my_cnn");
  EXPECT_EQ(j["context"]["network"]["name"], "my_cnn");
  fs::remove(model);
  r = Shell("OMP_NUM_THREADS=1 " + Guard(60) + Bin() + " execute --plan " + plan +
            " --iterations 1 --warmup 0 -o " + (dir_ / "summary.json").string());
  EXPECT_EQ(r.rc, 0) << r.output;
  std::ifstream zoo_in(Plan("zoo", "--gpus 1 --global-batch 8"));
  EXPECT_FALSE(Json::parse(zoo_in)["context"].contains("network"));
}

// A run that fails at its last step, writing its outputs, leaves every earlier output as it was:
// the trace is not replaced when the summary cannot be written (it used to be), and `profile -o`
// keeps an earlier profile when it fails.
TEST_F(EndToEnd, FailedRunKeepsEveryEarlierOutput) {
  const std::string plan = Plan("dp1", "--gpus 1 --global-batch 8");
  const std::string summary = (dir_ / "summary.json").string(),
                    trace = (dir_ / "trace.json").string();
  const std::string run = "OMP_NUM_THREADS=1 " + Guard(60) + Bin() + " execute --plan " + plan +
                          " --iterations 1 --warmup 0 --trace " + trace;
  ShellResult r = Shell(run + " -o " + summary);
  ASSERT_EQ(r.rc, 0) << r.output;
  auto bytes = [](const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string old_summary = bytes(summary), old_trace = bytes(trace);
  ASSERT_FALSE(old_trace.empty());
  // A second run measures other times, so its trace would differ.
  const std::string missing = (dir_ / "no-such-folder/summary.json").string();
  r = Shell(run + " -o " + missing);
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_NE(r.output.find("convscale: rank 0: " + missing + ": cannot write: directory " +
                          (dir_ / "no-such-folder").string() + " does not exist\n"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(bytes(trace), old_trace);
  EXPECT_EQ(bytes(summary), old_summary);

  const std::string prof = (dir_ / "profile.json").string();
  const std::string profile =
      "OMP_NUM_THREADS=1 " + Bin() + " profile --batch 8 --iterations 1 --warmup 0 -o " + prof;
  ASSERT_EQ(Shell(profile + " --model fashion_cnn").rc, 0);
  const std::string old_profile = bytes(prof);
  r = Shell(profile + " --model " + summary);
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_EQ(bytes(prof), old_profile);
  std::set<std::string> names;  // no temporary file is left
  for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
  EXPECT_EQ(names,
            (std::set<std::string>{"dp1.json", "profile.json", "summary.json", "trace.json"}));
}

// A batch whose activations alone exceed this machine's memory is refused before anything is
// allocated (it ended in std::bad_alloc, exit 1). fashion_cnn at batch 10^9: 267,112 B of saved
// activations and 3,136 B of input per sample, plus 1,686,568 B of weights: 2.70e14 B, 246 TiB.
TEST_F(EndToEnd, ProfileOfABatchBeyondThisMachinesMemoryIsRefused) {
  const ShellResult r = Shell(Bin() + " profile --model fashion_cnn --batch 1000000000 -o " +
                              (dir_ / "profile.json").string());
  EXPECT_EQ(r.rc, 2) << r.output;
  const std::string head =
      "convscale: --batch 1000000000: fashion_cnn needs at least 246 TiB at this batch (its "
      "input, weights and the activations kept for the backward pass), more than this "
      "machine's memory (";
  EXPECT_EQ(r.output.substr(0, head.size()), head) << r.output;
  EXPECT_EQ(r.output.substr(r.output.find(')', head.size())), "); use a smaller --batch\n");
  EXPECT_FALSE(fs::exists(dir_ / "profile.json"));
}

// Each message size of the communication sweep is one buffer on every rank: a size beyond a
// quarter of this machine's memory, or not a size, is refused before any rank allocates it (1TB
// ended in std::bad_alloc under MPI_ABORT).
TEST_F(EndToEnd, ProfileMessageSizeBeyondThisMachinesMemoryIsRefused) {
  const std::string run =
      Bin() + " profile --model fashion_cnn -o " + (dir_ / "profile.json").string() + " --sizes ";
  ShellResult r = Shell(run + "4KiB,1TB");
  EXPECT_EQ(r.rc, 2) << r.output;
  const std::string head =
      "convscale: --sizes 4KiB,1TB: a message of \"1TB\" must be at least 1 byte and at most a "
      "quarter of this machine's memory (";
  EXPECT_EQ(r.output.substr(0, head.size()), head) << r.output;
  r = Shell(run + "4KiB,0B");
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_EQ(r.output.rfind("convscale: --sizes 4KiB,0B: a message of \"0B\" must be", 0), 0u)
      << r.output;
  r = Shell(run + "4KiB,lots");
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_EQ(r.output.rfind("convscale: --sizes 4KiB,lots: ", 0), 0u) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "profile.json"));
}

// `execute --profile` runs the kernels a profile measured; a profile from another backend is
// refused before any rank starts, naming the file and both backends.
TEST_F(EndToEnd, ProfileFromAnotherBackendIsRefused) {
  const std::string plan = Plan("dp1", "--gpus 1 --global-batch 8");
  const std::string prof = (dir_ / "gpu-profile.json").string();
  std::ofstream(prof) << R"({"context": {"backend": "cuda/cudnn"}, "layers": []})";
  const ShellResult r = Shell(Bin() + " execute --plan " + plan + " --profile " + prof);
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_NE(r.output.find(prof + ": /context/backend: the profile was measured with "
                                 "\"cuda/cudnn\", this run uses \"cpu/onednn\"; its kernel "
                                 "choices do not apply"),
            std::string::npos)
      << r.output;
  // A profile of this backend is taken (oneDNN records no choices: the same run).
  const std::string cpu = (dir_ / "cpu-profile.json").string();
  ShellResult p =
      Shell("OMP_NUM_THREADS=1 " + Bin() +
            " profile --model fashion_cnn --batch 8 --iterations 1 --warmup 0 -o " + cpu);
  ASSERT_EQ(p.rc, 0) << p.output;
  p = Shell("OMP_NUM_THREADS=1 " + Bin() + " execute --plan " + plan + " --profile " + cpu +
            " --iterations 1 --warmup 0");
  EXPECT_EQ(p.rc, 0) << p.output;
}

TEST_F(EndToEnd, EmulatedClusterRunsAcrossNamespaces) {
  const std::string script = std::string(CONVSCALE_SOURCE_DIR) + "/scripts/emulated-cluster";
  const ShellResult check = Shell(script + " --check");
  if (check.rc != 0) GTEST_SKIP() << check.output;
  const std::string plan = Plan("dp2", "--gpus 2 --global-batch 32");
  // Its own prefix: namespaces of another run on this machine (a benchmark) are not its own.
  const std::string prefix = "cst" + std::to_string(::getpid());
  const ShellResult r =
      Shell("OMP_NUM_THREADS=1 " + Guard(120) + script + " --prefix " + prefix +
            " --hosts 2 --rate 1gbit -- mpirun -np 2 " + Bin() + " execute --plan " + plan +
            " --iterations 2 --warmup 1 -o " + (dir_ / "m.json").string());
  ASSERT_EQ(r.rc, 0) << r.output;
  std::ifstream in(dir_ / "m.json");
  const Json j = Json::parse(in);
  EXPECT_NE(j["ranks"][0]["host"], j["ranks"][1]["host"]);
  EXPECT_EQ(Shell("ip netns list | grep -c '^" + prefix + "-' || true").output, "0\n");
}

// Memory: every rank's activation bytes are exactly the memory plan's arena for its tasks (the
// executor allocates from the plan, tests/plan/memory_plan_test.cpp checks the plan itself), and
// the allocator's peak is within 10% of the memory model's prediction, for dp, ps, gpipe, 1f1b
// and dp x pp.
TEST_F(EndToEnd, PeakMemoryIsThePlannersArenaAndWithinTenPercentOfThePrediction) {
  graph::Network net = graph::BuildZooModel("fashion_cnn");
  net.Infer(1);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dp", "--gpus 2 --global-batch 64"},
      {"ps", "--gpus 2 --global-batch 64 --strategy ps --servers 1"},
      {"gpipe", "--gpus 2 --global-batch 64 --strategy mp --micro-batches 4"},
      {"1f1b", "--gpus 2 --global-batch 64 --strategy mp --micro-batches 4 --schedule 1f1b"},
      {"dppp", "--gpus 4 --global-batch 64 --strategy hybrid --stages 2 --micro-batches 2"}};
  for (const auto& [name, args] : cases) {
    SCOPED_TRACE(name);
    const std::string path = Plan(name, args);
    const plan::Plan p = plan::LoadPlan(path);
    const std::string out = Execute(path, int(p.ranks.size()), "--iterations 2 --warmup 1");
    std::ifstream in(out + "/summary.json");
    const Json j = Json::parse(in);
    ASSERT_EQ(j["ranks"].size(), p.ranks.size());
    for (size_t r = 0; r < p.ranks.size(); ++r) {
      const Json& rk = j["ranks"][r];
      int64_t samples = 1;
      for (const plan::Task& t : p.ranks[r].tasks)
        if (t.kind == plan::TaskKind::kCompute && t.phase == plan::Phase::kForward)
          samples = std::max<int64_t>(samples, t.samples);
      const plan::MemoryPlan mp = plan::PlanRankMemory(net, p.ranks[r], samples, 4, true);
      EXPECT_EQ(rk["memory"]["activations_bytes"].get<double>(), double(mp.arena_bytes))
          << "rank " << r;
      EXPECT_EQ(rk["memory_predicted"]["activations_bytes"].get<double>(),
                double(mp.peak_live_bytes))
          << "rank " << r;
      const double measured = rk["memory_peak_bytes"].get<double>();
      const double predicted = rk["memory_predicted_bytes"].get<double>();
      EXPECT_GT(measured, 0) << "rank " << r;
      EXPECT_LE(std::fabs(measured / predicted - 1), 0.10)
          << "rank " << r << ": measured " << measured << " B, predicted " << predicted << " B";
    }
  }
}

// --cpu-share: every host's processes (COMMAND on host 0, what mpirun launches on the others) run
// in the host's own cgroup with the quota; every group is gone after a normal end and after the
// script is killed mid-run; shares adding up to more than the CPUs are refused.
TEST_F(EndToEnd, EmulatedClusterGivesEveryHostItsCpuShare) {
  const std::string script = std::string(CONVSCALE_SOURCE_DIR) + "/scripts/emulated-cluster";
  const ShellResult check = Shell(script + " --check --cpu-share 0.4");
  if (check.rc != 0) GTEST_SKIP() << check.output;
  const std::string prefix = "csq" + std::to_string(::getpid());
  auto left = [&](const std::string& p) {
    return Shell("{ ls /sys/fs/cgroup/cpu /sys/fs/cgroup/cpuset; ip netns list; } | grep -c '^" +
                 p + "-' || true")
        .output;
  };
  // Each rank reads, from inside its host, its cpu cgroup and that group's quota and period.
  const std::string probe = (dir_ / "probe.sh").string();
  std::ofstream(probe) << "g=$(sed -n 's/^[0-9]*:cpu://p' /proc/self/cgroup)\n"
                          "echo \"$(hostname) in $g: quota $(cat $EMULATED_CPU_CGROUPS$g/"
                          "cpu.cfs_quota_us) period $(cat $EMULATED_CPU_CGROUPS$g/"
                          "cpu.cfs_period_us)\"\n";
  ShellResult r = Shell(Guard(60) + script + " --prefix " + prefix +
                        " --hosts 2 --cpu-share 0.4 --cpuset -- mpirun -np 2 -x "
                        "EMULATED_CPU_CGROUPS sh " +
                        probe);
  ASSERT_EQ(r.rc, 0) << r.output;
  for (const std::string& h : {prefix + "-h0", prefix + "-h1"})
    EXPECT_NE(r.output.find(h + " in /" + h + ": quota 4000 period 10000"), std::string::npos)
        << r.output;
  EXPECT_EQ(left(prefix), "0\n");

  // Killed while COMMAND runs: the script ends COMMAND and removes every group and namespace.
  const std::string killed = prefix + "k";
  r = Shell("bash -c '" + script + " --prefix " + killed +
            " --hosts 2 --cpu-share 0.4 -- sleep 60 & s=$!; t=/sys/fs/cgroup/cpu/" + killed +
            "-h0/tasks; for i in $(seq 100); do [ -s $t ] && break; sleep 0.1; done; "
            "p=$(head -n1 $t); kill -TERM $s; wait $s; echo rc=$?; "
            "kill -0 $p 2>/dev/null && echo alive=$p; true'");
  EXPECT_NE(r.output.find("rc=143"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("alive="), std::string::npos) << r.output;
  EXPECT_EQ(left(killed), "0\n");

  // Two more halves of a CPU than the machine has CPUs: refused before anything is made.
  const int cpus = std::stoi(Shell("env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc").output);
  const std::string hosts = std::to_string(2 * cpus + 1);
  r = Shell(script + " --prefix " + prefix + " --hosts " + hosts + " --cpu-share 0.5 -- true");
  EXPECT_EQ(r.rc, 2) << r.output;
  EXPECT_NE(r.output.find("emulated-cluster: --hosts " + hosts +
                          " --cpu-share 0.5: the hosts' shares add up to " + std::to_string(cpus) +
                          ".5 CPUs, this machine has " + std::to_string(cpus) + "\n"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(left(prefix), "0\n");
}

}  // namespace
}  // namespace convscale::exec
