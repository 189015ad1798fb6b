// The closed-form estimator and the memory model on the fake cluster, against hand counts.
#include <gtest/gtest.h>

#include <cstdio>

#include "model/cost/estimate.h"
#include "model/plan/collectives.h"
#include "model/plan/strategy.h"
#include "tests/plan/fake_cluster.h"
#include "tests/plan/tiny_net.h"

namespace convscale::cost {
namespace {

using plan::Lower;
using plan::StrategyOptions;
using testing::FakeCluster;
using testing::TinyNet;

double ComputeSum(const plan::Plan& p, const topo::Cluster& cl, int rank) {
  double t = 0;
  for (const auto& task : p.ranks[rank].tasks)
    if (task.kind == plan::TaskKind::kCompute)
      t += ComputeTime(task, cl.endpoint(p.ranks[rank].endpoint), p.precision, {});
  return t;
}

TEST(Estimate, RooflineComputeTime) {
  FakeCluster cl(1, 1);
  plan::Task t;
  t.flops = 1e9;  // 1e9 / (10e12 x 0.5) = 200 us
  t.bytes = 1e6;  // 1e6 / 1e12 = 1 us
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp32", {}), 200e-6 + 5e-6);
  t.bytes = 1e9;  // memory bound: 1 ms
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp32", {}), 1e-3 + 5e-6);
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp16", {}), 1e-3 + 5e-6);
  t.bytes = 0;  // fp16 peak 20e12
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp16", {}), 100e-6 + 5e-6);
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "bf16", {}), 200e-6 + 5e-6);  // none: fp32
  Calibration cal;
  cal.efficiency = 0.25;
  cal.kernel_overhead_s = 0;
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp32", cal), 400e-6);
  cl.mutable_endpoint(0).speed_factor = 0.5;  // a straggler
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp32", cal), 800e-6);
  plan::Task view;  // no FLOPs, no bytes: free
  EXPECT_EQ(ComputeTime(view, cl.endpoint(0), "fp32", {}), 0);
}

TEST(Estimate, RingTermsUseTheSlowestHopAndSharedNics) {
  FakeCluster cl(2, 2);  // ring 0 -> 1 -> 2 -> 3 -> 0; the NICs carry one flow per direction
  AlphaBeta ab = CollectiveTerms(cl, {0, 1, 2, 3}, plan::Algorithm::kRing);
  EXPECT_DOUBLE_EQ(ab.bandwidth_Bps, 10e9);
  EXPECT_DOUBLE_EQ(ab.alpha_s, 12e-6);  // gpu link + 2 NICs + gpu link
  ab = CollectiveTerms(cl, {0, 1}, plan::Algorithm::kRing);
  EXPECT_DOUBLE_EQ(ab.bandwidth_Bps, 100e9);
  EXPECT_DOUBLE_EQ(ab.alpha_s, 2e-6);
  // Hierarchical: the two inter-node rings (local index 0 and 1) share each NIC.
  const HierarchicalTerms h = Hierarchical(cl, {0, 1, 2, 3});
  EXPECT_EQ(h.local_size, 2);
  EXPECT_EQ(h.nodes, 2);
  EXPECT_DOUBLE_EQ(h.intra.bandwidth_Bps, 100e9);
  EXPECT_DOUBLE_EQ(h.inter.bandwidth_Bps, 5e9);
  const double S = 1e6;
  EXPECT_DOUBLE_EQ(CollectiveTime(cl, {0, 1, 2, 3}, plan::Collective::kAllReduce,
                                  plan::Algorithm::kHierarchical, S),
                   2 * 2e-6 + S / 100e9 + 2 * 12e-6 + (S / 2) / 5e9);
  EXPECT_DOUBLE_EQ(
      CollectiveTime(cl, {0, 1, 2, 3}, plan::Collective::kAllReduce, plan::Algorithm::kRing, S),
      6 * 12e-6 + 1.5 * S / 10e9);
}

