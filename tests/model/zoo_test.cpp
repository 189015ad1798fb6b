// The zoo against torchvision's published figures (https://pytorch.org/vision/stable/models.html,
// the "Params" and "GFLOPS" columns of the classification table). torchvision's GFLOPS counts
// multiply-adds of convolutions and linear layers at batch 1 (G = 1e9): our macs_forward.
#include "model/graph/zoo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "model/util/error.h"

namespace convscale::graph {
namespace {

struct Published {
  const char* name;
  int64_t params;
  double gflops;  // torchvision's "GFLOPS": G multiply-adds per image
  Shape input;
};

const Published kPublished[] = {
    {"alexnet", 61'100'840, 0.71, {3, 224, 224}},
    {"vgg11", 132'863'336, 7.61, {3, 224, 224}},
    {"vgg16", 138'357'544, 15.47, {3, 224, 224}},
    {"vgg19", 143'667'240, 19.63, {3, 224, 224}},
    {"resnet18", 11'689'512, 1.81, {3, 224, 224}},
    {"resnet34", 21'797'672, 3.66, {3, 224, 224}},
    {"resnet50", 25'557'032, 4.09, {3, 224, 224}},
    {"resnet101", 44'549'160, 7.8, {3, 224, 224}},
    {"resnet152", 60'192'808, 11.51, {3, 224, 224}},
    {"inception_v3", 27'161'264, 5.71, {3, 299, 299}},
    {"mobilenet_v2", 3'504'872, 0.30, {3, 224, 224}},
    {"densenet121", 7'978'856, 2.83, {3, 224, 224}},
};

// Multiply-adds of the layers whose name starts with `prefix`.
double MacsUnder(const Network& net, const std::string& prefix) {
  double macs = 0;
  for (size_t v = 0; v < net.size(); ++v)
    if (net.layer(static_cast<int>(v)).name.rfind(prefix, 0) == 0)
      macs += net.layer(static_cast<int>(v)).cost.macs_forward;
  return macs;
}

class ZooTest : public ::testing::TestWithParam<Published> {};

TEST_P(ZooTest, ParamsEqualTorchvisionExactly) {
  const Published& m = GetParam();
  const Network net = LoadModel(m.name, 1);
  EXPECT_EQ(net.Totals().params, m.params);
  EXPECT_EQ(net.input_shape(), m.input);
  EXPECT_EQ(net.num_classes(), 1000);
}

TEST_P(ZooTest, MacsWithinOnePercentOfTorchvision) {
  const Published& m = GetParam();
  const Network net = LoadModel(m.name, 1);
  double macs = net.Totals().macs_forward;
  // torchvision measures inception_v3 in eval mode, where the auxiliary head (AuxLogits, fed by
  // Mixed_6e) does not run; our model is in training mode, so leave the aux branch out here.
  if (m.name == std::string("inception_v3")) macs -= MacsUnder(net, "AuxLogits.");
  EXPECT_NEAR(macs / 1e9, m.gflops, 0.01 * m.gflops) << m.name << ": " << macs;
}

TEST_P(ZooTest, EndsInLossAndScalesWithBatch) {
  const Published& m = GetParam();
  const Network one = LoadModel(m.name, 1);
  const Network eight = LoadModel(m.name, 8);
  for (int v : one.Outputs()) EXPECT_EQ(one.layer(v).type, LayerType::kLoss) << one.layer(v).name;
  EXPECT_DOUBLE_EQ(eight.Totals().macs_forward, 8 * one.Totals().macs_forward);
  EXPECT_DOUBLE_EQ(eight.Totals().saved_bytes, 8 * one.Totals().saved_bytes);
  EXPECT_EQ(eight.Totals().params, one.Totals().params);
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ZooTest, ::testing::ValuesIn(kPublished),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Zoo, ListsThirteenModelsWithTheirInputs) {
  std::set<std::string> names;
  for (const auto& m : ZooModels()) {
    names.insert(m.name);
    EXPECT_EQ(BuildZooModel(m.name).input_shape(), m.input) << m.name;
    EXPECT_FALSE(m.description.empty());
  }
  EXPECT_EQ(names.size(), 13u);
  for (const auto& p : kPublished) EXPECT_TRUE(names.count(p.name)) << p.name;
  EXPECT_TRUE(names.count("fashion_cnn"));
}

TEST(Zoo, InceptionAuxHeadAsTorchvision) {
  const Network net = LoadModel("inception_v3", 1);
  // Two outputs: the main loss and the auxiliary head's.
  std::set<std::string> outputs;
  for (int v : net.Outputs()) outputs.insert(net.layer(v).name);
  EXPECT_EQ(outputs, (std::set<std::string>{"loss", "AuxLogits.loss"}));
  const int pool = net.Find("AuxLogits.avg_pool");
  ASSERT_GE(pool, 0);
  EXPECT_EQ(net.layer(net.layer(pool).inputs[0]).name, "Mixed_6e.cat");
  EXPECT_EQ(net.layer(net.Find("Mixed_6e.cat")).out, (Shape{768, 17, 17}));
  EXPECT_EQ(net.layer(pool).out, (Shape{768, 5, 5}));
  EXPECT_EQ(net.layer(net.Find("AuxLogits.conv1.conv")).out, (Shape{768, 1, 1}));
  EXPECT_EQ(net.layer(net.Find("Mixed_7c.cat")).out, (Shape{2048, 8, 8}));
  // torchvision: 27,161,264 with the aux head, 23,834,568 without it (aux_logits=False).
  int64_t aux = 0;
  for (size_t v = 0; v < net.size(); ++v)
    if (net.layer(static_cast<int>(v)).name.rfind("AuxLogits.", 0) == 0)
      aux += net.layer(static_cast<int>(v)).cost.params;
  EXPECT_EQ(net.Totals().params - aux, 23'834'568);
}

TEST(Zoo, ShapesAlongResNet50) {
  const Network net = LoadModel("resnet50", 2);
  EXPECT_EQ(net.layer(net.Find("maxpool")).out, (Shape{64, 56, 56}));
  EXPECT_EQ(net.layer(net.Find("layer1.2.relu3")).out, (Shape{256, 56, 56}));
  EXPECT_EQ(net.layer(net.Find("layer2.0.conv2")).out, (Shape{128, 28, 28}));
  EXPECT_EQ(net.layer(net.Find("layer4.2.relu3")).out, (Shape{2048, 7, 7}));
  EXPECT_EQ(net.layer(net.Find("fc")).out, (Shape{1000, 1, 1}));
}

TEST(Zoo, FashionCnnHandCounted) {
  const Network net = LoadModel("fashion_cnn", 1);
  // conv1 1*32*9+32, conv2 32*64*9+64, fc1 3136*128+128, fc2 128*10+10
  EXPECT_EQ(net.Totals().params, 320 + 18'496 + 401'536 + 1'290);
  EXPECT_EQ(net.num_classes(), 10);
}

TEST(Zoo, UnknownNameSuggestsTheClosest) {
  try {
    BuildZooModel("resnet5");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown model \"resnet5\"; did you mean \"resnet50\"? (run \"convscale models\" "
              "for the list, or give a model file)");
  }
}

}  // namespace
}  // namespace convscale::graph
