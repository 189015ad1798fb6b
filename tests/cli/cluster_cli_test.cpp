// `convscale clusters` and `convscale cluster show`: output keys and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

struct Result {
  int code = -1;
  std::string out;
};

Result RunCli(const std::string& args) {
  const std::string cmd = std::string(CONVSCALE_BINARY) + " " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(ClusterCli, ListsBuiltins) {
  const Result r = RunCli("clusters");
  EXPECT_EQ(r.code, 0);
  for (const char* name : {"dgx1-v100", "dgx-a100-hdr200", "cpu-minicluster", "p2.8xlarge"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
}

TEST(ClusterCli, ShowJsonKeys) {
  const Result r = RunCli("cluster show dgx-a100-hdr200 --gpus 32 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["devices"], 32);
  EXPECT_EQ(j["nodes"], 4);
  // The first 2 nodes' 16 NICs at 25 GB/s; both leaves are non-blocking.
  EXPECT_DOUBLE_EQ(j["bisection_bandwidth_Bps"].get<double>(), 2 * 8 * 25e9);
  EXPECT_DOUBLE_EQ(j["min_pair_bandwidth_Bps"].get<double>(), 25e9);
  EXPECT_GT(j["max_pair_latency_s"].get<double>(), 0);
  EXPECT_TRUE(j.contains("diameter_hops"));
  EXPECT_TRUE(j.contains("levels"));
  EXPECT_EQ(j["context"]["kind"], "cluster");
}

TEST(ClusterCli, ShowText) {
  const Result r = RunCli("cluster show dgx1-v100");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("bisection"), std::string::npos);
  EXPECT_NE(r.out.find("slowest pair"), std::string::npos);
  EXPECT_NE(r.out.find("diameter"), std::string::npos);
}

TEST(ClusterCli, BadInputExitsTwo) {
  Result r = RunCli("cluster show dgx1-v10");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out,
            "convscale: \"dgx1-v10\" is neither a built-in cluster nor a file; did you mean "
            "\"dgx1-v100\"? (run \"convscale clusters\" for the list)\n");
  r = RunCli("cluster show dgx-a100 --nodes 2 --gpus 20");
  EXPECT_EQ(r.code, 2);
  const std::string path = ::testing::TempDir() + "bad_cluster.json";
  std::ofstream(path) << R"({"format": "convscale-cluster", "version": 1, "nam": "x"})";
  r = RunCli("cluster show " + path);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "convscale: " + path + ": /nam: unknown key \"nam\"; did you mean \"name\"?\n");
}

}  // namespace
