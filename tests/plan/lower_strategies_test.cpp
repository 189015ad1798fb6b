// mp (sequential, gpipe, 1f1b), ps (sync, async; dedicated and colocated servers), hybrid dp x pp
// and the one weird trick, lowered for the 3-layer network on 2 and 4 devices: whole task lists
// (tests/plan/plan_dump.h prints every field a lowering decides) against hand counts.
//
// Hand counts (tests/plan/tiny_net.h; vertices 0 input, 1 conv1, 2 flatten, 3 fc, 4 loss), per
// sample, fp32:
//   conv1 1x4x4 -> 2x4x4, 3x3, pad 1: 32 outputs x 9 MACs = 288 MACs; forward 2 x 288 + 32 (bias)
//     = 608 FLOPs, backward-weight 608, no backward-data (its input needs no gradient).
//     Bytes: forward input 64 + output 128 = 192 + weights 80 once per task; backward-weight
//     output gradient 128 + saved 128 = 256 + 2 x 80.
//   flatten: a view, no FLOPs, no bytes.
//   fc 32 -> 10: 320 MACs; forward 640 + 10 = 650, backward-data 640, backward-weight 650.
//     Bytes: forward 128 + 40 = 168 + 1320 (weights); backward-data 40 + 128 = 168 + 1320;
//     backward-weight 40 + 2 x 1320.
//   loss over 10 scores: forward 5 x 10 = 50, backward-data 2 x 10 = 20; bytes forward 40 + 4 =
//     44, backward-data 4 + 40 (probabilities) + 40 = 84.
//   Gradients: fc 330 x 4 = 1320 B, conv1 20 x 4 = 80 B. Boundary activations: conv1 (and the
//     flatten view of it) 128 B, fc 40 B.
//   Update (SGD momentum): 4 FLOPs and 20 bytes per parameter.
// Tags of pipeline messages: (micro_batch x 5 vertices + producer) x 2 (+1 for the gradient):
//   conv1 mb0 2/3, mb1 12/13; flatten mb0 4/5, mb1 14/15; fc mb0 6/7, mb1 16/17.
#include <gtest/gtest.h>

#include "model/cost/estimate.h"
#include "model/plan/lower_common.h"
#include "model/plan/strategy.h"
#include "tests/plan/fake_cluster.h"
#include "tests/plan/plan_dump.h"
#include "tests/plan/tiny_net.h"

