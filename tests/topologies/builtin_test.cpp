// Every built-in cluster loads at several sizes, and its routes are connected paths.
#include <gtest/gtest.h>

#include "tests/topologies/topo_test_util.h"
#include "topologies/analysis.h"

namespace convscale::topo {
namespace {

class Builtin : public ::testing::TestWithParam<std::string> {};

TEST_P(Builtin, LoadsAtSeveralSizes) {
  const std::string name = GetParam();
  auto def = LoadCluster(name, {});
  EXPECT_EQ(def->name(), name);
  const int dpn = def->devices_per_node();
  for (int gpus : {1, 2, dpn, dpn + 1, 4 * dpn, 32 * dpn + 3}) {
    ClusterOptions o;
    o.gpus = gpus;
    auto c = LoadCluster(name, o);
    SCOPED_TRACE(name + " --gpus " + std::to_string(gpus));
    ASSERT_EQ(c->num_devices(), gpus);
    EXPECT_EQ(c->num_nodes(), (gpus + dpn - 1) / dpn);
    const int n = c->num_endpoints();
    for (int a = 0; a < n; a += std::max(1, n / 13))
      for (int b = 0; b < n; b += std::max(1, n / 11))
        if (a != b) ASSERT_TRUE(testing::IsPath(*c, a, b));
    if (gpus > 1) {
      EXPECT_GT(c->bisection_bandwidth_Bps(), 0);
      EXPECT_GT(Summarize(*c).min_pair_bandwidth_Bps, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, Builtin, ::testing::ValuesIn(BuiltinClusterNames()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

TEST(BuiltinList, HasTheRequiredClusters) {
  const auto names = BuiltinClusterNames();
  for (const char* want : {"dgx1-p100", "dgx1-v100", "dgx2", "dgx-a100", "dgx-h100", "pcie8-p40",
                           "p2.8xlarge", "p3.16xlarge", "dgx-a100-hdr200", "dgx-a100-hdr200-2to1",
                           "cpu-minicluster", "cpu-minicluster-1g"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

// The emulated cluster (scripts/emulated-cluster): 4 nodes, one CPU each, 200 Mbit/s links through
// one switch.
TEST(BuiltinList, CpuMinicluster) {
  auto c = LoadCluster("cpu-minicluster", {});
  EXPECT_EQ(c->num_devices(), 4);
  EXPECT_EQ(c->endpoint(0).type->kind, "cpu");
  EXPECT_EQ(c->endpoint(0).name, "node0/socket0");
  EXPECT_DOUBLE_EQ(c->endpoint(0).type->peak_flops[0], 250e9);
  const Route& r = c->route(0, 1);
  EXPECT_DOUBLE_EQ(r.bandwidth_Bps, 25e6);
  EXPECT_NEAR(r.latency_s, 100.4e-6, 1e-12);
  EXPECT_DOUBLE_EQ(LoadCluster("cpu-minicluster-1g", {})->route(0, 1).bandwidth_Bps, 125e6);
}

// Large clusters load without computing all routes; routes are cheap and consistent.
TEST(BuiltinList, LargeClusters) {
  for (int gpus : {1024, 16384}) {
    ClusterOptions o;
    o.gpus = gpus;
    auto c = LoadCluster("dgx-a100-hdr200", o);
    EXPECT_EQ(c->num_nodes(), gpus / 8);
    for (int a : {0, 7, gpus / 2, gpus - 1})
      for (int b : {1, 9, gpus / 3, gpus - 2})
        if (a != b) ASSERT_TRUE(testing::IsPath(*c, a, b));
    // Cross-pod routes climb to the core level: 2 + 2 + 1 + 4 (fat-tree) ... and stay <= 10 hops.
    EXPECT_LE(c->route(0, gpus - 1).hops.size(), 10u);
  }
}

// The default compute precision of every built-in device: mixed precision where the datasheet
// peak says tensor cores (half precision at least 4x fp32), fp32 elsewhere.
TEST(DefaultComputePrecision, TensorCoreDevicesTrainInMixedPrecision) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"dgx-a100-hdr200", "bf16"},  // A100: bf16 312 TFLOP/s = 16x fp32
      {"dgx-h100", "bf16"},         // H100: bf16 989.4 TFLOP/s = 14.8x fp32
      {"dgx1-v100", "fp16"},        // V100: no bf16; fp16 125 TFLOP/s = 8x fp32
      {"p3.16xlarge", "fp16"},      // V100
      {"dgx1-p100", "fp32"},        // P100: fp16 21.2 TFLOP/s = 2x fp32, no tensor cores
      {"p2.8xlarge", "fp32"},       // K80: fp32 only
      {"pcie8-p40", "fp32"},        // P40: fp32 only
      {"cpu-minicluster", "fp32"},  // CPUs
  };
  for (const auto& [cluster, precision] : expected) {
    auto c = LoadCluster(cluster, {});
    ASSERT_NE(c->endpoint(0).type, nullptr);
    EXPECT_STREQ(PrecisionName(DefaultComputePrecision(*c->endpoint(0).type)), precision.c_str())
        << cluster;
  }
  // The threshold: exactly 4x is a matrix unit, just under is not; a CPU never is.
  DeviceType d;
  d.peak_flops = {10e12, 0, 40e12, 0};
  EXPECT_EQ(DefaultComputePrecision(d), Precision::kFP16);
  d.peak_flops = {10e12, 0, 39.9e12, 39.9e12};
  EXPECT_EQ(DefaultComputePrecision(d), Precision::kFP32);
  d.peak_flops = {10e12, 0, 160e12, 160e12};
  EXPECT_EQ(DefaultComputePrecision(d), Precision::kBF16);
  d.kind = "cpu";
  EXPECT_EQ(DefaultComputePrecision(d), Precision::kFP32);
}

}  // namespace
}  // namespace convscale::topo
