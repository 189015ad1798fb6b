// The default settings against published experience: data-parallel ResNet-50 on DGX A100 nodes
// with HDR InfiniBand scales about 90% to 64 GPUs, and VGG-16 (138 M parameters, 90% of them in
// the fully connected layers) on 25 Gbit/s Ethernet is bound by communication. Both at the
// defaults a user gets without options (mixed precision, fp32 gradients, the calibrated losses of
// docs/simulator.md), with the all-reduce NCCL runs across DGX nodes: rings inside each node over
// NVSwitch and between the nodes, one per NIC (hierarchical). ResNet-50 at the batch of the
// published runs (NVIDIA's mixed-precision ResNet-50 on A100, 256 per GPU): 90.2%, 98.4% without
// the losses; at the default 32 per device the 2.5 ms per-iteration overhead weighs on an 11 ms
// compute step and it scales 72.9%.
#include <gtest/gtest.h>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "topologies/cluster.h"

namespace convscale::cost {
namespace {

Summary DataParallelAt64(const std::string& model, const std::string& cluster,
                         std::string& precision, plan::Algorithm algorithm, int64_t batch) {
  const graph::Network net = graph::LoadModel(model, batch);
  topo::ClusterOptions co;
  co.gpus = 64;
  const auto cl = topo::LoadCluster(cluster, co);
  plan::StrategyOptions o;
  o.strategy = "dp";
  o.gpus = 64;
  o.algorithm = algorithm;
  o.batch = batch;
  precision = plan::ComputePrecision(o, *cl);
  const double single = SingleDeviceTime(net, *cl, o, batch, {});
  return EstimateStrategy(net, *cl, o, {}, single);
}

TEST(PublishedScaling, ResNet50OnDgxA100HdrScalesAbout90PercentTo64Gpus) {
  std::string precision;
  const Summary s = DataParallelAt64("resnet50", "dgx-a100-hdr200", precision,
                                     plan::Algorithm::kHierarchical, 256);
  EXPECT_EQ(precision, "bf16");
  EXPECT_EQ(s.options.value("precision", ""), "bf16");
  EXPECT_EQ(s.options.value("grad_precision", ""), "fp32");
  EXPECT_GE(s.scaling_efficiency, 0.85);
  EXPECT_LE(s.scaling_efficiency, 0.95);
}

TEST(PublishedScaling, Vgg16On25GbEIsCommunicationBound) {
  std::string precision;
  const Summary s = DataParallelAt64("vgg16", "p3.16xlarge", precision,
                                     plan::Algorithm::kHierarchical, plan::kDefaultBatchPerDevice);
  EXPECT_EQ(precision, "fp16");
  // Most of the iteration waits for the all-reduce, and 64 GPUs give less than half of ideal.
  EXPECT_GT(s.exposed_comm_time_s, 0.5 * s.iteration_time_s);
  EXPECT_LT(s.scaling_efficiency, 0.5);
}

}  // namespace
}  // namespace convscale::cost
