// ONNX import (model/onnx): small models built here with the ONNX protobuf API and checked against
// hand counts, zoo models exported with ExportOnnx and imported back to the same counts, and the
// exact texts of the errors.
#include <gtest/gtest.h>

#ifdef CONVSCALE_HAVE_ONNX

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "model/graph/model_json.h"
#include "model/graph/zoo.h"
#include "model/onnx/onnx_import.h"
#include "model/util/error.h"

namespace convscale::graph {
namespace {

namespace pb = ::onnx;

// Builds an ONNX model node by node, the way an exporter writes one.
struct OnnxBuilder {
  pb::ModelProto m;
  pb::GraphProto* g;

  explicit OnnxBuilder(std::vector<int64_t> input_chw, int64_t opset = 13) {
    m.set_ir_version(8);
    m.set_producer_name("onnx_test");
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g = m.mutable_graph();
    g->set_name("test");
    auto* in = g->add_input();
    in->set_name("x");
    auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
    in->mutable_type()->mutable_tensor_type()->set_elem_type(pb::TensorProto::FLOAT);
    shape->add_dim()->set_dim_param("batch");
    for (int64_t d : input_chw) shape->add_dim()->set_dim_value(d);
  }
  // A float initializer holding `values` (or zeros when empty).
  std::string Init(const std::string& name, std::vector<int64_t> dims,
                   std::vector<float> values = {}) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(pb::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    if (values.empty()) values.assign(n, 0.0f);
    for (float v : values) t->add_float_data(v);
    return name;
  }
  std::string IntInit(const std::string& name, std::vector<int64_t> values) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(pb::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }
  pb::NodeProto* Node(const std::string& op, const std::string& name, std::vector<std::string> ins,
                      std::vector<std::string> outs = {}) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : ins) n->add_input(i);
    if (outs.empty()) outs = {name};
    for (auto& o : outs) n->add_output(o);
    return n;
  }
  static void Ints(pb::NodeProto* n, const char* name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void Int(pb::NodeProto* n, const char* name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INT);
    a->set_i(v);
  }
  static void Str(pb::NodeProto* n, const char* name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::STRING);
    a->set_s(v);
  }
  void Output(const std::string& name) { g->add_output()->set_name(name); }

  std::string Write(const std::string& file) const {
    const std::string path = ::testing::TempDir() + file;
    std::ofstream out(path, std::ios::binary);
    EXPECT_TRUE(m.SerializeToOstream(&out));
    return path;
  }
};