namespace convscale::plan {
namespace {

using testing::FakeCluster;
using testing::RankLine;
using testing::TaskLines;
using testing::TinyNet;
using Lines = std::vector<std::string>;

Plan LowerTiny(const topo::Cluster& cl, StrategyOptions o) {
  o.batch = 4;
  return Lower(TinyNet(), cl, o);
}

StrategyOptions Mp(int micro_batches, PipelineSchedule s = PipelineSchedule::kGpipe) {
  StrategyOptions o;
  o.strategy = "mp";
  o.micro_batches = micro_batches;
  o.schedule = s;
  return o;
}

// The worker program of dp and ps up to the last backward task: 4 samples.
const Lines kWorkerCompute = {
    "0 conv1/fwd compute forward L1 mb0 s4 f2432 b848 []",
    "1 flatten/fwd compute forward L2 mb0 s4 f0 b0 [0]",
    "2 fc/fwd compute forward L3 mb0 s4 f2600 b1992 [1]",
    "3 loss/fwd compute forward L4 mb0 s4 f200 b176 [2]",
    "4 loss/bwd-data compute backward-data L4 mb0 s4 f80 b336 [3]",
    "5 fc/bwd-data compute backward-data L3 mb0 s4 f2560 b1992 [4]",
    "6 fc/bwd-weight compute backward-weight L3 mb0 s4 f2600 b2800 [4,5]",
    "7 flatten/bwd-data compute backward-data L2 mb0 s4 f0 b0 [5,6]",
    "8 conv1/bwd-weight compute backward-weight L1 mb0 s4 f2432 b1184 [7]",
};

Lines Concat(Lines a, const Lines& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---- mp ----

TEST(LowerMp, SequentialTwoStages) {
  FakeCluster cl(1, 2);
  const Plan p = LowerTiny(cl, Mp(1));
  // The partition balances roofline time; every task pays 5 us of overhead, so conv1 (2 tasks)
  // against fc + loss (5 tasks) is the best split (flatten is free either side; the first
  // optimum found keeps it with fc).
  EXPECT_EQ(p.context.options["partition"].dump(),
            R"([{"first":"conv1","last":"conv1","layers":1},)"
            R"({"first":"flatten","last":"loss","layers":3}])");
  ASSERT_EQ(p.ranks.size(), 2u);
  EXPECT_TRUE(p.groups.empty());
  EXPECT_EQ(p.global_batch, 4);
  EXPECT_EQ(TaskLines(p.ranks[0]),
            (Lines{"0 conv1/fwd/mb0 compute forward L1 mb0 s4 f2432 b848 []",
                   "1 send act conv1/mb0 send p1 t2 fp32 n512 mb0 [0]",
                   "2 recv grad conv1/mb0 recv p1 t3 fp32 n512 mb0 []",
                   "3 conv1/bwd-weight/mb0 compute backward-weight L1 mb0 s4 f2432 b1184 [0,2]",
                   "4 update compute update L-1 mb0 s0 f80 b400 L1 [3]"}));
  EXPECT_EQ(TaskLines(p.ranks[1]),
            (Lines{"0 recv act conv1/mb0 recv p0 t2 fp32 n512 mb0 []",
                   "1 flatten/fwd/mb0 compute forward L2 mb0 s4 f0 b0 [0]",
                   "2 fc/fwd/mb0 compute forward L3 mb0 s4 f2600 b1992 [1]",
                   "3 loss/fwd/mb0 compute forward L4 mb0 s4 f200 b176 [2]",
                   "4 loss/bwd-data/mb0 compute backward-data L4 mb0 s4 f80 b336 [3]",
                   "5 fc/bwd-data/mb0 compute backward-data L3 mb0 s4 f2560 b1992 [4]",
                   "6 fc/bwd-weight/mb0 compute backward-weight L3 mb0 s4 f2600 b2800 [4,5]",
                   "7 flatten/bwd-data/mb0 compute backward-data L2 mb0 s4 f0 b0 [5,6]",
                   "8 send grad conv1/mb0 send p0 t3 fp32 n512 mb0 [7]",
                   "9 update compute update L-1 mb0 s0 f1320 b6600 L3 [7]"}));
  // Memory (the memory plan, model/plan/memory_plan.h): stage 0 holds conv1 (20 parameters);
  // its tensors are all pinned: the images (16 x 4 B x 4 = 256), conv1's output it sends (512)
  // and the output gradient the received gradient is added into (512): 1280; the received
  // gradient is staged (512). Stage 1 holds fc (330): pinned, the received activation (512) and
  // the gradient it sends back (512); at the loss's forward also fc's output (160 -> 192), the
  // loss's output (16 -> 64) and probabilities (192): 1472. Workspace: stage 0 conv1's weight
  // gradient (80); stage 1 fc's weight gradient (1320, more than its input gradient, 512).
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 stage s0 r0 | w80 g80 o80 a1280 B512 ws80");
  EXPECT_EQ(RankLine(p.ranks[1]), "e1 stage s1 r0 | w1320 g1320 o1320 a1472 B0 ws1320");
}

TEST(LowerMp, GpipeTwoStagesTwoMicroBatches) {
  FakeCluster cl(1, 2);
  const Plan p = LowerTiny(cl, Mp(2));
  // All forwards, then all backwards, last micro-batch first; 2 samples each.
  EXPECT_EQ(TaskLines(p.ranks[0]),
            (Lines{"0 conv1/fwd/mb0 compute forward L1 mb0 s2 f1216 b464 []",
                   "1 send act conv1/mb0 send p1 t2 fp32 n256 mb0 [0]",
                   "2 conv1/fwd/mb1 compute forward L1 mb1 s2 f1216 b464 [0]",
                   "3 send act conv1/mb1 send p1 t12 fp32 n256 mb1 [2]",
                   "4 recv grad conv1/mb1 recv p1 t13 fp32 n256 mb1 []",
                   "5 conv1/bwd-weight/mb1 compute backward-weight L1 mb1 s2 f1216 b672 [2,4]",
                   "6 recv grad conv1/mb0 recv p1 t3 fp32 n256 mb0 []",
                   "7 conv1/bwd-weight/mb0 compute backward-weight L1 mb0 s2 f1216 b672 [5,6]",
                   "8 update compute update L-1 mb0 s0 f80 b400 L1 [7]"}));
  EXPECT_EQ(TaskLines(p.ranks[1]),
            (Lines{"0 recv act conv1/mb0 recv p0 t2 fp32 n256 mb0 []",
                   "1 flatten/fwd/mb0 compute forward L2 mb0 s2 f0 b0 [0]",
                   "2 fc/fwd/mb0 compute forward L3 mb0 s2 f1300 b1656 [1]",
                   "3 loss/fwd/mb0 compute forward L4 mb0 s2 f100 b88 [2]",
                   "4 recv act conv1/mb1 recv p0 t12 fp32 n256 mb1 []",
                   "5 flatten/fwd/mb1 compute forward L2 mb1 s2 f0 b0 [3,4]",
                   "6 fc/fwd/mb1 compute forward L3 mb1 s2 f1300 b1656 [5]",
                   "7 loss/fwd/mb1 compute forward L4 mb1 s2 f100 b88 [6]",
                   "8 loss/bwd-data/mb1 compute backward-data L4 mb1 s2 f40 b168 [7]",
                   "9 fc/bwd-data/mb1 compute backward-data L3 mb1 s2 f1280 b1656 [8]",
                   "10 fc/bwd-weight/mb1 compute backward-weight L3 mb1 s2 f1300 b2720 [8,9]",
                   "11 flatten/bwd-data/mb1 compute backward-data L2 mb1 s2 f0 b0 [9,10]",
                   "12 send grad conv1/mb1 send p0 t13 fp32 n256 mb1 [11]",
                   "13 loss/bwd-data/mb0 compute backward-data L4 mb0 s2 f40 b168 [3,11]",
                   "14 fc/bwd-data/mb0 compute backward-data L3 mb0 s2 f1280 b1656 [13]",
                   "15 fc/bwd-weight/mb0 compute backward-weight L3 mb0 s2 f1300 b2720 [13,14]",
                   "16 flatten/bwd-data/mb0 compute backward-data L2 mb0 s2 f0 b0 [14,15]",
                   "17 send grad conv1/mb0 send p0 t3 fp32 n256 mb0 [16]",
                   "18 update compute update L-1 mb0 s0 f1320 b6600 L3 [16]"}));
  // 2 micro-batches of 2 samples. Stage 0: its pinned tensors twice (images 128, output 256, its
  // gradient 256: 1280) and 2 staged gradients (512). Stage 1: pinned 2 x (256 + 256); at the
  // second micro-batch's loss forward also its fc output (80 -> 128), loss output (64) and
  // probabilities (128), and the first micro-batch's probabilities (128, kept for its backward):
  // 1472.
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 stage s0 r0 | w80 g80 o80 a1280 B512 ws80");
  EXPECT_EQ(RankLine(p.ranks[1]), "e1 stage s1 r0 | w1320 g1320 o1320 a1472 B0 ws1320");
}

TEST(LowerMp, OneFOneBTwoStages) {
  FakeCluster cl(1, 2);
  const Plan p = LowerTiny(cl, Mp(2, PipelineSchedule::k1F1B));
  // Stage 0: K-s-1 = 1 warm-up forward, then F1 B0, then B1. Stage 1 (last): F0 B0 F1 B1.
  EXPECT_EQ(TaskLines(p.ranks[0]),
            (Lines{"0 conv1/fwd/mb0 compute forward L1 mb0 s2 f1216 b464 []",
                   "1 send act conv1/mb0 send p1 t2 fp32 n256 mb0 [0]",
                   "2 conv1/fwd/mb1 compute forward L1 mb1 s2 f1216 b464 [0]",
                   "3 send act conv1/mb1 send p1 t12 fp32 n256 mb1 [2]",
                   "4 recv grad conv1/mb0 recv p1 t3 fp32 n256 mb0 []",
                   "5 conv1/bwd-weight/mb0 compute backward-weight L1 mb0 s2 f1216 b672 [2,4]",
                   "6 recv grad conv1/mb1 recv p1 t13 fp32 n256 mb1 []",
                   "7 conv1/bwd-weight/mb1 compute backward-weight L1 mb1 s2 f1216 b672 [5,6]",
                   "8 update compute update L-1 mb0 s0 f80 b400 L1 [7]"}));
  EXPECT_EQ(TaskLines(p.ranks[1]),
            (Lines{"0 recv act conv1/mb0 recv p0 t2 fp32 n256 mb0 []",
                   "1 flatten/fwd/mb0 compute forward L2 mb0 s2 f0 b0 [0]",
                   "2 fc/fwd/mb0 compute forward L3 mb0 s2 f1300 b1656 [1]",
                   "3 loss/fwd/mb0 compute forward L4 mb0 s2 f100 b88 [2]",
                   "4 loss/bwd-data/mb0 compute backward-data L4 mb0 s2 f40 b168 [3]",
                   "5 fc/bwd-data/mb0 compute backward-data L3 mb0 s2 f1280 b1656 [4]",
                   "6 fc/bwd-weight/mb0 compute backward-weight L3 mb0 s2 f1300 b2720 [4,5]",
                   "7 flatten/bwd-data/mb0 compute backward-data L2 mb0 s2 f0 b0 [5,6]",
                   "8 send grad conv1/mb0 send p0 t3 fp32 n256 mb0 [7]",
                   "9 recv act conv1/mb1 recv p0 t12 fp32 n256 mb1 []",
                   "10 flatten/fwd/mb1 compute forward L2 mb1 s2 f0 b0 [7,9]",
                   "11 fc/fwd/mb1 compute forward L3 mb1 s2 f1300 b1656 [10]",
                   "12 loss/fwd/mb1 compute forward L4 mb1 s2 f100 b88 [11]",
                   "13 loss/bwd-data/mb1 compute backward-data L4 mb1 s2 f40 b168 [12]",
                   "14 fc/bwd-data/mb1 compute backward-data L3 mb1 s2 f1280 b1656 [13]",
                   "15 fc/bwd-weight/mb1 compute backward-weight L3 mb1 s2 f1300 b2720 [13,14]",
                   "16 flatten/bwd-data/mb1 compute backward-data L2 mb1 s2 f0 b0 [14,15]",
                   "17 send grad conv1/mb1 send p0 t13 fp32 n256 mb1 [16]",
                   "18 update compute update L-1 mb0 s0 f1320 b6600 L3 [16]"}));
  // 1f1b: stage 1 finishes a micro-batch's loss before the next one's forward, so fewer of its
  // tensors are alive at once than under gpipe (1344 against 1472); stage 0's are all pinned.
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 stage s0 r0 | w80 g80 o80 a1280 B512 ws80");
  EXPECT_EQ(RankLine(p.ranks[1]), "e1 stage s1 r0 | w1320 g1320 o1320 a1344 B0 ws1320");
}

TEST(LowerMp, SequentialFourStages) {
  FakeCluster cl(1, 4);
  const Plan p = LowerTiny(cl, Mp(1));
  ASSERT_EQ(p.ranks.size(), 4u);
  // One layer per stage: the flatten view travels on its own (512 bytes) to fc's stage.
  EXPECT_EQ(TaskLines(p.ranks[1]),
            (Lines{"0 recv act conv1/mb0 recv p0 t2 fp32 n512 mb0 []",
                   "1 flatten/fwd/mb0 compute forward L2 mb0 s4 f0 b0 [0]",
                   "2 send act flatten/mb0 send p2 t4 fp32 n512 mb0 [1]",
                   "3 recv grad flatten/mb0 recv p2 t5 fp32 n512 mb0 []",
                   "4 flatten/bwd-data/mb0 compute backward-data L2 mb0 s4 f0 b0 [1,3]",
                   "5 send grad conv1/mb0 send p0 t3 fp32 n512 mb0 [4]"}));
  EXPECT_EQ(TaskLines(p.ranks[2]),
            (Lines{"0 recv act flatten/mb0 recv p1 t4 fp32 n512 mb0 []",
                   "1 fc/fwd/mb0 compute forward L3 mb0 s4 f2600 b1992 [0]",
                   "2 send act fc/mb0 send p3 t6 fp32 n160 mb0 [1]",
                   "3 recv grad fc/mb0 recv p3 t7 fp32 n160 mb0 []",
                   "4 fc/bwd-data/mb0 compute backward-data L3 mb0 s4 f2560 b1992 [1,3]",
                   "5 fc/bwd-weight/mb0 compute backward-weight L3 mb0 s4 f2600 b2800 [3,4]",
                   "6 send grad flatten/mb0 send p1 t5 fp32 n512 mb0 [4]",
                   "7 update compute update L-1 mb0 s0 f1320 b6600 L3 [5]"}));
  EXPECT_EQ(TaskLines(p.ranks[3]),
            (Lines{"0 recv act fc/mb0 recv p2 t6 fp32 n160 mb0 []",
                   "1 loss/fwd/mb0 compute forward L4 mb0 s4 f200 b176 [0]",
                   "2 loss/bwd-data/mb0 compute backward-data L4 mb0 s4 f80 b336 [1]",
                   "3 send grad fc/mb0 send p2 t7 fp32 n160 mb0 [2]"}));
  // Stage 1 (the flatten view) receives conv1's output and sends it on as its own (one pinned
  // tensor, 512), sends the gradient back (512) and stages the one it receives (512). Stage 2
  // (fc): pinned received activation 512, sent output 192, its gradient 192, the gradient sent
  // back 512 = 1408; staged fc gradient 160. Stage 3 (loss): pinned 192 + 192, loss output 64,
  // probabilities 192 = 640; workspace its input gradient 10 x 4 x 4 = 160.
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 stage s0 r0 | w80 g80 o80 a1280 B512 ws80");
  EXPECT_EQ(RankLine(p.ranks[1]), "e1 stage s1 r0 | w0 g0 o0 a1024 B512 ws0");
  EXPECT_EQ(RankLine(p.ranks[2]), "e2 stage s2 r0 | w1320 g1320 o1320 a1408 B160 ws1320");
  EXPECT_EQ(RankLine(p.ranks[3]), "e3 stage s3 r0 | w0 g0 o0 a640 B0 ws160");
}

TEST(LowerMp, OneFOneBFourStages) {
  FakeCluster cl(1, 4);
  const Plan p = LowerTiny(cl, Mp(2, PipelineSchedule::k1F1B));
  // Warm-up forwards min(K-s-1, M): stage 0 and 1: 2 (all forwards first), stage 2: 1, stage 3: 0.
  EXPECT_EQ(TaskLines(p.ranks[2]),
            (Lines{"0 recv act flatten/mb0 recv p1 t4 fp32 n256 mb0 []",
                   "1 fc/fwd/mb0 compute forward L3 mb0 s2 f1300 b1656 [0]",
                   "2 send act fc/mb0 send p3 t6 fp32 n80 mb0 [1]",
                   "3 recv act flatten/mb1 recv p1 t14 fp32 n256 mb1 []",
                   "4 fc/fwd/mb1 compute forward L3 mb1 s2 f1300 b1656 [1,3]",
                   "5 send act fc/mb1 send p3 t16 fp32 n80 mb1 [4]",
                   "6 recv grad fc/mb0 recv p3 t7 fp32 n80 mb0 []",
                   "7 fc/bwd-data/mb0 compute backward-data L3 mb0 s2 f1280 b1656 [4,6]",
                   "8 fc/bwd-weight/mb0 compute backward-weight L3 mb0 s2 f1300 b2720 [6,7]",
                   "9 send grad flatten/mb0 send p1 t5 fp32 n256 mb0 [7]",
                   "10 recv grad fc/mb1 recv p3 t17 fp32 n80 mb1 []",
                   "11 fc/bwd-data/mb1 compute backward-data L3 mb1 s2 f1280 b1656 [8,10]",
                   "12 fc/bwd-weight/mb1 compute backward-weight L3 mb1 s2 f1300 b2720 [10,11]",
                   "13 send grad flatten/mb1 send p1 t15 fp32 n256 mb1 [11]",
                   "14 update compute update L-1 mb0 s0 f1320 b6600 L3 [12]"}));
  EXPECT_EQ(TaskLines(p.ranks[3]),
            (Lines{"0 recv act fc/mb0 recv p2 t6 fp32 n80 mb0 []",
                   "1 loss/fwd/mb0 compute forward L4 mb0 s2 f100 b88 [0]",
                   "2 loss/bwd-data/mb0 compute backward-data L4 mb0 s2 f40 b168 [1]",
                   "3 send grad fc/mb0 send p2 t7 fp32 n80 mb0 [2]",
                   "4 recv act fc/mb1 recv p2 t16 fp32 n80 mb1 []",
                   "5 loss/fwd/mb1 compute forward L4 mb1 s2 f100 b88 [2,4]",
                   "6 loss/bwd-data/mb1 compute backward-data L4 mb1 s2 f40 b168 [5]",
                   "7 send grad fc/mb1 send p2 t17 fp32 n80 mb1 [6]"}));
  // Stage 3: the pinned 2 x (128 + 128) boundary tensors, and one micro-batch's loss output
  // (64) and probabilities (128) at a time under 1f1b (704); gpipe runs both forwards first and
  // keeps both micro-batches' probabilities (832).
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 stage s0 r0 | w80 g80 o80 a1280 B512 ws80");
  EXPECT_EQ(RankLine(p.ranks[3]), "e3 stage s3 r0 | w0 g0 o0 a704 B0 ws80");
  const Plan g = LowerTiny(cl, Mp(2));
  EXPECT_EQ(RankLine(g.ranks[3]), "e3 stage s3 r0 | w0 g0 o0 a832 B0 ws80");
}

// ---- ps ----

StrategyOptions Ps(bool async, PsPlacement where) {
  StrategyOptions o;
  o.strategy = "ps";
  o.servers = 2;
  o.async = async;
  o.staleness = async ? 3 : -1;
  o.ps_placement = where;
  return o;
}

// Worker w of W: after the backward, push fc to server 0 (rank W) and conv1 to server 1
// (rank W+1), reverse layer order; then receive both pulls (posted without dependencies).
Lines PsWorker(int W) {
  const std::string s0 = std::to_string(W), s1 = std::to_string(W + 1);
  return Concat(kWorkerCompute, {"9 push fc s0 send p" + s0 + " t0 fp32 n1320 mb0 L3 [6]",
                                 "10 push conv1 s1 send p" + s1 + " t2 fp32 n80 mb0 L1 [8]",
                                 "11 pull fc s0 recv p" + s0 + " t1 fp32 n1320 mb0 L3 []",
                                 "12 pull conv1 s1 recv p" + s1 + " t3 fp32 n80 mb0 L1 []"});
}

TEST(LowerPs, SyncDedicatedTwoWorkers) {
  FakeCluster cl(1, 2, 2);
  const Plan p = LowerTiny(cl, Ps(false, PsPlacement::kDedicated));
  ASSERT_EQ(p.ranks.size(), 4u);
  EXPECT_FALSE(p.async);
  EXPECT_EQ(p.staleness_bound, -1);
  // Balanced by bytes, largest first: fc (1320 B) to server 0, conv1 (80 B) to server 1.
  EXPECT_EQ(p.context.options["server_bytes"].dump(), "[1320.0,80.0]");
  for (int w = 0; w < 2; ++w) EXPECT_EQ(TaskLines(p.ranks[w]), PsWorker(2)) << "worker " << w;
  // Server 0: W pushes, sum (330 x (W-1) FLOPs; W+1 gradient reads/writes of 1320 B), SGD
  // update of 330 parameters, W pulls.
  EXPECT_EQ(TaskLines(p.ranks[2]),
            (Lines{"0 push fc w0 recv p0 t0 fp32 n1320 mb0 []",
                   "1 push fc w1 recv p1 t0 fp32 n1320 mb0 []",
                   "2 fc/aggregate compute aggregate L3 mb0 s0 f330 b3960 L3 [0,1]",
                   "3 fc/update compute update L3 mb0 s0 f1320 b6600 L3 [2]",
                   "4 pull fc w0 send p0 t1 fp32 n1320 mb0 [3]",
                   "5 pull fc w1 send p1 t1 fp32 n1320 mb0 [3]"}));
  EXPECT_EQ(TaskLines(p.ranks[3]),
            (Lines{"0 push conv1 w0 recv p0 t2 fp32 n80 mb0 []",
                   "1 push conv1 w1 recv p1 t2 fp32 n80 mb0 []",
                   "2 conv1/aggregate compute aggregate L1 mb0 s0 f20 b240 L1 [0,1]",
                   "3 conv1/update compute update L1 mb0 s0 f80 b400 L1 [2]",
                   "4 pull conv1 w0 send p0 t3 fp32 n80 mb0 [3]",
                   "5 pull conv1 w1 send p1 t3 fp32 n80 mb0 [3]"}));
  // Workers: no optimizer state, no buffers (pushes and pulls use the gradient and parameter
  // buffers in place), activations as dp. Servers: their shard's weights, gradients, momentum;
  // each of the W pushers' gradients in a buffer of its own; on the dedicated hosts.
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 worker s-1 r0 | w1400 g1400 o0 a1472 B0 ws1320");
  EXPECT_EQ(RankLine(p.ranks[2]), "e3 server s-1 r-1 | w1320 g1320 o1320 a0 B2640 ws0");
  EXPECT_EQ(RankLine(p.ranks[3]), "e4 server s-1 r-1 | w80 g80 o80 a0 B160 ws0");
}

// In-node aggregation, 2 nodes x 2 GPUs, servers on the hosts: worker 1 sends its gradients to
// its node's leader (worker 0) and gets the parameters back from it; the leader sums (fc: 330
// elements x 1 addition; reads 2 x 1320 B, writes 1320 B), pushes once and forwards the pull.
// Local tags start at 2 x 2 shards = 4. The servers hear from the two leaders only.
TEST(LowerPs, NodeAggregationPushesOncePerNode) {
  FakeCluster cl(2, 2);
  StrategyOptions o = Ps(false, PsPlacement::kHost);
  o.ps_aggregation = PsAggregation::kNode;
  const Plan p = LowerTiny(cl, o);
  ASSERT_EQ(p.ranks.size(), 6u);
  EXPECT_EQ(p.context.options["ps_aggregation"], "node");
  EXPECT_EQ(TaskLines(p.ranks[1]),
            Concat(kWorkerCompute, {"9 local push fc s0 send p0 t4 fp32 n1320 mb0 L3 [6]",
                                    "10 local push conv1 s1 send p0 t6 fp32 n80 mb0 L1 [8]",
                                    "11 local pull fc s0 recv p0 t5 fp32 n1320 mb0 L3 []",
                                    "12 local pull conv1 s1 recv p0 t7 fp32 n80 mb0 L1 []"}));
  const Lines leader = Concat(
      kWorkerCompute, {"9 local push fc w1 recv p1 t4 fp32 n1320 mb0 []",
                       "10 fc/node-aggregate s0 compute aggregate L3 mb0 s0 f330 b3960 L3 [6,9]",
                       "11 push fc s0 send p4 t0 fp32 n1320 mb0 L3 [10]",
                       "12 local push conv1 w1 recv p1 t6 fp32 n80 mb0 []",
                       "13 conv1/node-aggregate s1 compute aggregate L1 mb0 s0 f20 b240 L1 [8,12]",
                       "14 push conv1 s1 send p5 t2 fp32 n80 mb0 L1 [13]",
                       "15 pull fc s0 recv p4 t1 fp32 n1320 mb0 L3 []",
                       "16 local pull fc w1 send p1 t5 fp32 n1320 mb0 L3 [15]",
                       "17 pull conv1 s1 recv p5 t3 fp32 n80 mb0 L1 []",
                       "18 local pull conv1 w1 send p1 t7 fp32 n80 mb0 L1 [17]"});
  EXPECT_EQ(TaskLines(p.ranks[0]), leader);
  // Worker 3's leader is worker 2 (node 1): the same tasks with peer 3 for peer 1.
  EXPECT_EQ(TaskLines(p.ranks[2])[9], "9 local push fc w3 recv p3 t4 fp32 n1320 mb0 []");
  EXPECT_EQ(TaskLines(p.ranks[3])[9], "9 local push fc s0 send p2 t4 fp32 n1320 mb0 L3 [6]");
  EXPECT_EQ(TaskLines(p.ranks[4]),
            (Lines{"0 push fc w0 recv p0 t0 fp32 n1320 mb0 []",
                   "1 push fc w2 recv p2 t0 fp32 n1320 mb0 []",
                   "2 fc/aggregate compute aggregate L3 mb0 s0 f330 b3960 L3 [0,1]",
                   "3 fc/update compute update L3 mb0 s0 f1320 b6600 L3 [2]",
                   "4 pull fc w0 send p0 t1 fp32 n1320 mb0 [3]",
                   "5 pull fc w2 send p2 t1 fp32 n1320 mb0 [3]"}));
  // Each of worker 1's pushes lands in a slot of its own on the leader, in fp32: one copy of the
  // gradients, 350 parameters x 4 = 1400 B. Its node aggregates run beside the backward (not
  // chained to the compute order), so the memory plan reuses nothing there: every tensor is alive
  // at once (1920).
  EXPECT_EQ(RankLine(p.ranks[0]), "e0 worker s-1 r0 | w1400 g1400 o0 a1920 B1400 ws1320");
  EXPECT_EQ(RankLine(p.ranks[1]), "e1 worker s-1 r1 | w1400 g1400 o0 a1472 B0 ws1320");
  // Gradient bytes the workers send to the servers: 2 leaders x 1400 B, where every worker
  // pushing sends 4 x 1400 B.
  auto pushed = [](const Plan& plan) {
    double bytes = 0;
    for (int w = 0; w < 4; ++w)
      for (const Task& t : plan.ranks[w].tasks)
        if (t.kind == TaskKind::kSend && t.peer >= 4) bytes += t.comm_bytes;
    return bytes;
  };
  EXPECT_EQ(pushed(p), 2800);
  EXPECT_EQ(pushed(LowerTiny(cl, Ps(false, PsPlacement::kHost))), 5600);
  EXPECT_EQ(LowerTiny(cl, Ps(false, PsPlacement::kHost)).context.options["ps_aggregation"], "none");
  o.async = true;
  try {
    LowerTiny(cl, o);
    FAIL() << "async with node aggregation lowered";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--ps-aggregation node: only with synchronous servers (drop --async)");
  }
}

// 2 nodes x 8 GPUs, servers on the hosts: s0 (node 0's CPU) holds fc (1320 B), s1 (node 1's
// CPU) conv1 (80 B). Without aggregation node 0's 8 workers push conv1 to node 1 and node 1's 8
// push fc to node 0, and the pulls come back the same way: 8 x (80 + 1320) x 2 = 22,400 B
// through the NICs. With it, one worker per node does: 1400 x 2 = 2800 B, 1/8 of that.
TEST(LowerPs, NodeAggregationOnEightGpuNodesCrossesTheNicsWithOneEighthOfTheBytes) {
  FakeCluster cl(2, 8);
  auto across_nodes = [&](const Plan& p) {
    double bytes = 0;
    for (const Rank& r : p.ranks)
      for (const Task& t : r.tasks)
        if (t.kind == TaskKind::kSend &&
            cl.endpoint(r.endpoint).node != cl.endpoint(p.ranks[t.peer].endpoint).node)
          bytes += t.comm_bytes;
    return bytes;
  };
  StrategyOptions o = Ps(false, PsPlacement::kHost);
  const Plan none = LowerTiny(cl, o);
  o.ps_aggregation = PsAggregation::kNode;
  const Plan node = LowerTiny(cl, o);
  EXPECT_EQ(across_nodes(none), 22400);
  EXPECT_EQ(across_nodes(node), 2800);
  // Worker 9's gradients go to its node's first worker, 8, over the node's own links.
  EXPECT_EQ(TaskLines(node.ranks[9])[9], "9 local push fc s0 send p8 t4 fp32 n1320 mb0 L3 [6]");
  // Each server hears from the 2 leaders, and buffers 2 shards instead of 16.
  EXPECT_EQ(node.ranks[16].tasks.size(), 6u);
  EXPECT_EQ(none.ranks[16].tasks.size(), 34u);
}

// A layer above BytePS's 4,096,000 B partition is split over every server in whole elements:
// fc1 (1024 -> 1025, bias) has 1,050,625 parameters (4,202,500 B), so server 0 holds elements
// [0, 525312) and server 1 [525312, 1050625), 2,101,248 B and 2,101,252 B; fc2 (10,260
// parameters, 41,040 B) goes whole to the less loaded server 0. Tags in push order: fc2 0,
// then fc1's shards 2 and 4. Each shard's messages and update name their slice, and the plan
// keeps them through JSON.
TEST(LowerPs, SplitLayerShardsAreWholeElementsAndNameTheirSlices) {
  graph::Network net("split", {1, 32, 32}, 10);
  graph::Builder b{net};
  int x = b.Flatten("flatten", 0);
  x = b.Linear("fc1", x, 1025);
  x = b.Linear("fc2", x, 10);
  b.Loss("loss", x);
  net.Infer(4);
  FakeCluster cl(1, 2, 2);
  StrategyOptions o = Ps(false, PsPlacement::kDedicated);
  o.batch = 4;
  const Plan p = Lower(net, cl, o);
  EXPECT_EQ(p.context.options["server_bytes"].dump(), "[2142288.0,2101252.0]");
  // Without their dependencies: the messages of worker 0.
  auto messages = [](const Rank& r) {
    Lines out;
    for (const std::string& l : TaskLines(r))
      if (l.find(" send p") != std::string::npos || l.find(" recv p") != std::string::npos)
        out.push_back(l.substr(l.find(' ') + 1, l.rfind(" [") - l.find(' ') - 1));
    return out;
  };
  EXPECT_EQ(messages(p.ranks[0]),
            (Lines{"push fc2 s0 send p2 t0 fp32 n41040 mb0 L3",
                   "push fc1 s0 send p2 t2 fp32 n2101248 mb0 L2 E0+525312",
                   "push fc1 s1 send p3 t4 fp32 n2101252 mb0 L2 E525312+525313",
                   "pull fc2 s0 recv p2 t1 fp32 n41040 mb0 L3",
                   "pull fc1 s0 recv p2 t3 fp32 n2101248 mb0 L2 E0+525312",
                   "pull fc1 s1 recv p3 t5 fp32 n2101252 mb0 L2 E525312+525313"}));
  // Server 1 sums and steps its 525,313 elements: 4 FLOPs and 20 B per parameter to update.
  EXPECT_EQ(TaskLines(p.ranks[3]),
            (Lines{"0 push fc1 w0 recv p0 t4 fp32 n2101252 mb0 []",
                   "1 push fc1 w1 recv p1 t4 fp32 n2101252 mb0 []",
                   "2 fc1/aggregate compute aggregate L2 mb0 s0 f525313 b6303756 L2 "
                   "E525312+525313 [0,1]",
                   "3 fc1/update compute update L2 mb0 s0 f2101252 b10506260 L2 E525312+525313 [2]",
                   "4 pull fc1 w0 send p0 t5 fp32 n2101252 mb0 [3]",
                   "5 pull fc1 w1 send p1 t5 fp32 n2101252 mb0 [3]"}));
  EXPECT_EQ(RankLine(p.ranks[3]), "e4 server s-1 r-1 | w2101252 g2101252 o2101252 a0 B4202504 ws0");
  const Plan back = FromJson(ToJson(p), "split.json");
  for (size_t r = 0; r < p.ranks.size(); ++r)
    EXPECT_EQ(TaskLines(back.ranks[r]), TaskLines(p.ranks[r])) << "rank " << r;
}

// Where there is nothing to sum inside a node, the option is refused, naming it.
TEST(LowerPs, NodeAggregationIsRefusedWithoutParameterServersOrWithOneWorkerPerNode) {
  auto refused = [](const topo::Cluster& cl, StrategyOptions o) {
    o.ps_aggregation = PsAggregation::kNode;
    try {
      LowerTiny(cl, o);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("lowered");
  };
  StrategyOptions dp;
  dp.strategy = "dp";
  EXPECT_EQ(refused(FakeCluster(2, 2), dp),
            "--ps-aggregation node: only with --strategy ps (got --strategy dp)");
  EXPECT_EQ(refused(FakeCluster(4, 1), Ps(false, PsPlacement::kHost)),
            "--ps-aggregation node: every node of cluster \"fake\" runs one worker here (4 devices "
            "on 4 nodes), so there is nothing to sum inside a node (use none)");
  EXPECT_EQ(refused(FakeCluster(1, 1, 2), Ps(false, PsPlacement::kDedicated)),
            "--ps-aggregation node: every node of cluster \"fake\" runs one worker here (1 device "
            "on 1 node), so there is nothing to sum inside a node (use none)");
}

TEST(LowerPs, OnlyAsyncPlansRecordAStalenessBoundInTheirOptions) {
  FakeCluster cl(1, 2, 2);
  StrategyOptions sync = Ps(false, PsPlacement::kDedicated);
  sync.staleness = 2;  // given, but a synchronous server has no staleness: not recorded
  const Plan s = LowerTiny(cl, sync);
  EXPECT_FALSE(s.context.options.contains("staleness")) << s.context.options.dump();
  EXPECT_EQ(s.context.options["async"], false);
  EXPECT_EQ(s.staleness_bound, -1);
  const Plan a = LowerTiny(cl, Ps(true, PsPlacement::kDedicated));
  EXPECT_EQ(a.context.options["staleness"], 3);
  EXPECT_EQ(a.staleness_bound, 3);
  StrategyOptions unbounded = Ps(true, PsPlacement::kDedicated);
  unbounded.staleness = -1;
  EXPECT_EQ(LowerTiny(cl, unbounded).context.options["staleness"], -1);
}

TEST(LowerPs, AsyncDedicatedRecordsStalenessAndAnswersEachWorker) {
  FakeCluster cl(1, 2, 2);
  const Plan p = LowerTiny(cl, Ps(true, PsPlacement::kDedicated));
  EXPECT_TRUE(p.async);
  EXPECT_EQ(p.staleness_bound, 3);
  EXPECT_EQ(TaskLines(p.ranks[1]), PsWorker(2));
  EXPECT_EQ(TaskLines(p.ranks[2]),
            (Lines{"0 push fc w0 recv p0 t0 fp32 n1320 mb0 []",
                   "1 fc/update w0 compute update L3 mb0 s0 f1320 b6600 L3 [0]",
                   "2 pull fc w0 send p0 t1 fp32 n1320 mb0 [1]",
                   "3 push fc w1 recv p1 t0 fp32 n1320 mb0 []",
                   // Only its own push: updates run in arrival order (lower_ps.cpp).
                   "4 fc/update w1 compute update L3 mb0 s0 f1320 b6600 L3 [3]",
                   "5 pull fc w1 send p1 t1 fp32 n1320 mb0 [4]"}));
  // Async servers double-buffer one shard: 2 x 80 B on server 1.
  EXPECT_EQ(RankLine(p.ranks[3]), "e4 server s-1 r-1 | w80 g80 o80 a0 B160 ws0");
}

TEST(LowerPs, ColocatedServersShareTheWorkerDevices) {
  FakeCluster cl(1, 2);
  for (bool async : {false, true}) {
    const Plan p = LowerTiny(cl, Ps(async, PsPlacement::kColocated));
    ASSERT_EQ(p.ranks.size(), 4u);
    EXPECT_EQ(TaskLines(p.ranks[0]), PsWorker(2));
    EXPECT_EQ(p.ranks[2].endpoint, 0);  // server 0 on worker 0's device
    EXPECT_EQ(p.ranks[3].endpoint, 1);
    EXPECT_EQ(TaskLines(p.ranks[3])[0], "0 push conv1 w0 recv p0 t2 fp32 n80 mb0 []");
  }
  // The memory check adds the server to the worker on one device: worker 0 (1400 + 1400 + 1472 +
  // 0 + 1320 = 5592) + server 0, sync (1320 x 3 + 2 x 1320 = 6600) = 12,192 bytes.
  cl.gpu_type().memory_bytes = 12191;
  const Plan p = LowerTiny(cl, Ps(false, PsPlacement::kColocated));
  try {
    cost::CheckMemory(p, cl);
    FAIL() << "12,192 bytes fit in 12,191";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "endpoint node0/gpu0 needs 11.9 KiB but has 11.9 KiB (weights 2.7 KiB, "
                 "gradients 2.7 KiB, optimizer 1.3 KiB, activations 1.4 KiB, buffers 2.6 KiB, "
                 "workspace 1.3 KiB); use a smaller --batch, more --stages or --micro-batches, "
                 "or --allow-oversubscribe");
  }
  cl.gpu_type().memory_bytes = 12192;
  EXPECT_NO_THROW(cost::CheckMemory(p, cl));
}

TEST(LowerPs, SyncFourWorkers) {
  FakeCluster cl(1, 4, 2);
  StrategyOptions o = Ps(false, PsPlacement::kDedicated);
  o.optimizer = "adam";
  const Plan p = LowerTiny(cl, o);
  ASSERT_EQ(p.ranks.size(), 6u);
  for (int w = 0; w < 4; ++w) EXPECT_EQ(TaskLines(p.ranks[w]), PsWorker(4)) << "worker " << w;
  // Adam: 12 FLOPs and 28 bytes per parameter; sum of 4 pushes: 330 x 3 FLOPs, 1320 x 5 bytes.
  EXPECT_EQ(
      TaskLines(p.ranks[4]),
      (Lines{
          "0 push fc w0 recv p0 t0 fp32 n1320 mb0 []", "1 push fc w1 recv p1 t0 fp32 n1320 mb0 []",
          "2 push fc w2 recv p2 t0 fp32 n1320 mb0 []", "3 push fc w3 recv p3 t0 fp32 n1320 mb0 []",
          "4 fc/aggregate compute aggregate L3 mb0 s0 f990 b6600 L3 [0,1,2,3]",
          "5 fc/update compute update L3 mb0 s0 f3960 b9240 L3 [4]",
          "6 pull fc w0 send p0 t1 fp32 n1320 mb0 [5]",
          "7 pull fc w1 send p1 t1 fp32 n1320 mb0 [5]",
          "8 pull fc w2 send p2 t1 fp32 n1320 mb0 [5]",
          "9 pull fc w3 send p3 t1 fp32 n1320 mb0 [5]"}));
  // Adam's two moments on the server; sync buffers W = 4 x 1320.
  EXPECT_EQ(RankLine(p.ranks[4]), "e5 server s-1 r-1 | w1320 g1320 o2640 a0 B5280 ws0");
  EXPECT_EQ(RankLine(p.ranks[5]), "e6 server s-1 r-1 | w80 g80 o160 a0 B320 ws0");
}

// ---- hybrid ----

TEST(LowerHybrid, DataParallelPipelineFourDevices) {
  FakeCluster cl(1, 4);
  StrategyOptions o;
  o.strategy = "hybrid";
  o.stages = 2;
  o.micro_batches = 2;
  const Plan p = LowerTiny(cl, o);
  // R = 4 / 2 replicas; stage s of replica r on device 2r + s; each stage's gradients are
  // all-reduced over its replicas: groups {0,2} (conv1, 80 B) and {1,3} (fc, 1320 B).
  ASSERT_EQ(p.groups.size(), 2u);
  EXPECT_EQ(p.groups[0].ranks, (std::vector<int>{0, 2}));
  EXPECT_EQ(p.groups[1].ranks, (std::vector<int>{1, 3}));
  EXPECT_EQ(p.global_batch, 8);
  const Lines stage0 = {"0 conv1/fwd/mb0 compute forward L1 mb0 s2 f1216 b464 []",
                        "1 send act conv1/mb0 send p{1} t2 fp32 n256 mb0 [0]",
                        "2 conv1/fwd/mb1 compute forward L1 mb1 s2 f1216 b464 [0]",
                        "3 send act conv1/mb1 send p{1} t12 fp32 n256 mb1 [2]",
                        "4 recv grad conv1/mb1 recv p{1} t13 fp32 n256 mb1 []",
                        "5 conv1/bwd-weight/mb1 compute backward-weight L1 mb1 s2 f1216 b672 [2,4]",
                        "6 recv grad conv1/mb0 recv p{1} t3 fp32 n256 mb0 []",
                        "7 conv1/bwd-weight/mb0 compute backward-weight L1 mb0 s2 f1216 b672 [5,6]",
                        "8 bucket0/all-reduce all-reduce ring fp32 g0 c0 n80 B0 L1 [7]",
                        "9 update compute update L-1 mb0 s0 f80 b400 L1 [7,8]"};
  for (int r = 0; r < 2; ++r) {
    Lines want = stage0;
    for (auto& l : want)
      if (auto at = l.find("p{1}"); at != std::string::npos)
        l.replace(at, 4, "p" + std::to_string(2 * r + 1));
    EXPECT_EQ(TaskLines(p.ranks[2 * r]), want) << "replica " << r;
  }
  const Lines stage1 = TaskLines(p.ranks[3]);
  ASSERT_EQ(stage1.size(), 20u);
  EXPECT_EQ(stage1[0], "0 recv act conv1/mb0 recv p2 t2 fp32 n256 mb0 []");
  EXPECT_EQ(stage1[17], "17 send grad conv1/mb0 send p2 t3 fp32 n256 mb0 [16]");
  EXPECT_EQ(stage1[18], "18 bucket0/all-reduce all-reduce ring fp32 g1 c1 n1320 B0 L3 [15]");
  EXPECT_EQ(stage1[19], "19 update compute update L-1 mb0 s0 f1320 b6600 L3 [16,18]");
  // As the pipeline's stages; fp32 buckets are views of the gradient buffer (no buffers).
  EXPECT_EQ(RankLine(p.ranks[2]), "e2 stage s0 r1 | w80 g80 o80 a1280 B512 ws80");
  EXPECT_EQ(RankLine(p.ranks[3]), "e3 stage s1 r1 | w1320 g1320 o1320 a1472 B0 ws1320");
}

TEST(LowerHybrid, OneWeirdTrickTwoDevices) {
  FakeCluster cl(1, 2);
  StrategyOptions o;
  o.strategy = "hybrid";
  o.hybrid = HybridKind::kOneWeirdTrick;
  const Plan p = LowerTiny(cl, o);
  EXPECT_EQ(p.context.options["fc_first"], "fc");
  // conv1 data parallel on 4 samples; flatten's output gathered (8 samples x 128 B); fc split by
  // output features (half of 650 x 8 FLOPs, half of its 168 x 8 + 1320 bytes) on all 8 samples;
  // its output gathered (8 x 40 B); loss replicated on 8 samples; fc's input gradient
  // reduce-scattered back (8 x 128 B); conv1's 80-byte gradient all-reduced.
  const Lines want = {"0 conv1/fwd compute forward L1 mb0 s4 f2432 b848 []",
                      "1 flatten/fwd compute forward L2 mb0 s4 f0 b0 [0]",
                      "2 gather flatten all-gather ring fp32 g0 c0 n1024 [1]",
                      "3 fc/fwd compute forward L3 mb0 s8 f2600 b1332 [1,2]",
                      "4 gather fc all-gather ring fp32 g0 c1 n320 [2,3]",
                      "5 loss/fwd compute forward L4 mb0 s8 f400 b352 [3,4]",
                      "6 loss/bwd-data compute backward-data L4 mb0 s8 f160 b672 [5]",
                      "7 fc/bwd-data compute backward-data L3 mb0 s8 f2560 b1332 [6]",
                      "8 fc/bwd-weight compute backward-weight L3 mb0 s8 f2600 b1480 [6,7]",
                      "9 scatter grad fc reduce-scatter ring fp32 g0 c2 n1024 [4,7]",
                      "10 flatten/bwd-data compute backward-data L2 mb0 s4 f0 b0 [8,9]",
                      "11 conv1/bwd-weight compute backward-weight L1 mb0 s4 f2432 b1184 [10]",
                      "12 bucket0/all-reduce all-reduce ring fp32 g0 c3 n80 B0 L1 [9,11]",
                      "13 update compute update L-1 mb0 s0 f740 b3700 L1,3 [11,12]"};
  for (int r = 0; r < 2; ++r) EXPECT_EQ(TaskLines(p.ranks[r]), want) << "rank " << r;
  // Held: conv1 20 + fc 330 / 2 = 185 parameters. Saved: conv1 192 x 4 + loss 40 x 8.
  // Buffers: 2 x the gathered boundary (1024) + 2 x the conv bucket (80). Workspace: fc's weight
  // gradient (1320, more than its input gradient 128 x 8 = 1024).
  EXPECT_EQ(RankLine(p.ranks[1]), "e1 worker s-1 r1 | w740 g740 o740 a1088 B2208 ws1320");
}

TEST(LowerHybrid, OneWeirdTrickFourDevices) {
  FakeCluster cl(1, 4);
  StrategyOptions o;
  o.strategy = "hybrid";
  o.hybrid = HybridKind::kOneWeirdTrick;
  const Plan p = LowerTiny(cl, o);
  const Lines t = TaskLines(p.ranks[3]);
  ASSERT_EQ(t.size(), 14u);
  EXPECT_EQ(t[2], "2 gather flatten all-gather ring fp32 g0 c0 n2048 [1]");
  EXPECT_EQ(t[3], "3 fc/fwd compute forward L3 mb0 s16 f2600 b1002 [1,2]");
  EXPECT_EQ(t[4], "4 gather fc all-gather ring fp32 g0 c1 n640 [2,3]");
  EXPECT_EQ(t[9], "9 scatter grad fc reduce-scatter ring fp32 g0 c2 n2048 [4,7]");
  EXPECT_EQ(t[13], "13 update compute update L-1 mb0 s0 f410 b2050 L1,3 [11,12]");
  // Workspace: fc's input gradient on 16 samples (128 x 16 = 2048).
  EXPECT_EQ(RankLine(p.ranks[3]), "e3 worker s-1 r3 | w410 g410 o410 a1408 B4256 ws2048");
}

// ---- the estimator's fast path ----

void ExpectSameSummary(const cost::Summary& a, const cost::Summary& b) {
  EXPECT_EQ(a.iteration_time_s, b.iteration_time_s);
  EXPECT_EQ(a.throughput_samples_per_s, b.throughput_samples_per_s);
  EXPECT_EQ(a.compute_time_s, b.compute_time_s);
  EXPECT_EQ(a.comm_time_s, b.comm_time_s);
  EXPECT_EQ(a.exposed_comm_time_s, b.exposed_comm_time_s);
  EXPECT_EQ(a.bubble_time_s, b.bubble_time_s);
  EXPECT_EQ(a.comm_bytes_total, b.comm_bytes_total);
  EXPECT_EQ(a.memory_peak_bytes, b.memory_peak_bytes);
  EXPECT_EQ(a.speedup, b.speedup);
  EXPECT_EQ(a.devices, b.devices);
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (size_t r = 0; r < a.ranks.size(); ++r) {
    EXPECT_EQ(a.ranks[r].endpoint, b.ranks[r].endpoint);
    EXPECT_EQ(a.ranks[r].finish_s, b.ranks[r].finish_s);
    EXPECT_EQ(a.ranks[r].compute_time_s, b.ranks[r].compute_time_s);
    EXPECT_EQ(a.ranks[r].comm_time_s, b.ranks[r].comm_time_s);
    EXPECT_EQ(a.ranks[r].exposed_comm_time_s, b.ranks[r].exposed_comm_time_s);
    EXPECT_EQ(a.ranks[r].idle_time_s, b.ranks[r].idle_time_s);
    EXPECT_EQ(a.ranks[r].memory_peak_bytes, b.ranks[r].memory_peak_bytes);
  }
}

TEST(EstimateStrategy, EqualsLowerThenEstimateNumberForNumber) {
  FakeCluster cl(2, 4, 2);  // ps: one dedicated server host per node by default
  // Two device types: ranks 4..7 are slower, so dp has two classes of identical replicas.
  cl.mutable_endpoint(4).speed_factor = 0.5;
  cl.mutable_endpoint(5).speed_factor = 0.5;
  {
    // The fast path really is compact for dp: one lowered rank per class of identical devices.
    StrategyOptions o;
    o.batch = 8;
    std::vector<int> same_as;
    const Plan compact = detail::LowerForEstimate(TinyNet(), cl, o, same_as);
    EXPECT_EQ(same_as, (std::vector<int>{0, 0, 0, 0, 4, 4, 0, 0}));
    EXPECT_EQ(compact.ranks[0].tasks.size(), 11u);
    EXPECT_EQ(compact.ranks[4].tasks.size(), 11u);
    EXPECT_TRUE(compact.ranks[7].tasks.empty());
    EXPECT_EQ(compact.ranks[7].memory_peak(), Lower(TinyNet(), cl, o).ranks[7].memory_peak());
  }
  for (std::string strategy : {"dp", "mp", "ps", "hybrid"})
    for (Algorithm a : {Algorithm::kRing, Algorithm::kTree, Algorithm::kHierarchical}) {
      StrategyOptions o;
      o.strategy = strategy;
      o.batch = 8;
      o.algorithm = a;
      o.bucket_bytes = 1000;  // two buckets
      o.micro_batches = strategy == "dp" ? 1 : 2;
      o.stages = strategy == "dp" || strategy == "ps" ? 0 : 2;  // mp on 2 of the 8 devices
      o.gpus = strategy == "mp" ? 2 : 0;
      const Plan full = Lower(TinyNet(), cl, o);
      SCOPED_TRACE(strategy + " " + Name(a));
      ExpectSameSummary(cost::EstimateStrategy(TinyNet(), cl, o, {}, 1e-3),
                        cost::Estimate(full, cl, {}, 1e-3));
    }
}

}  // namespace
}  // namespace convscale::plan
