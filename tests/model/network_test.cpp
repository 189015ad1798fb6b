// The layer graph's arithmetic against hand-computed values (docs/model-format.md, "Counting").
#include "model/graph/network.h"

#include <gtest/gtest.h>

#include "model/util/error.h"

namespace convscale::graph {
namespace {

// input 3x8x8 -> conv2d 4 filters 3x3 pad 1 with bias -> relu -> max_pool 2x2 stride 2; batch 2.
Network ThreeLayers() {
  Network net("three", {3, 8, 8}, 10);
  Builder b{net};
  int x = b.Conv("conv", 0, 4, 3, 1, 1, 1, /*bias=*/true);
  x = b.ReLU("relu", x);
  b.MaxPool("pool", x, 2, 2);
  net.Infer(2);
  return net;
}

TEST(Network, ThreeLayersHandCounted) {
  const Network net = ThreeLayers();
  const Layer& conv = net.layer(net.Find("conv"));
  const Layer& relu = net.layer(net.Find("relu"));
  const Layer& pool = net.layer(net.Find("pool"));
  EXPECT_EQ(conv.out, (Shape{4, 8, 8}));
  EXPECT_EQ(pool.out, (Shape{4, 4, 4}));

  // conv: 4 filters of 3x3x3 plus 4 biases.
  EXPECT_EQ(conv.cost.params, 4 * 27 + 4);
  // 2 samples x 256 outputs x 27 multiply-adds each.
  EXPECT_DOUBLE_EQ(conv.cost.macs_forward, 2 * 256 * 27);  // 13824
  // 2 FLOPs per MAC plus one add per output for the bias.
  EXPECT_DOUBLE_EQ(conv.cost.flops_forward, 2 * 13824 + 2 * 256);  // 28160
  // Nothing before the first conv is trainable: no input gradient.
  EXPECT_DOUBLE_EQ(conv.cost.flops_backward_data, 0);
  EXPECT_FALSE(conv.needs_input_grad);
  EXPECT_DOUBLE_EQ(conv.cost.flops_backward_weight, 2 * 13824 + 2 * 256);
  EXPECT_DOUBLE_EQ(conv.cost.weight_bytes, 112 * 4);

  // relu: one FLOP per element forward and backward.
  EXPECT_DOUBLE_EQ(relu.cost.flops_forward, 2 * 256);
  EXPECT_DOUBLE_EQ(relu.cost.flops_backward_data, 2 * 256);
  EXPECT_TRUE(relu.needs_input_grad);
  // max_pool: one comparison per window element per output.
  EXPECT_DOUBLE_EQ(pool.cost.flops_forward, 2 * 64 * 4);
  EXPECT_DOUBLE_EQ(pool.cost.flops_backward_data, 2 * 64 * 4);

  // Saved for backward, each tensor once, owned by its producer: the input image (kept by conv),
  // relu's output (kept by relu and by the pool), the pool's int64 indices; conv's output is
  // kept by nobody (relu keeps its output, not its input).
  EXPECT_DOUBLE_EQ(net.layer(0).cost.saved_bytes, 2 * 192 * 4);  // 1536
  EXPECT_DOUBLE_EQ(conv.cost.saved_bytes, 0);
  EXPECT_DOUBLE_EQ(relu.cost.saved_bytes, 2 * 256 * 4);  // 2048
  EXPECT_DOUBLE_EQ(pool.cost.saved_bytes, 2 * 64 * 8);   // 1024

  const NetworkTotals t = net.Totals();
  EXPECT_EQ(t.params, 112);
  EXPECT_DOUBLE_EQ(t.macs_forward, 13824);
  EXPECT_DOUBLE_EQ(t.flops_forward, 28160 + 512 + 512);
  EXPECT_DOUBLE_EQ(t.flops_backward_data, 512 + 512);
  EXPECT_DOUBLE_EQ(t.flops_backward_weight, 28160);
  EXPECT_DOUBLE_EQ(t.flops_backward, 29184);
  EXPECT_DOUBLE_EQ(t.weight_bytes, 448);
  EXPECT_DOUBLE_EQ(t.saved_bytes, 1536 + 2048 + 1024);
}

TEST(Network, ConvOutputShapeWithStridePaddingDilation) {
  // out = floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1
  Network net("conv", {3, 32, 32});
  Builder b{net};
  const int c = b.Conv("c", 0, 8, 5, /*stride=*/2, /*pad=*/3, 1, false, /*dilation=*/2);
  LayerParams p;
  p.out_channels = 6;
  p.kernel_h = 3;
  p.kernel_w = 2;
  p.stride_h = 2;
  p.stride_w = 3;
  p.pad_h = 1;
  p.pad_w = 0;
  p.dilation_h = 1;
  p.dilation_w = 2;
  const int r = b.Generic("rect", LayerType::kConv2d, {c}, p);
  const int g = b.Conv("grouped", r, 12, 3, 1, 1, /*groups=*/3);
  net.Infer(1);
  // (32 + 6 - 2*4 - 1) / 2 + 1 = 14 + 1
  EXPECT_EQ(net.layer(c).out, (Shape{8, 15, 15}));
  // H: (15 + 2 - 2 - 1) / 2 + 1 = 8; W: (15 - 2 - 1) / 3 + 1 = 5
  EXPECT_EQ(net.layer(r).out, (Shape{6, 8, 5}));
  EXPECT_EQ(net.layer(r).cost.params, 6 * 8 * 3 * 2 + 6);
  // Groups: each of 12 filters sees 6/3 = 2 channels.
  EXPECT_EQ(net.layer(g).cost.params, 12 * 2 * 9);
  EXPECT_DOUBLE_EQ(net.layer(g).cost.macs_forward, 12.0 * 8 * 5 * 2 * 9);
}

TEST(Network, CeilModePoolFollowsPyTorch) {
  Network net("pool", {1, 6, 6});
  Builder b{net};
  const int floor_pool = b.MaxPool("floor", 0, 3, 2);
  const int ceil_pool = b.MaxPool("ceil", 0, 3, 2, 0, true);
  net.Infer(1);
  EXPECT_EQ(net.layer(floor_pool).out, (Shape{1, 2, 2}));  // floor(3/2) + 1
  EXPECT_EQ(net.layer(ceil_pool).out, (Shape{1, 3, 3}));   // ceil(3/2) + 1

  // ceil_mode drops a last window that would start in the right padding: 3x3 input, kernel 2,
  // stride 2, padding 1 gives ceil(3/2) + 1 = 3, but window 3 starts at 4 >= 3 + 1, so 2.
  Network edge("edge", {1, 3, 3});
  Builder e{edge};
  const int p = e.MaxPool("p", 0, 2, 2, 1, true);
  edge.Infer(1);
  EXPECT_EQ(edge.layer(p).out, (Shape{1, 2, 2}));
}

TEST(Network, AddMismatchNamesBothInputs) {
  Network net("mismatch", {3, 8, 8});
  Builder b{net};
  const int a = b.Conv("a", 0, 4, 3, 1, 1);
  const int c = b.Conv("c", 0, 4, 3, 2, 1);
  b.AddLayers("sum", {a, c});
  try {
    net.Infer(1);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "mismatch: layer \"sum\" (add): inputs \"a\" (4x8x8) and \"c\" (4x4x4) have "
              "different shapes");
  }
}

TEST(Network, ConcatJoinsChannels) {
  Network net("cat", {3, 8, 8});
  Builder b{net};
  const int a = b.Conv("a", 0, 4, 1);
  const int c = b.Conv("c", 0, 5, 3, 1, 1);
  const int cat = b.Concat("cat", {a, c});
  net.Infer(3);
  EXPECT_EQ(net.layer(cat).out, (Shape{9, 8, 8}));
  EXPECT_DOUBLE_EQ(net.layer(cat).cost.flops_forward, 0);
}

TEST(Network, RejectedLayerLeavesNoTrace) {
  Network net("n", {3, 8, 8});
  Builder b{net};
  b.ReLU("r", 0);
  EXPECT_THROW(b.ReLU("r", 1), InputError);  // duplicate name
  EXPECT_THROW(b.ReLU("s", 7), InputError);  // reads a vertex that does not exist
  EXPECT_EQ(net.size(), 2u);
  EXPECT_EQ(net.Find("s"), -1);
}

}  // namespace
}  // namespace convscale::graph