TEST(Estimate, DataParallelIterationIsComputePlusTheLastAllReduce) {
  FakeCluster cl(1, 2);
  StrategyOptions o;
  o.batch = 4;
  o.losses = plan::LossOptions::None();  // the network and the roofline alone, by hand
  const plan::Plan p = Lower(TinyNet(), cl, o);
  Estimator est(p, cl);
  EXPECT_EQ(est.classes(), 1);
  const Summary s = est.Run();
  // One bucket, launched after the last backward task; the update waits for it.
  const double ar = 2 * 2e-6 + 1400 / 100e9;
  EXPECT_DOUBLE_EQ(s.iteration_time_s, ComputeSum(p, cl, 0) + ar);
  EXPECT_DOUBLE_EQ(s.exposed_comm_time_s, ar);
  EXPECT_DOUBLE_EQ(s.comm_time_s, ar);
  EXPECT_DOUBLE_EQ(s.compute_time_s, ComputeSum(p, cl, 0));
  EXPECT_DOUBLE_EQ(s.comm_bytes_total, 2800);  // ring all-reduce on 2: each sends 2 (n-1)/n x 1400
  EXPECT_DOUBLE_EQ(s.throughput_samples_per_s, 8 / s.iteration_time_s);
  EXPECT_EQ(s.devices, 2);
  const double single = SingleDeviceTime(TinyNet(), cl, o, 4, {});
  EXPECT_DOUBLE_EQ(single, ComputeSum(p, cl, 0));
  const Summary t = est.Run(single);
  EXPECT_DOUBLE_EQ(t.speedup, 2 * single / s.iteration_time_s);
  EXPECT_DOUBLE_EQ(t.scaling_efficiency, t.speedup / 2);
  const Json j = ToJson(t);
  for (const char* k :
       {"iteration_time_s", "throughput_samples_per_s", "speedup", "scaling_efficiency",
        "compute_time_s", "comm_time_s", "exposed_comm_time_s", "bubble_time_s", "comm_bytes_total",
        "memory_peak_bytes"})
    EXPECT_TRUE(j.contains(k)) << k;
}

TEST(Estimate, MemoryModelHandCount) {
  FakeCluster cl(1, 2);
  StrategyOptions o;
  o.batch = 4;
  o.optimizer = "adam";
  const plan::Plan p = Lower(TinyNet(), cl, o);
  const plan::Rank& r = p.ranks[0];
  EXPECT_EQ(r.memory_weights, 350 * 4);
  EXPECT_EQ(r.memory_gradients, 350 * 4);
  EXPECT_EQ(r.memory_optimizer, 350 * 4 * 2);  // Adam: two moments
  // Activations and their gradients alive at the peak (tests/plan/memory_plan_test.cpp): the
  // images 256, conv1's output 512 and its gradient 512, fc's output gradient 192.
  EXPECT_EQ(r.memory_activations, 256 + 512 + 512 + 192);
  EXPECT_EQ(r.memory_buffers, 0);  // the fp32 bucket is a view of the gradients
  // Largest transient: fc's weight gradient (330 x 4 B) before it is added into the gradients.
  EXPECT_EQ(r.memory_workspace, 330 * 4);
}

TEST(Estimate, MemoryRefusal) {
  FakeCluster cl(1, 2);
  cl.gpu_type().memory_bytes = 4096;
  StrategyOptions o;
  o.batch = 4;
  const plan::Plan p = Lower(TinyNet(), cl, o);
  try {
    CheckMemory(p, cl);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "endpoint node0/gpu0 needs 6.8 KiB but has 4.0 KiB (weights 1.4 KiB, gradients "
              "1.4 KiB, optimizer 1.4 KiB, activations 1.4 KiB, buffers 0 B, workspace 1.3 "
              "KiB); use a smaller --batch, more --stages or --micro-batches, or "
              "--allow-oversubscribe");
  }
}

TEST(Estimate, ParameterServerBytes) {
  FakeCluster cl(1, 2, 1);
  StrategyOptions o;
  o.strategy = "ps";
  o.batch = 4;
  const plan::Plan p = Lower(TinyNet(), cl, o);
  ASSERT_EQ(p.ranks.size(), 3u);
  EXPECT_EQ(p.ranks[2].endpoint, cl.server(0));
  const Summary s = Estimate(p, cl);
  EXPECT_DOUBLE_EQ(s.comm_bytes_total, 2 * 1400 + 2 * 1400);  // pushes + pulls
  EXPECT_GT(s.iteration_time_s, ComputeSum(p, cl, 0));
}