std::string ErrorOf(const std::string& path) {
  try {
    ImportOnnx(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

// conv(3->16, 3x3, pad 1, bias) relu maxpool(2) conv(16->32, 3x3, pad 1) bn relu global-pool
// flatten gemm(32->10) softmax, on 3x32x32.
OnnxBuilder ThreeLayerCnn() {
  OnnxBuilder b({3, 32, 32});
  auto* c1 =
      b.Node("Conv", "conv1", {"x", b.Init("conv1.w", {16, 3, 3, 3}), b.Init("conv1.b", {16})});
  OnnxBuilder::Ints(c1, "kernel_shape", {3, 3});
  OnnxBuilder::Ints(c1, "pads", {1, 1, 1, 1});
  b.Node("Relu", "relu1", {"conv1"});
  auto* mp = b.Node("MaxPool", "pool1", {"relu1"});
  OnnxBuilder::Ints(mp, "kernel_shape", {2, 2});
  OnnxBuilder::Ints(mp, "strides", {2, 2});
  auto* c2 = b.Node("Conv", "conv2", {"pool1", b.Init("conv2.w", {32, 16, 3, 3})});
  OnnxBuilder::Ints(c2, "pads", {1, 1, 1, 1});
  b.Node("BatchNormalization", "bn2",
         {"conv2", b.Init("bn.s", {32}), b.Init("bn.b", {32}), b.Init("bn.m", {32}),
          b.Init("bn.v", {32})});
  b.Node("Relu", "relu2", {"bn2"});
  b.Node("GlobalAveragePool", "gap", {"relu2"});
  b.Node("Flatten", "flatten", {"gap"});
  auto* fc = b.Node("Gemm", "fc", {"flatten", b.Init("fc.w", {10, 32}), b.Init("fc.b", {10})});
  OnnxBuilder::Int(fc, "transB", 1);
  b.Node("Softmax", "prob", {"fc"});
  b.Output("prob");
  return b;
}

TEST(OnnxImport, ThreeLayerCnnMatchesHandCounts) {
  const std::string path = ThreeLayerCnn().Write("three_layer.onnx");
  Network net = ImportOnnx(path);
  EXPECT_EQ(net.name(), "three_layer");
  EXPECT_EQ(net.input_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(net.num_classes(), 10);
  // The final Softmax is folded into the appended loss (softmax + cross-entropy).
  const std::vector<std::pair<std::string, LayerType>> expected = {
      {"input", LayerType::kInput},     {"conv1", LayerType::kConv2d},
      {"relu1", LayerType::kReLU},      {"pool1", LayerType::kMaxPool},
      {"conv2", LayerType::kConv2d},    {"bn2", LayerType::kBatchNorm},
      {"relu2", LayerType::kReLU},      {"gap", LayerType::kAdaptiveAvgPool},
      {"flatten", LayerType::kFlatten}, {"fc", LayerType::kLinear},
      {"loss", LayerType::kLoss}};
  ASSERT_EQ(net.size(), expected.size());
  for (size_t v = 0; v < expected.size(); ++v) {
    EXPECT_EQ(net.layer(static_cast<int>(v)).name, expected[v].first);
    EXPECT_EQ(net.layer(static_cast<int>(v)).type, expected[v].second) << expected[v].first;
  }
  EXPECT_EQ(net.layer(net.Find("loss")).inputs, std::vector<int>{net.Find("fc")});
  // Parameters: conv1 16*3*9 + 16 = 448, conv2 32*16*9 = 4608, bn 2*32 = 64, fc 32*10 + 10 = 330.
  EXPECT_EQ(net.layer(net.Find("conv1")).cost.params, 448);
  EXPECT_EQ(net.layer(net.Find("conv2")).cost.params, 4608);
  EXPECT_EQ(net.layer(net.Find("bn2")).cost.params, 64);
  EXPECT_EQ(net.layer(net.Find("fc")).cost.params, 330);
  EXPECT_EQ(net.Totals().params, 5450);
  EXPECT_EQ(net.layer(net.Find("pool1")).out, (Shape{16, 16, 16}));
  // MACs: conv1 32*32*16*27 = 442368, conv2 16*16*32*144 = 1179648, fc 320.
  EXPECT_DOUBLE_EQ(net.Totals().macs_forward, 442368.0 + 1179648.0 + 320.0);
  net.Infer(8, path);
  EXPECT_DOUBLE_EQ(net.Totals().macs_forward, 8 * (442368.0 + 1179648.0 + 320.0));
}

// `convscale model import`: the imported network written in the JSON model format reads back to
// the same layers and counts.
TEST(OnnxImport, ImportedModelRoundTripsThroughJson) {
  const Network net = ImportOnnx(ThreeLayerCnn().Write("three_layer_json.onnx"));
  Network back = ModelFromJson(ParseJson(ModelToJsonText(net), "model.json"), "model.json");
  back.Infer(1, "model.json");
  ASSERT_EQ(back.size(), net.size());
  for (int v = 0; v < static_cast<int>(net.size()); ++v) {
    EXPECT_EQ(back.layer(v).name, net.layer(v).name);
    EXPECT_EQ(back.layer(v).type, net.layer(v).type);
  }
  EXPECT_EQ(back.Totals().params, 5450);
  EXPECT_EQ(back.Totals().macs_forward, net.Totals().macs_forward);
  EXPECT_EQ(back.Totals().flops_backward, net.Totals().flops_backward);
  EXPECT_EQ(back.num_classes(), 10);
}

// What torch.onnx writes for x.view(x.size(0), -1), nn.Linear as MatMul + Add, and nn.ReLU6 as
// Clip with min/max inputs; Constant nodes instead of initializers; Identity and Dropout.
TEST(OnnxImport, DynamicFlattenMatMulBiasAndRelu6) {
  OnnxBuilder b({8, 4, 4});
  auto* c = b.Node("Conv", "conv", {"x", b.Init("w", {8, 1, 3, 3})});
  OnnxBuilder::Int(c, "group", 8);  // depthwise
  OnnxBuilder::Str(c, "auto_pad", "SAME_UPPER");
  auto* k0 = b.Node("Constant", "zero", {});
  auto* k0v = k0->add_attribute();
  k0v->set_name("value_float");
  k0v->set_type(pb::AttributeProto::FLOAT);
  k0v->set_f(0);
  b.Node("Clip", "relu6", {"conv", "zero", b.Init("six", {}, {6.0f})});
  b.Node("Identity", "same", {"relu6"});
  b.Node("Shape", "shape", {"same"});
  b.Node("Gather", "batch", {"shape", b.IntInit("zero_index", {0})});
  b.Node("Unsqueeze", "batch1", {"batch", b.IntInit("axes", {0})});
  b.Node("Concat", "target", {"batch1", b.IntInit("minus_one", {-1})});
  b.Node("Reshape", "view", {"same", "target"});
  b.Node("Dropout", "drop", {"view", b.Init("ratio", {}, {0.2f})});
  b.Node("MatMul", "fc.matmul", {"drop", b.Init("fc.w", {128, 5})});
  b.Node("Add", "fc.add", {"fc.matmul", b.Init("fc.b", {5})});
  b.Output("fc.add");
  Network net = ImportOnnx(b.Write("dynamic.onnx"));
  EXPECT_EQ(net.layer(net.Find("conv")).p.pad_h, 1);  // SAME_UPPER, 3x3, stride 1
  EXPECT_EQ(net.layer(net.Find("conv")).p.groups, 8);
  EXPECT_EQ(net.layer(net.Find("relu6")).type, LayerType::kReLU6);
  EXPECT_EQ(net.layer(net.Find("view")).type, LayerType::kFlatten);
  EXPECT_DOUBLE_EQ(net.layer(net.Find("drop")).p.p, 0.2f);
  const Layer& fc = net.layer(net.Find("fc.matmul"));
  EXPECT_EQ(fc.type, LayerType::kLinear);
  EXPECT_TRUE(fc.p.bias);
  EXPECT_EQ(fc.cost.params, 128 * 5 + 5);
  EXPECT_EQ(net.Find("fc.add"), -1);
  EXPECT_EQ(net.Totals().params, 8 * 9 + 128 * 5 + 5);
  // input conv relu6 view drop fc loss: Identity and the shape arithmetic add no layers.
  EXPECT_EQ(net.size(), 7u);
}

// The zoo model exported to ONNX imports back to the same layers and counts.
class OnnxRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(OnnxRoundTrip, ImportOfExportMatchesZoo) {
  Network zoo = BuildZooModel(GetParam());
  zoo.Infer(1);
  const std::string path = ::testing::TempDir() + std::string(GetParam()) + ".onnx";
  ExportOnnx(zoo, path);
  Network net = ImportOnnx(path);
  EXPECT_EQ(net.name(), GetParam());
  EXPECT_EQ(net.input_shape(), zoo.input_shape());
  EXPECT_EQ(net.num_classes(), zoo.num_classes());
  const NetworkTotals a = zoo.Totals(), b = net.Totals();
  EXPECT_EQ(b.params, a.params);
  EXPECT_EQ(b.macs_forward, a.macs_forward);
  EXPECT_EQ(b.flops_forward, a.flops_forward);
  EXPECT_EQ(b.flops_backward, a.flops_backward);
  EXPECT_EQ(b.saved_bytes, a.saved_bytes);
  // Same layers, shapes and edges, found by name: the importer appends the loss layers last, so
  // Inception's auxiliary loss moves to the end.
  ASSERT_EQ(net.size(), zoo.size());
  std::multiset<std::string> zoo_loss_inputs, net_loss_inputs;
  for (int v = 0; v < static_cast<int>(zoo.size()); ++v) {
    const Layer& x = zoo.layer(v);
    if (x.type == LayerType::kLoss) {
      zoo_loss_inputs.insert(zoo.layer(x.inputs[0]).name);
      continue;
    }
    const int w = net.Find(x.name);
    ASSERT_GE(w, 0) << x.name;
    const Layer& y = net.layer(w);
    EXPECT_EQ(y.type, x.type) << x.name;
    EXPECT_EQ(ToString(y.out), ToString(x.out)) << x.name;
    ASSERT_EQ(y.inputs.size(), x.inputs.size()) << x.name;
    for (size_t i = 0; i < x.inputs.size(); ++i)
      EXPECT_EQ(net.layer(y.inputs[i]).name, zoo.layer(x.inputs[i]).name) << x.name;
  }
  for (int v = 0; v < static_cast<int>(net.size()); ++v)
    if (net.layer(v).type == LayerType::kLoss)
      net_loss_inputs.insert(net.layer(net.layer(v).inputs[0]).name);
  EXPECT_EQ(net_loss_inputs, zoo_loss_inputs);
  // The main classifier (the last layer built) is the first graph output, and its loss is "loss".
  EXPECT_EQ(net.layer(net.layer(net.Find("loss")).inputs[0]).name,
            zoo.layer(zoo.layer(zoo.Find("loss")).inputs[0]).name);
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Zoo, OnnxRoundTrip,
                         ::testing::Values("resnet18", "mobilenet_v2", "densenet121",
                                           "inception_v3", "fashion_cnn"));

TEST(OnnxImport, ResNet18MatchesTorchvisionCounts) {
  const std::string path = ::testing::TempDir() + "resnet18_counts.onnx";
  ExportOnnx(BuildZooModel("resnet18"), path);
  const Network net = ImportOnnx(path);
  EXPECT_EQ(net.Totals().params, 11'689'512);  // torchvision's published count
  EXPECT_EQ(net.Totals().macs_forward, LoadModel("resnet18", 1).Totals().macs_forward);
  std::filesystem::remove(path);
}

TEST(OnnxImport, UnsupportedOperatorsAreNamedWithTheirNodes) {
  OnnxBuilder b({3, 8, 8});
  b.Node("Relu", "/relu", {"x"});
  b.Node("LSTM", "/layer1/Foo", {"/relu"});
  b.Node("Relu", "", {"/layer1/Foo"}, {"r2"})->set_op_type("HardSwish");
  b.Output("r2");
  const std::string path = b.Write("unsupported.onnx");
  EXPECT_EQ(ErrorOf(path),
            path +
                ": node 1 (\"/layer1/Foo\"): operator \"LSTM\" is not supported; supported: "
                "Add, AveragePool, BatchNormalization, Clip, Concat, Constant, Conv, Dropout, "
                "Flatten, Gather, Gemm, GlobalAveragePool, Identity, LogSoftmax, MatMul, "
                "MaxPool, ReduceMean, Relu, Reshape, Shape, Sigmoid, Softmax, Squeeze, Sum, "
                "Tanh, Unsqueeze\n" +
                path + ": node 2: operator \"HardSwish\" is not supported");
}

TEST(OnnxImport, TruncatedAndGarbageFiles) {
  const std::string bytes = ExportOnnxBytes(BuildZooModel("fashion_cnn"));
  const std::string truncated = ::testing::TempDir() + "truncated.onnx";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_EQ(
      ErrorOf(truncated),
      truncated + ": not an ONNX model: the protobuf does not parse (is the file truncated?)");
  const std::string garbage = ::testing::TempDir() + "garbage.onnx";
  std::ofstream(garbage, std::ios::binary) << "this is not an ONNX file\n";
  EXPECT_EQ(ErrorOf(garbage),
            garbage + ": not an ONNX model: the protobuf does not parse (is the file truncated?)");
  const std::string empty = ::testing::TempDir() + "empty.onnx";
  std::ofstream(empty, std::ios::binary).flush();
  EXPECT_EQ(ErrorOf(empty), empty +
                                ": not an ONNX model: it has no graph nodes (is the file "
                                "truncated, or another format?)");
  const std::string missing = ::testing::TempDir() + "no_such_model.onnx";
  EXPECT_EQ(ErrorOf(missing), missing + ": cannot open: No such file or directory");
}

// Names that are not UTF-8 would reach JSON outputs: each place a name can be is refused with
// the node or the graph entry, the name shown with U+FFFD for the bad byte.
TEST(OnnxImport, NamesThatAreNotUtf8) {
  const std::string bytes = ExportOnnxBytes(BuildZooModel("fashion_cnn"));
  const std::string why =
      ": not UTF-8 text; layer and tensor names are written into JSON outputs, which hold UTF-8 "
      "only (rename it in the exporter)";
  auto error = [&bytes](const std::function<void(pb::GraphProto&)>& edit) {
    pb::ModelProto m;
    EXPECT_TRUE(m.ParseFromString(bytes));
    edit(*m.mutable_graph());
    const std::string path = ::testing::TempDir() + "not_utf8.onnx";
    std::ofstream(path, std::ios::binary) << m.SerializeAsString();
    return ErrorOf(path);
  };
  const std::string file = ::testing::TempDir() + "not_utf8.onnx: ";
  EXPECT_EQ(error([](pb::GraphProto& g) { g.mutable_node(0)->set_name("conv\xff"); }),
            file + "node 0: its name \"conv\xef\xbf\xbd\"" + why);
  EXPECT_EQ(error([](pb::GraphProto& g) { g.mutable_node(2)->set_input(0, "\xc3"); }),
            file + "node 2 (\"pool1\"): input 0 \"\xef\xbf\xbd\"" + why);
  EXPECT_EQ(error([](pb::GraphProto& g) { g.mutable_node(1)->set_op_type("Rel\x80"); }),
            file + "node 1 (\"relu1\"): its operator \"Rel\xef\xbf\xbd\"" + why);
  EXPECT_EQ(error([](pb::GraphProto& g) { g.mutable_initializer(0)->set_name("w\xe9"); }),
            file + "initializer \"w\xef\xbf\xbd\"" + why);
  EXPECT_EQ(error([](pb::GraphProto& g) { g.mutable_output(0)->set_name("fc2\xff"); }),
            file + "graph output \"fc2\xef\xbf\xbd\"" + why);
  // Multi-byte UTF-8 names are text, and import.
  EXPECT_EQ(error([](pb::GraphProto& g) { g.mutable_node(0)->set_name("conv\xc3\xa9"); }),
            "no error");
}

TEST(OnnxImport, AttributeErrors) {
  {
    OnnxBuilder b({3, 8, 8});
    auto* c = b.Node("Conv", "conv", {"x", b.Init("w", {4, 3, 2, 2})});
    OnnxBuilder::Ints(c, "pads", {0, 0, 1, 1});
    b.Output("conv");
    const std::string path = b.Write("asym.onnx");
    EXPECT_EQ(ErrorOf(path), path +
                                 ": node 0 (\"conv\"): asymmetric pads [0, 0, 1, 1] (begin H, "
                                 "W, end H, W) are not supported: convscale layers pad both "
                                 "sides equally");
  }
  {
    OnnxBuilder b({3, 8, 8});
    auto* c = b.Node("Conv", "conv", {"x", b.Init("w", {4, 3, 2, 2})});
    OnnxBuilder::Str(c, "auto_pad", "SAME_UPPER");
    b.Output("conv");
    const std::string path = b.Write("same_odd.onnx");
    EXPECT_EQ(ErrorOf(path), path +
                                 ": node 0 (\"conv\"): auto_pad=SAME_UPPER needs 1 padding "
                                 "along H, which cannot be split equally between both sides; "
                                 "convscale layers pad both sides equally");
  }
  {
    OnnxBuilder b({3, 8, 8});
    b.Node("Conv", "conv", {"x", b.Init("w", {4, 5, 3, 3})});
    b.Output("conv");
    const std::string path = b.Write("channels.onnx");
    EXPECT_EQ(ErrorOf(path), path +
                                 ": node 0 (\"conv\"): weight \"w\" [4, 5, 3, 3] with group=1 "
                                 "expects 5 input channels, but the input has 3");
  }
  {
    OnnxBuilder b({3, 8, 8});
    b.Node("Clip", "clip", {"x", b.Init("lo", {}, {-1.0f}), b.Init("hi", {}, {1.0f})});
    b.Output("clip");
    const std::string path = b.Write("clip.onnx");
    EXPECT_EQ(ErrorOf(path), path +
                                 ": node 0 (\"clip\"): Clip(min=-1, max=1) is not supported; "
                                 "convscale maps Clip(min=0) to relu and Clip(min=0, max=6) "
                                 "to relu6");
  }
  {
    OnnxBuilder b({3, 8, 8});
    b.Node("Reshape", "reshape", {"x", b.IntInit("shape", {0, 3, 64})});
    b.Output("reshape");
    const std::string path = b.Write("reshape.onnx");
    EXPECT_EQ(ErrorOf(path), path +
                                 ": node 0 (\"reshape\"): Reshape to [0, 3, 64] is not "
                                 "supported; convscale maps Reshape only as a flatten to N x "
                                 "192 (for example [0, -1] or [N, 192])");
  }
  {
    OnnxBuilder b({3, 8, 8});
    auto* r = b.Node("Relu", "relu", {"x"});
    OnnxBuilder::Int(r, "alpah", 1);
    b.Output("relu");
    const std::string path = b.Write("attr.onnx");
    EXPECT_EQ(ErrorOf(path), path + ": node 0 (\"relu\"): Relu has an unknown attribute \"alpah\"");
  }
  {
    OnnxBuilder b({3, 8, 8});
    b.Node("Relu", "relu", {"x"});
    b.Output("relu");
    const std::string path = b.Write("not_classifier.onnx");
    EXPECT_EQ(ErrorOf(path), path +
                                 ": graph output \"relu\" is 3x8x8 per sample; convscale "
                                 "models end in a classifier (N x classes), after which the "
                                 "importer appends the loss");
  }
}

}  // namespace
}  // namespace convscale::graph

#else

TEST(OnnxImport, NeedsTheOnnxLibrary) {
  GTEST_SKIP() << "convscale was built without ONNX support (install libonnx-dev and "
                  "libprotobuf-dev, then reconfigure)";
}

#endif
