// Whole simulations: parameter servers, staleness, stragglers, outputs and determinism.
#include <gtest/gtest.h>

#include <map>

#include <cstdlib>

#include "model/cost/estimate.h"
#include "model/graph/zoo.h"
#include "model/plan/strategy.h"
#include "simulate/simulator.h"
#include "tests/simulate/fake_cluster.h"
#include "tests/simulate/plans.h"

namespace convscale::sim {
namespace {

using namespace testing;  // NOLINT: test helpers

// W workers (endpoints 0..W-1) and one server (endpoint W). A worker computes `flops` (1e9: 1 ms
// at 1 TFLOP/s), pushes its
// gradient of S bytes and pulls the new weights. Sync: the server sums all W pushes, updates and
// answers every worker. Async: it updates and answers each push on its own.
plan::Plan PsPlan(int W, double S, bool async, double flops = 1e9) {
  plan::Plan p;
  p.context.strategy = "ps";
  p.global_batch = 32 * W;
  p.async = async;
  for (int w = 0; w < W; ++w) {
    plan::Rank r;
    r.endpoint = w;
    r.role = plan::Role::kWorker;
    r.tasks.push_back(ComputeTask(0, flops, {}, "fwd+bwd"));
    r.tasks.push_back(P2PTask(1, plan::TaskKind::kSend, W, 0, S, {0}, "push"));
    r.tasks.push_back(P2PTask(2, plan::TaskKind::kRecv, W, 1, S, {}, "pull"));
    r.tasks[1].layers = {0};
    r.tasks[2].layers = {0};
    p.ranks.push_back(r);
  }
  plan::Rank s;
  s.endpoint = W;
  s.role = plan::Role::kServer;
  auto& ts = s.tasks;
  if (!async) {
    std::vector<int> got;
    for (int w = 0; w < W; ++w) {
      ts.push_back(P2PTask(w, plan::TaskKind::kRecv, w, 0, S, {}, "push w" + std::to_string(w)));
      ts.back().layers = {0};
      got.push_back(w);
    }
    ts.push_back(ComputeTask(W, 1e6, got, "aggregate", plan::Phase::kAggregate));
    ts.push_back(ComputeTask(W + 1, 1e6, {W}, "update", plan::Phase::kUpdate));
    ts.back().layer = 0;
    for (int w = 0; w < W; ++w) {
      ts.push_back(P2PTask(W + 2 + w, plan::TaskKind::kSend, w, 1, S, {W + 1},
                           "pull w" + std::to_string(w)));
      ts.back().layers = {0};
    }
  } else {
    for (int w = 0; w < W; ++w) {
      const int base = static_cast<int>(ts.size());
      ts.push_back(P2PTask(base, plan::TaskKind::kRecv, w, 0, S, {}, "push"));
      ts.back().layers = {0};
      ts.push_back(ComputeTask(base + 1, 1e6, {base}, "update", plan::Phase::kUpdate));
      ts.back().layer = 0;
      ts.push_back(P2PTask(base + 2, plan::TaskKind::kSend, w, 1, S, {base + 1}, "pull"));
      ts.back().layers = {0};
    }
  }
  p.ranks.push_back(s);
  return p;
}

// W workers (endpoints 0..W-1) push a gradient of B bytes to one server (endpoint W) as k
// messages of B / k bytes each, all ready after 1 ms of compute; the server sums them (1 us).
plan::Plan IncastPlan(int W, int k, double B) {
  plan::Plan p;
  p.context.strategy = "ps";
  p.global_batch = 32 * W;
  for (int w = 0; w < W; ++w) {
    plan::Rank r;
    r.endpoint = w;
    r.role = plan::Role::kWorker;
    r.tasks.push_back(ComputeTask(0, 1e9, {}, "fwd+bwd"));
    for (int i = 0; i < k; ++i) {
      r.tasks.push_back(
          P2PTask(1 + i, plan::TaskKind::kSend, W, i, B / k, {0}, "push " + std::to_string(i)));
      r.tasks.back().layers = {i};
    }
    p.ranks.push_back(r);
  }
  plan::Rank s;
  s.endpoint = W;
  s.role = plan::Role::kServer;
  std::vector<int> got;
  for (int w = 0; w < W; ++w)
    for (int i = 0; i < k; ++i) {
      got.push_back(static_cast<int>(s.tasks.size()));
      s.tasks.push_back(P2PTask(got.back(), plan::TaskKind::kRecv, w, i, B / k, {},
                                "push w" + std::to_string(w) + " " + std::to_string(i)));
      s.tasks.back().layers = {i};
    }
  s.tasks.push_back(ComputeTask(static_cast<int>(s.tasks.size()), 1e6, got, "aggregate",
                                plan::Phase::kAggregate));
  p.ranks.push_back(s);
  return p;
}

SimulateOptions Opts(int warmup = 0, int iterations = 1) {
  SimulateOptions o;
  o.warmup = warmup;
  o.iterations = iterations;
  return o;
}

// A two-rank plan in which rank 0 sends rank 1 one message of `bytes` per name, tag k for the
// k-th, all ready at once.
plan::Plan MessagesPlan(const std::vector<std::string>& names, double bytes) {
  plan::Plan p;
  p.context.strategy = "mp";
  p.global_batch = 32;
  plan::Rank a, b;
  a.endpoint = 0;
  b.endpoint = 1;
  for (int k = 0; k < static_cast<int>(names.size()); ++k) {
    a.tasks.push_back(P2PTask(k, plan::TaskKind::kSend, 1, k, bytes, {}, names[k]));
    b.tasks.push_back(P2PTask(k, plan::TaskKind::kRecv, 0, k, bytes, {}, names[k]));
  }
  p.ranks = {a, b};
  return p;
}

// Two messages from rank 0 to rank 1, ready together: they leave one after the other (one
// connection per pair), so the first arrives after S/B and the second after 2 S/B, as on a TCP
// socket. Sharing the link side by side would deliver both at 2 S/B and hold up a pipeline
// stage that only needs the first (a 2-stage fashion_cnn pipeline was predicted 39% slow).
TEST(PointToPointTest, MessagesBetweenTwoRanksAreFifo) {
  const double S = 25e6, B = 12.5e9, lat = 1e-6;
  auto cl = FakeCluster::Star(2, B, lat);
  const plan::Plan p = MessagesPlan({"first", "second"}, S);
  const auto r = Simulate(p, *cl, Opts());
  std::map<int, double> end;  // rank 1's task -> end
  for (const cost::Interval& e : r.timeline.ranks[1].intervals)
    end[e.task] = e.end_s - r.timeline.start_s;
  const double one = 2 * lat + S / B;  // route: two links of latency `lat`
  ASSERT_EQ(end.size(), 2u);
  EXPECT_NEAR(end[0], one, one * 1e-6);
  EXPECT_NEAR(end[1], 2 * one, one * 1e-6);
  EXPECT_NEAR(r.iteration_time_s, 2 * one, one * 1e-6);
}

TEST(ParameterServerTest, ServerLinkBecomesTheBottleneckAsWorkersGrow) {
  const double S = 50e6, B = 12.5e9, lat = 1e-6;
  double prev = 0;
  for (int W : {2, 4, 8}) {
    auto cl = FakeCluster::Star(W + 1, B, lat);
    const auto r = Simulate(PsPlan(W, S, false), *cl, Opts());
    // Pushes queue on the server's link in, pulls on its link out: 2 W S / B plus compute.
    const double want = 1e-3 + 2 * W * S / B + 2e-6 + 2 * 2e-6;
    EXPECT_NEAR(r.iteration_time_s, want, want * 0.01) << W;
    ASSERT_FALSE(r.links.empty());
    EXPECT_EQ(r.links[0].name, "host" + std::to_string(W));  // the server's link is busiest
    EXPECT_GT(r.iteration_time_s, prev * 1.5);
    prev = r.iteration_time_s;
    ASSERT_TRUE(r.has_staleness);
    EXPECT_EQ(r.staleness_max, 0);  // sync: every gradient is computed on current weights
  }
}

TEST(ParameterServerTest, AsyncReportsStalenessPerGradient) {
  const int W = 4;
  auto cl = FakeCluster::Star(W + 1, 12.5e9, 1e-6);
  const auto r = Simulate(PsPlan(W, 10e6, true), *cl, Opts(0, 1));
  ASSERT_TRUE(r.has_staleness);
  EXPECT_EQ(r.staleness_samples, W);
  // The server posts all W receives at once, so the W pushes share its link and arrive together,
  // before any update: staleness 0 in the first iteration.
  EXPECT_DOUBLE_EQ(r.staleness_mean, 0);
  EXPECT_EQ(r.staleness_max, 0);
}

// Async over several iterations with a straggler: the run reaches its end (no deadlock), the fast
// workers keep computing instead of waiting (higher throughput than sync), and the gradients
// are stale by at least one iteration and, with a bound, at most the bound.
TEST(ParameterServerTest, AsyncWithAStragglerBeatsSyncWithinItsStalenessBound) {
  const int W = 4, bound = 2;
  auto cl = FakeCluster::Star(W + 1, 12.5e9, 1e-6);
  SimulateOptions o = Opts(1, 6);
  o.stragglers = {{0, 0.25}};  // worker 0 computes 4 ms instead of 1 ms
  const auto sync = Simulate(PsPlan(W, 1e6, false), *cl, o);
  // Sync: every iteration waits for the straggler's 4 ms (plus push, update, pull).
  EXPECT_GT(sync.iteration_time_s, 0.004);
  EXPECT_LT(sync.iteration_time_s, 0.0045);
  EXPECT_EQ(sync.staleness_max, 0);

  // Unbounded: the three fast workers never wait for the straggler.
  plan::Plan async_plan = PsPlan(W, 1e6, true);
  const auto free = Simulate(async_plan, *cl, o);
  ASSERT_EQ(free.iteration_times_s.size(), 7u);
  EXPECT_LT(free.iteration_time_s, 0.5 * sync.iteration_time_s);
  EXPECT_GT(free.staleness_max, bound);

  // Bounded: a fast worker runs at most `bound` iterations ahead of the straggler.
  async_plan.staleness_bound = bound;
  const auto async = Simulate(async_plan, *cl, o);
  ASSERT_TRUE(async.has_staleness);
  EXPECT_EQ(async.staleness_samples, W * 6);
  EXPECT_GT(async.staleness_max, 0);
  EXPECT_GT(async.staleness_mean, 0);
  EXPECT_LE(async.staleness_max, bound);
  EXPECT_EQ(async.staleness_bound, bound);
  EXPECT_GE(async.staleness_updates_max, W - 1);  // others' updates between pull and push
  EXPECT_LT(async.iteration_time_s, sync.iteration_time_s);
  EXPECT_GT(async.iteration_time_s, free.iteration_time_s);
}

// A bound of 0 is synchronous in iterations: no worker starts iteration i before every worker
// finished i - 1, so no gradient meets weights already updated by a newer iteration.
TEST(ParameterServerTest, AsyncWithBoundZeroHasNoIterationStaleness) {
  const int W = 3;
  auto cl = FakeCluster::Star(W + 1, 12.5e9, 1e-6);
  SimulateOptions o = Opts(1, 3);
  o.stragglers = {{1, 0.5}};
  plan::Plan p = PsPlan(W, 1e6, true);
  p.staleness_bound = 0;
  const auto r = Simulate(p, *cl, o);
  EXPECT_EQ(r.staleness_samples, W * 3);
  EXPECT_EQ(r.staleness_max, 0);
  // Each iteration: the straggler's 2 ms, its push, update (1 us) and pull; the others wait.
  EXPECT_GT(r.iteration_time_s, 0.002);
}

// Plans from the planner (model/plan/lower_ps.cpp), 1 warm-up + 3 iterations: sync gradients are
// never stale (the server's pull sends leave their layers to the workers' receives, which the
// staleness accounting must still match), and async ones stay within the bound.
TEST(ParameterServerTest, PlannerPlansSyncFreshAsyncWithinBound) {
  topo::ClusterOptions co;
  co.gpus = 4;
  co.server_hosts = 1;
  auto cl = topo::LoadCluster("dgx-a100", co);
  const graph::Network net = graph::LoadModel("resnet18", 32);
  plan::StrategyOptions o;
  o.strategy = "ps";
  o.gpus = 4;
  o.batch = 32;
  // fp32 (not the A100's bf16 default): compute long enough for the straggler to set the pace.
  o.precision = "fp32";
  SimulateOptions so = Opts(1, 3);
  so.stragglers = {{1, 0.5}};
  const auto sync = Simulate(plan::Lower(net, *cl, o), *cl, so);
  ASSERT_TRUE(sync.has_staleness);
  EXPECT_GT(sync.staleness_samples, 0);
  EXPECT_EQ(sync.staleness_max, 0);
  EXPECT_EQ(sync.staleness_updates_max, 0);
  o.async = true;
  o.staleness = 1;
  const auto async = Simulate(plan::Lower(net, *cl, o), *cl, so);
  EXPECT_EQ(async.staleness_samples, sync.staleness_samples);
  EXPECT_GT(async.staleness_max, 0);
  EXPECT_LE(async.staleness_max, 1);
  EXPECT_LT(async.iteration_time_s, sync.iteration_time_s);
}

// In-node aggregation (--ps-aggregation node) on 2 nodes x 8 devices, 2 servers colocated on
// devices 0 and 1 (node 0): without it each of node 1's 8 workers pushes its whole gradient G
// through node 1's uplink and pulls G back; with it node 1's first worker alone does, after
// summing its node's gradients over the node's own links. So the uplink carries 8 G each way,
// then G: 1/8 of the bytes. The plan runs to the end (the leader's receives, sum, push, pull and
// forwards form no cycle), and it is faster: 1 GB/s uplinks make the pushes the bottleneck.
TEST(ParameterServerTest, NodeAggregationSendsOneEighthThroughTheUplink) {
  auto cl = FakeCluster::Tree(2, 8, 100e9, 1e9, 1e-6);
  const graph::Network net = graph::LoadModel("fashion_cnn", 32);
  plan::StrategyOptions o;
  o.strategy = "ps";
  o.batch = 32;
  o.servers = 2;
  o.ps_placement = plan::PsPlacement::kColocated;
  const plan::Plan none = plan::Lower(net, *cl, o);
  o.ps_aggregation = plan::PsAggregation::kNode;
  const plan::Plan node = plan::Lower(net, *cl, o);
  double G = 0;  // gradient bytes of the whole model, as sharded over the servers
  for (const auto& b : node.context.options["server_bytes"]) G += b.get<double>();
  ASSERT_GT(G, 0);
  auto uplink = [&](const plan::Plan& p, SimulationResult* out) {
    const SimulationResult r = Simulate(p, *cl, Opts());
    *out = r;
    for (const LinkStats& l : r.links)
      if (l.name == "fabric/up1") return std::make_pair(l.bytes_forward, l.bytes_backward);
    return std::make_pair(-1.0, -1.0);
  };
  SimulationResult a, b;
  const auto [none_out, none_in] = uplink(none, &a);
  const auto [node_out, node_in] = uplink(node, &b);
  EXPECT_DOUBLE_EQ(none_out, 8 * G);
  EXPECT_DOUBLE_EQ(none_in, 8 * G);
  EXPECT_DOUBLE_EQ(node_out, G);
  EXPECT_DOUBLE_EQ(node_in, G);
  EXPECT_LT(b.iteration_time_s, a.iteration_time_s);
}

TEST(StragglerTest, SlowRankStretchesTheIteration) {
  auto cl = FakeCluster::Star(4, 12.5e9, 1e-6);
  const plan::Plan p = BucketPlan(4, 8, 1e9, 2, 1e6, true);
  const double base = Simulate(p, *cl, Opts()).iteration_time_s;
  SimulateOptions o = Opts();
  o.stragglers = {{2, 0.5}};
  const auto slow = Simulate(p, *cl, o);
  // 16 kernels of 1 ms take 32 ms on the straggler; the others wait for it in the all-reduces.
  EXPECT_GT(slow.iteration_time_s, base + 0.015);
  EXPECT_NEAR(slow.compute_time_s, 0.032, 1e-9);
  // Waiting for the straggler to join the all-reduces is idle time, not communication.
  EXPECT_GT(slow.ranks[0].idle_s, 0.015);
  EXPECT_LT(slow.ranks[0].exposed_comm_s, 0.001);
}

// Exposed communication (docs/simulator.md): the critical worker's push and pull, nothing of the
// server's long wait for pushes. W = 2 workers compute 100 ms, then push S = 1 MB each into the
// server's 12.5 GB/s link (shared: 2 S / B after 2 us of latency), the server aggregates and
// updates (1 us each: idle for the workers) and sends both pulls out over the same link.
TEST(ExposedCommTest, SyncServerCountsTheCriticalWorkersPushAndPullOnly) {
  const int W = 2;
  const double S = 1e6, B = 12.5e9;
  auto cl = FakeCluster::Star(W + 1, B, 1e-6);
  const auto r = Simulate(PsPlan(W, S, false, 1e11), *cl, Opts());
  const double transfer = 2e-6 + W * S / B;
  EXPECT_NEAR(r.iteration_time_s, 0.1 + 2 * transfer + 2e-6, 1e-9);
  EXPECT_EQ(r.critical_rank, 0);  // both workers end together: the lowest rank
  EXPECT_NEAR(r.exposed_comm_time_s, 2 * transfer, 1e-9);
  EXPECT_NEAR(r.ranks[0].idle_s, 2e-6, 1e-9);
  EXPECT_NEAR(r.bubble_time_s, 2e-6, 1e-9);
  // The server's receives are active only once the workers have pushed: its 100 ms wait is idle.
  EXPECT_NEAR(r.ranks[W].communicating_s, 2 * transfer, 1e-9);
}

// The estimator uses the same definition; with one worker there is no contention, so the two
// agree to the solver's precision: push and pull of S at B after 2 us each.
TEST(ExposedCommTest, SimulateAndEstimateShareTheDefinition) {
  const double S = 1e6, B = 12.5e9;
  auto cl = FakeCluster::Star(2, B, 1e-6);
  const plan::Plan p = PsPlan(1, S, false, 1e11);
  const auto sim = Simulate(p, *cl, Opts());
  const cost::Summary est = cost::Estimate(p, *cl);
  const double transfer = 2e-6 + S / B;
  EXPECT_NEAR(sim.exposed_comm_time_s, 2 * transfer, 1e-9);
  EXPECT_NEAR(est.exposed_comm_time_s, 2 * transfer, 1e-9);
  EXPECT_NEAR(est.iteration_time_s, sim.iteration_time_s, 1e-9);
}

TEST(StragglerTest, BadSpecsAreInputErrors) {
  try {
    ParseStraggler("3");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--straggler 3: expected RANK:FACTOR, e.g. 3:0.5");
  }
  EXPECT_EQ(ParseStraggler("3:0.5"), std::make_pair(3, 0.5));
  auto cl = FakeCluster::Star(2, 1e9, 1e-6);
  SimulateOptions o = Opts();
  o.stragglers = {{5, 0.5}};
  try {
    Simulate(AllReducePlan(2, 1e6), *cl, o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--straggler 5:0.5: the plan has ranks 0..1");
  }
}

TEST(BackgroundLoadTest, FabricLinksKeepTheRestOfTheirBandwidth) {
  auto cl = FakeCluster::Tree(2, 1, 100e9, 10e9, 1e-6);
  SimulateOptions o = Opts();
  o.lowering.platform.background_load = 0.5;
  const auto r = Simulate(AllReducePlan(2, 100e6), *cl, o);
  // Two steps of 50 MB over 4 hops; the uplinks keep 5 GB/s.
  EXPECT_NEAR(r.iteration_time_s, 2 * (4e-6 + 50e6 / 5e9), 1e-9);
}

// On a single-switch cluster the only shared links are the NICs: they are loaded too.
TEST(BackgroundLoadTest, NicsOfASingleSwitchClusterKeepTheRestOfTheirBandwidth) {
  auto cl = FakeCluster::Star(2, 10e9, 1e-6);
  SimulateOptions o = Opts();
  o.lowering.platform.background_load = 0.5;
  const auto r = Simulate(AllReducePlan(2, 100e6), *cl, o);
  // Two steps of 50 MB over 2 hops (NIC up, NIC down), each NIC keeping 5 GB/s.
  EXPECT_NEAR(r.iteration_time_s, 2 * (2e-6 + 50e6 / 5e9), 1e-9);
}

TEST(BackgroundLoadTest, OneNodeHasNothingToLoadAndSaysSo) {
  auto cl = FakeCluster::Tree(1, 2, 100e9, 10e9, 1e-6);
  SimulateOptions o = Opts();
  o.lowering.platform.background_load = 0.9;
  try {
    Simulate(AllReducePlan(2, 1e6), *cl, o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "--background-load 0.9: cluster \"tree1x2\" here is one node: no route crosses "
                 "a NIC or fabric link to load");
  }
}

TEST(OutputTest, SameInputGivesByteIdenticalOutputs) {
  setenv("CONVSCALE_FIXED_TIMESTAMP", "2026-01-01T00:00:00Z", 1);
  auto cl = FakeCluster::Tree(2, 4, 100e9, 12.5e9, 1e-6);
  const plan::Plan p = BucketPlan(8, 16, 1e8, 4, 4e6, false);
  const auto a = Simulate(p, *cl, Opts(1, 2));
  const auto b = Simulate(p, *cl, Opts(1, 2));
  EXPECT_EQ(SummaryJson(a, p, *cl).dump(2), SummaryJson(b, p, *cl).dump(2));
  EXPECT_EQ(ChromeTrace(a, p, *cl), ChromeTrace(b, p, *cl));
  EXPECT_EQ(SummaryCsv(a, p), SummaryCsv(b, p));
}

// Flows carried by worker actors (the engine's mode for large plans, engine.h) give the same
// outputs, byte for byte, as maestro-owned flows: overlapping coarse all-reduces with rate
// bounds on a 2:1 tree, the same chunk-exact, FIFO point-to-point messages, an async parameter
// server with a straggler and a staleness bound, and a planner's pipeline.
TEST(FlowActorsTest, GiveByteIdenticalOutputs) {
  setenv("CONVSCALE_FIXED_TIMESTAMP", "2026-01-01T00:00:00Z", 1);
  struct Case {
    std::string name;
    plan::Plan plan;
    std::shared_ptr<topo::Cluster> cluster;
    SimulateOptions options;
  };
  std::vector<Case> cases;
  std::shared_ptr<topo::Cluster> tree = FakeCluster::Tree(2, 4, 100e9, 12.5e9, 1e-6);
  for (CollectiveMode m : {CollectiveMode::kCoarse, CollectiveMode::kExact}) {
    SimulateOptions o = Opts(1, 2);
    o.lowering.collectives = m;
    cases.push_back(
        {std::string("buckets ") + Name(m), BucketPlan(8, 16, 1e8, 4, 4e6, false), tree, o});
  }
  {
    const plan::Plan p = MessagesPlan({"m0", "m1", "m2"}, 25e6);
    cases.push_back({"fifo messages", p, FakeCluster::Star(2, 12.5e9, 1e-6), Opts(0, 2)});
  }
  {
    plan::Plan p = PsPlan(4, 1e6, true);
    p.staleness_bound = 2;
    SimulateOptions o = Opts(1, 6);
    o.stragglers = {{0, 0.25}};
    cases.push_back({"async ps", p, FakeCluster::Star(5, 12.5e9, 1e-6), o});
  }
  {
    SimulateOptions o = Opts(1, 2);
    o.lowering.collectives = CollectiveMode::kCoarse;
    o.lowering.ps_coalesce_bytes = 250e3;
    cases.push_back(
        {"coarse ps messages", IncastPlan(4, 8, 800e3), FakeCluster::Star(5, 12.5e9, 1e-6), o});
  }
  {
    topo::ClusterOptions co;
    co.gpus = 4;
    std::shared_ptr<topo::Cluster> cl = topo::LoadCluster("dgx-a100", co);
    plan::StrategyOptions so;
    so.strategy = "mp";
    so.gpus = 4;
    so.batch = 32;
    so.micro_batches = 4;
    cases.push_back(
        {"pipeline", plan::Lower(graph::LoadModel("resnet18", 32), *cl, so), cl, Opts(1, 2)});
  }
  for (const Case& c : cases) {
    SimulateOptions actors = c.options;
    actors.flow_actor_ranks = 1;
    const auto a = Simulate(c.plan, *c.cluster, c.options);
    const auto b = Simulate(c.plan, *c.cluster, actors);
    EXPECT_GT(a.flows_per_iteration, 0) << c.name;
    EXPECT_EQ(SummaryJson(a, c.plan, *c.cluster).dump(2),
              SummaryJson(b, c.plan, *c.cluster).dump(2))
        << c.name;
    EXPECT_EQ(ChromeTrace(a, c.plan, *c.cluster), ChromeTrace(b, c.plan, *c.cluster)) << c.name;
    EXPECT_EQ(SummaryCsv(a, c.plan), SummaryCsv(b, c.plan)) << c.name;
  }
}

// The incast by hand: W workers each push B bytes to one server whose link of bandwidth L they
// share, so the push phase takes W B / L. Exact, each worker's k messages leave one after the
// other on its connection, each paying the route's latency (2 links of 1 us); coarse, the k
// messages waiting on the connection leave as one flow (latency once), or in groups of at most
// `ps_coalesce_bytes` (k / 2 flows of 2 messages here). Staleness and the server's wait for the
// last push are unchanged.
TEST(CoarsePsMessagesTest, IncastOnOneServerLinkTakesWorkersTimesBytesOverBandwidth) {
  const int W = 4, k = 8;
  const double B = 800e3, L = 12.5e9, lat = 1e-6, compute = 1e-3, aggregate = 1e-6;
  auto cl = FakeCluster::Star(W + 1, L, lat);
  const plan::Plan p = IncastPlan(W, k, B);
  const double phase = W * B / L;  // 256 us
  struct Case {
    CollectiveMode mode;
    double cap;
    int flows_per_pair;
  };
  for (const Case& c :
       {Case{CollectiveMode::kExact, 1e6, k}, Case{CollectiveMode::kCoarse, 1e6, 1},
        Case{CollectiveMode::kCoarse, 2.5 * B / k, k / 2}, Case{CollectiveMode::kAuto, 1e6, k}}) {
    SimulateOptions o = Opts();
    o.lowering.collectives = c.mode;
    o.lowering.ps_coalesce_bytes = c.cap;
    const auto r = Simulate(p, *cl, o);
    const double want = compute + phase + c.flows_per_pair * 2 * lat + aggregate;
    EXPECT_NEAR(r.iteration_time_s, want, want * 1e-9) << Name(c.mode) << " " << c.cap;
    // Flows started: one timer per rank's compute, then the flows.
    EXPECT_EQ(r.activities, (W + 1) + W * c.flows_per_pair) << Name(c.mode) << " " << c.cap;
    EXPECT_EQ(r.ps_messages_per_iteration, W * k);
    EXPECT_EQ(r.ps_messages, c.flows_per_pair == k ? "exact" : "coarse");
    // Every message still arrives, together when they travel as one flow.
    const auto& got = r.timeline.ranks[W].intervals;
    EXPECT_EQ(got.size(), static_cast<size_t>(W * k + 1));
    if (c.flows_per_pair == 1)
      for (const cost::Interval& e : got)
        if (e.task < W * k) EXPECT_NEAR(e.end_s, got.front().end_s, 1e-12) << e.task;
  }
  // kAuto: coarse above exact_message_limit pushes and pulls per iteration.
  SimulateOptions o = Opts();
  o.lowering.exact_message_limit = W * k - 1;
  const auto r = Simulate(p, *cl, o);
  EXPECT_EQ(r.ps_messages, "coarse");
  EXPECT_NEAR(r.iteration_time_s, compute + phase + 2 * lat + aggregate, 1e-12);
  const Json j = SummaryJson(r, p, *cl);
  EXPECT_EQ(j["simulation"]["ps_messages"], "coarse");
  EXPECT_EQ(j["simulation"]["ps_coalesce_bytes"], 1e6);
  EXPECT_EQ(j["simulation"]["network_model"].back(), kPsMessagesSolverConfig);
}

// Every rank runs rank 0's program (one shared task list), as `convscale plan` emits dp.
plan::Plan OneProgram(plan::Plan p) {
  for (size_t r = 1; r < p.ranks.size(); ++r) p.ranks[r].tasks = p.ranks[0].tasks;
  return p;
}

// Buckets on one stream of one program on identical devices never share the network, so coarse
// phases need no sub-phases: a quarter of the flows, the same iteration (docs/simulator.md).
TEST(RunAloneTest, SerialBucketsOfOneProgramNeedNoSubPhases) {
  auto cl = FakeCluster::Tree(4, 8, 12.5e9, 12.5e9 * 2, 1e-6);  // 2:1 uplinks: own contention
  std::vector<int> eps;
  for (int r = 0; r < 32; ++r) eps.push_back((r * 5) % 32);
  const plan::Plan own = BucketPlan(32, 16, 1e8, 4, 4e6, true, eps);
  const plan::Plan shared = OneProgram(own);
  EXPECT_TRUE(CollectivesRunAlone(shared, *cl, {}));
  EXPECT_FALSE(CollectivesRunAlone(own, *cl, {}));  // equal lists, not shared: not judged
  SimulateOptions o;
  o.lowering.collectives = CollectiveMode::kCoarse;
  const auto alone = Simulate(shared, *cl, o);
  const auto split = Simulate(own, *cl, o);
  o.lowering.collectives = CollectiveMode::kExact;
  const auto exact = Simulate(shared, *cl, o);
  EXPECT_EQ(split.flows_per_iteration, 4 * 32 * 4);  // 4 buckets x 32 ring edges x 4 sub-phases
  EXPECT_EQ(alone.flows_per_iteration, 4 * 32);
  EXPECT_NEAR(alone.iteration_time_s, split.iteration_time_s, 1e-9 * split.iteration_time_s);
  EXPECT_NEAR(alone.iteration_time_s, exact.iteration_time_s, 1e-5 * exact.iteration_time_s);
}

TEST(RunAloneTest, AnythingThatCanOverlapOrSkewKeepsSubPhases) {
  auto cl = FakeCluster::Star(8, 12.5e9, 1e-6);
  const plan::Plan serial = OneProgram(BucketPlan(8, 4, 1e8, 2, 4e6, true));
  ASSERT_TRUE(CollectivesRunAlone(serial, *cl, {}));
  // Buckets not ordered on the stream: bucket 1 may start while bucket 0 runs.
  EXPECT_FALSE(CollectivesRunAlone(OneProgram(BucketPlan(8, 4, 1e8, 2, 4e6, false)), *cl, {}));
  // A straggler posts late.
  LoweringOptions slow;
  slow.rank_speed.assign(8, 1.0);
  slow.rank_speed[3] = 0.5;
  EXPECT_FALSE(CollectivesRunAlone(serial, *cl, slow));
  // A point-to-point message in the program.
  plan::Plan p2p = serial;
  plan::TaskList with_send = p2p.ranks[0].tasks;
  const int last = static_cast<int>(with_send.size()) - 1;
  with_send.push_back(P2PTask(last + 1, plan::TaskKind::kSend, 0, 7, 1e6, {last}, "send"));
  for (plan::Rank& rk : p2p.ranks) rk.tasks = with_send;
  EXPECT_FALSE(CollectivesRunAlone(p2p, *cl, {}));
  // A collective over part of the ranks (another part may run its own beside it).
  plan::Plan half = serial;
  half.groups.push_back({});
  for (int r = 0; r < 4; ++r) half.groups[1].ranks.push_back(r);
  plan::TaskList regrouped = half.ranks[0].tasks;
  regrouped.back().group = 1;
  for (plan::Rank& rk : half.ranks) rk.tasks = regrouped;
  EXPECT_FALSE(CollectivesRunAlone(half, *cl, {}));
  // Asynchronous programs.
  plan::Plan async = serial;
  async.async = true;
  EXPECT_FALSE(CollectivesRunAlone(async, *cl, {}));
}

// Two jobs on one fabric (docs/simulator.md): two identical VGG-16 jobs of 64 GPUs on the 2:1
// oversubscribed fat tree each see half of the fabric, so each one's communication nearly
// doubles (its fabric part does) and its iteration equals one job alone with half of every fabric
// link taken (--background-load 0.5).
TEST(TwoJobsTest, IdenticalJobsOnA2To1FabricEachGetHalfOfIt) {
  topo::ClusterOptions co;
  co.gpus = 64;
  auto cl = topo::LoadCluster("dgx-a100-hdr200-2to1", co);
  plan::StrategyOptions o;
  o.gpus = 64;
  o.batch = 4;
  o.losses = plan::LossOptions::None();  // the fabric's share alone
  o.cluster = "dgx-a100-hdr200-2to1";
  plan::Plan job = plan::Lower(graph::LoadModel("vgg16", 4), *cl, o);
  job.context.cluster = o.cluster;
  co.gpus = 128;
  auto shared = topo::LoadCluster("dgx-a100-hdr200-2to1", co);
  SimulateOptions so = Opts(0, 1);
  so.lowering.collectives = CollectiveMode::kCoarse;
  const auto alone = Simulate(job, *cl, so);
  SimulateOptions half = so;
  half.lowering.platform.background_load = 0.5;
  const auto squeezed = Simulate(job, *cl, half);
  const plan::Plan both =
      plan::PlaceJobs({{&job, cl.get(), "a"}, {&job, cl.get(), "b"}}, *shared, &so.jobs);
  const auto r = Simulate(both, *shared, so);
  ASSERT_EQ(r.jobs.size(), 2u);
  EXPECT_EQ(r.jobs[0].name, "a");
  EXPECT_EQ(r.jobs[1].devices, 64);
  EXPECT_DOUBLE_EQ(r.jobs[0].iteration_time_s, r.jobs[1].iteration_time_s);
  EXPECT_GT(r.jobs[0].iteration_time_s, 1.5 * alone.iteration_time_s);
  EXPECT_NEAR(r.jobs[0].iteration_time_s, squeezed.iteration_time_s,
              0.01 * squeezed.iteration_time_s);
  EXPECT_NEAR(r.comm_time_s, squeezed.comm_time_s, 0.01 * squeezed.comm_time_s);
  EXPECT_GT(r.comm_time_s, 1.9 * alone.comm_time_s);  // all but the NVSwitch part doubles
  EXPECT_DOUBLE_EQ(r.jobs[0].throughput_samples_per_s, 64 * 4 / r.jobs[0].iteration_time_s);
}

TEST(OutputTest, SummaryHasTheEstimateKeysAndTheSimulatorExtras) {
  auto cl = FakeCluster::Star(4, 12.5e9, 1e-6);
  const plan::Plan p = BucketPlan(4, 8, 1e9, 2, 1e6, true);
  const auto r = Simulate(p, *cl, Opts());
  const Json j = SummaryJson(r, p, *cl);
  for (const char* k :
       {"iteration_time_s", "throughput_samples_per_s", "speedup", "scaling_efficiency",
        "compute_time_s", "comm_time_s", "exposed_comm_time_s", "bubble_time_s", "comm_bytes_total",
        "critical_rank", "memory_peak_bytes", "ranks", "top_links", "simulation",
        "iteration_times_s"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["context"]["source"], "simulate");
  // 16 kernels of 1 ms, then the last bucket's all-reduce of 1 MB on 4 ranks.
  const double ar = 6 * (2e-6 + 0.25e6 / 12.5e9);
  EXPECT_NEAR(j["iteration_time_s"].get<double>(), 0.016 + ar, 1e-9);
  EXPECT_NEAR(j["ranks"][0]["compute_time_s"].get<double>(), 0.016, 1e-12);
  EXPECT_NEAR(j["ranks"][0]["exposed_comm_time_s"].get<double>(), ar, 1e-9);
  // Speedup: each device does 1/4 of the work of one device at the same per-device batch.
  EXPECT_NEAR(j["speedup"].get<double>(), 4 * 0.016 / (0.016 + ar), 1e-6);
  const std::string trace = ChromeTrace(r, p, *cl);
  EXPECT_NE(trace.find("\"name\":\"layer7/fwd\""), std::string::npos);
  EXPECT_NE(trace.find("\"name\":\"bucket1/allreduce\""), std::string::npos);
  EXPECT_NE(trace.find("\"thread_name\",\"pid\":3,\"tid\":1"), std::string::npos);
  const std::string csv = SummaryCsv(r, p);
  EXPECT_EQ(csv.substr(0, csv.find(',')), "model");
}

}  // namespace
}  // namespace convscale::sim