TEST(Estimate, CalibrationHitsTheMeasuredThroughput) {
  FakeCluster cl(1, 1);
  StrategyOptions o;
  const double single = SingleDeviceTime(TinyNet(), cl, o, 4, {});
  const double fast = 4 / single * 0.5;  // half the modelled speed
  std::string note = "stale";
  const Calibration cal = CalibrateEfficiency(TinyNet(), cl, o, 4, fast, {}, note);
  EXPECT_EQ(note, "");
  EXPECT_EQ(cal.compute_scale, 1);
  EXPECT_NEAR(SingleDeviceTime(TinyNet(), cl, o, 4, cal), 4 / fast, 1e-9 * (4 / fast));
  EXPECT_THROW(CalibrateEfficiency(TinyNet(), cl, o, 4, -1, {}, note), InputError);
}

// A measurement above the roofline at full efficiency is used as given: efficiency 1, and every
// compute time scaled by measured / roofline, so one device trains exactly the measured rate.
TEST(Estimate, ThroughputAboveTheRooflineIsUsedAsGivenWithANote) {
  FakeCluster cl(1, 1);
  StrategyOptions o;
  Calibration full;
  full.efficiency = 1;
  const double roofline = SingleDeviceTime(TinyNet(), cl, o, 4, full);  // seconds at eff. 1
  const double measured = 4 / roofline * 2;                             // twice the roofline
  std::string note;
  const Calibration cal = CalibrateEfficiency(TinyNet(), cl, o, 4, measured, {}, note);
  EXPECT_EQ(cal.efficiency, 1);
  EXPECT_NEAR(cal.compute_scale, 0.5, 1e-12);
  EXPECT_NEAR(SingleDeviceTime(TinyNet(), cl, o, 4, cal), roofline / 2, 1e-12 * roofline);
  char expected[512];
  std::snprintf(expected, sizeof expected,
                "--single-gpu-throughput %g is above the roofline of %s on one %s at full "
                "efficiency (%.1f samples/s at batch 4): used as given, every compute time "
                "scaled by 0.5 (cuDNN's Winograd and FFT convolutions do fewer multiplies than "
                "the direct count)",
                measured, TinyNet().name().c_str(), cl.endpoint(0).type->name.c_str(),
                4 / roofline);
  EXPECT_EQ(note, expected);
}

}  // namespace
}  // namespace convscale::cost

namespace convscale::cost {
namespace {

// A profile exactly as `convscale profile` writes it (cli/cmd_execute.cpp: "measured", the
// layers' "type", the "network" fit) loads, and its measured times replace the roofline, scaled
// linearly in samples: 32 samples on a layer measured at 16 take twice its time.
TEST(Profile, WhatConvscaleProfileWritesLoadsAndScalesWithSamples) {
  const Json j = Json::parse(R"({
    "context": {"tool": "convscale", "kind": "profile", "schema_version": 1},
    "measured": true, "model": "tiny", "device": "cpu", "precision": "fp32", "batch": 16,
    "params": 350, "update_s": 0.0002,
    "layers": [{"name": "conv1", "type": "conv2d", "forward_s": 0.001,
                "backward_data_s": 0.002, "backward_weight_s": 0.003,
                "choices": {"forward": 1, "forward_math": 2, "backward_data": 1,
                            "backward_data_math": 2, "backward_filter": 3,
                            "backward_filter_math": 2}}],
    "network": {"latency_s": 5e-5, "bandwidth_Bps": 2.3e7,
                "p2p": [{"bytes": 65536, "time_s": 0.003}], "allreduce": []}})");
  const Profile p = ProfileFromJson(j, "p.json");  // "choices" (a GPU's kernels) is no cost
  EXPECT_EQ(p.batch, 16);
  ASSERT_EQ(p.layers.count("conv1"), 1u);
  testing::FakeCluster cl(1, 1);
  Calibration cal;
  cal.profile = &p;
  plan::Task t;
  t.flops = 1e9;
  t.samples = 32;
  t.phase = plan::Phase::kBackwardWeight;
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp32", cal, "conv1"), 0.006);
  t.phase = plan::Phase::kForward;
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp32", cal, "conv1"), 0.002);
  // A layer the profile does not have falls back to the roofline (1e9 / 5e12 + 5 us).
  EXPECT_DOUBLE_EQ(ComputeTime(t, cl.endpoint(0), "fp32", cal, "fc"), 200e-6 + 5e-6);
}

TEST(Profile, UnknownKeysAreLocated) {
  const Json j = Json::parse(R"({"batch": 16, "layers": [{"name": "a", "forwrd_s": 1}]})");
  try {
    ProfileFromJson(j, "p.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "p.json: /layers/0/forwrd_s: unknown key \"forwrd_s\"; did you mean \"forward_s\"?");
  }
}

}  // namespace
}  // namespace convscale::cost
