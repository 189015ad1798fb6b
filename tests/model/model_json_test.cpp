// The JSON model format: round trips for the whole zoo and the exact text of every kind of error.
#include "model/graph/model_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/graph/zoo.h"
#include "model/util/error.h"

namespace convscale::graph {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("convscale_model_json_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name, const std::string& content) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p) << content;
    return p;
  }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTrip, ExportThenLoadGivesTheSameNetwork) {
  const std::string name = GetParam();
  TempDir dir;
  const Network zoo = LoadModel(name, 2);
  const std::string path = dir.Path(name + ".json");
  ExportModelJson(zoo, path);
  const Network back = LoadModel(path, 2);

  EXPECT_EQ(back.name(), zoo.name());
  EXPECT_EQ(back.input_shape(), zoo.input_shape());
  EXPECT_EQ(back.num_classes(), zoo.num_classes());
  const NetworkTotals a = zoo.Totals(), b = back.Totals();
  EXPECT_EQ(b.params, a.params);
  EXPECT_DOUBLE_EQ(b.macs_forward, a.macs_forward);
  EXPECT_DOUBLE_EQ(b.flops_forward, a.flops_forward);
  EXPECT_DOUBLE_EQ(b.flops_backward_data, a.flops_backward_data);
  EXPECT_DOUBLE_EQ(b.flops_backward_weight, a.flops_backward_weight);
  EXPECT_DOUBLE_EQ(b.saved_bytes, a.saved_bytes);
  ASSERT_EQ(back.size(), zoo.size());
  for (size_t v = 0; v < zoo.size(); ++v) {
    const Layer& x = zoo.layer(static_cast<int>(v));
    const Layer& y = back.layer(static_cast<int>(v));
    EXPECT_EQ(y.name, x.name);
    EXPECT_EQ(y.type, x.type) << x.name;
    EXPECT_EQ(y.inputs, x.inputs) << x.name;
    EXPECT_EQ(y.out, x.out) << x.name;
    EXPECT_EQ(y.cost.params, x.cost.params) << x.name;
  }
  // Deterministic: exporting what was read gives the same bytes.
  EXPECT_EQ(ModelToJsonText(back), ReadText(path));
}

std::vector<std::string> ZooNames() {
  std::vector<std::string> names;
  for (const auto& m : ZooModels()) names.push_back(m.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Zoo, RoundTrip, ::testing::ValuesIn(ZooNames()),
                         [](const auto& info) { return info.param; });

// A small valid model; each error test changes one thing.
Json Tiny() {
  return Json::parse(R"({
    "format": "convscale-model", "version": 1, "name": "tiny",
    "input": {"channels": 3, "height": 8, "width": 8}, "num_classes": 10,
    "layers": [
      {"name": "conv1", "type": "conv2d", "inputs": ["input"], "out_channels": 4, "kernel": 3,
       "padding": 1},
      {"name": "relu1", "type": "relu", "inputs": ["conv1"]},
      {"name": "pool", "type": "adaptive_avg_pool", "inputs": ["relu1"], "output_size": 1},
      {"name": "flat", "type": "flatten", "inputs": ["pool"]},
      {"name": "fc", "type": "linear", "inputs": ["flat"], "out_features": 10},
      {"name": "loss", "type": "loss", "inputs": ["fc"]}
    ]})");
}

// The message of the InputError that reading `j` (as file m.json) and inferring throws.
std::string ErrorOf(const Json& j) {
  try {
    Network net = ModelFromJson(j, "m.json");
    net.Infer(1, "m.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ModelJson, TinyModelReadsWithDefaults) {
  Network net = ModelFromJson(Tiny(), "m.json");
  net.Infer(1, "m.json");
  const Layer& conv = net.layer(net.Find("conv1"));
  EXPECT_EQ(conv.out, (Shape{4, 8, 8}));
  EXPECT_TRUE(conv.p.bias);  // PyTorch's default
  EXPECT_EQ(conv.origin, "/layers/0");
  EXPECT_EQ(net.Totals().params, 4 * 27 + 4 + 4 * 10 + 10);
}

TEST(ModelJson, LayersInAnyOrderAreSorted) {
  Json j = Tiny();
  Json reversed = Json::array();
  for (auto it = j["layers"].rbegin(); it != j["layers"].rend(); ++it) reversed.push_back(*it);
  j["layers"] = reversed;
  Network net = ModelFromJson(j, "m.json");
  net.Infer(1, "m.json");
  EXPECT_EQ(net.layer(1).name, "conv1");
  EXPECT_EQ(net.layer(6).name, "loss");
  EXPECT_EQ(net.Totals().params, 162);
}

TEST(ModelJson, UnknownKeySuggests) {
  Json j = Tiny();
  j["layers"][0].erase("kernel");
  j["layers"][0]["kernal"] = 3;
  EXPECT_EQ(ErrorOf(j),
            "m.json: /layers/0/kernal: unknown key \"kernal\"; did you mean \"kernel\"?");
  Json top = Tiny();
  top["num_clases"] = 10;
  EXPECT_EQ(ErrorOf(top),
            "m.json: /num_clases: unknown key \"num_clases\"; did you mean "
            "\"num_classes\"?");
}

TEST(ModelJson, KeyOfAnotherTypeIsRejected) {
  Json j = Tiny();
  j["layers"][1]["out_features"] = 3;
  EXPECT_EQ(ErrorOf(j),
            "m.json: /layers/1/out_features: key \"out_features\" does not apply to a "
            "relu layer (it takes no parameters)");
}

TEST(ModelJson, UnknownLayerTypeSuggests) {
  Json j = Tiny();
  j["layers"][0]["type"] = "conv2";
  EXPECT_EQ(ErrorOf(j),
            "m.json: /layers/0/type: unknown layer type \"conv2\"; did you mean \"conv2d\"?");
}

TEST(ModelJson, UnknownInputSuggests) {
  Json j = Tiny();
  j["layers"][1]["inputs"] = {"conv"};
  EXPECT_EQ(ErrorOf(j),
            "m.json: /layers/1/inputs/0: unknown layer \"conv\"; did you mean "
            "\"conv1\"?");
}

TEST(ModelJson, CycleIsReportedAsAPath) {
  Json j = Tiny();
  // relu1 -> r2 -> r3 -> relu1, listed out of order.
  j["layers"][1]["inputs"] = {"r3"};
  j["layers"].push_back({{"name", "r3"}, {"type", "relu"}, {"inputs", {"r2"}}});
  j["layers"].push_back({{"name", "r2"}, {"type", "relu"}, {"inputs", {"relu1"}}});
  EXPECT_EQ(ErrorOf(j),
            "m.json: /layers/1: the layers form a cycle: relu1 -> r2 -> r3 -> relu1 "
            "(\"a -> b\": b reads a's output)");
  Json self = Tiny();
  self["layers"][1]["inputs"] = {"relu1"};
  EXPECT_EQ(ErrorOf(self),
            "m.json: /layers/1: the layers form a cycle: relu1 -> relu1 "
            "(\"a -> b\": b reads a's output)");
}

TEST(ModelJson, AddShapeMismatchNamesBothInputs) {
  Json j = Tiny();
  j["layers"].push_back({{"name", "conv2"},
                         {"type", "conv2d"},
                         {"inputs", {"input"}},
                         {"out_channels", 4},
                         {"kernel", 3},
                         {"stride", 2},
                         {"padding", 1}});
  j["layers"].push_back({{"name", "sum"}, {"type", "add"}, {"inputs", {"relu1", "conv2"}}});
  j["layers"][2]["inputs"] = {"sum"};
  EXPECT_EQ(ErrorOf(j),
            "m.json: /layers/7: layer \"sum\" (add): inputs \"relu1\" (4x8x8) and "
            "\"conv2\" (4x4x4) have different shapes");
}

TEST(ModelJson, ConcatMismatchNamesBothInputs) {
  Json j = Tiny();
  j["layers"].push_back({{"name", "conv2"},
                         {"type", "conv2d"},
                         {"inputs", {"input"}},
                         {"out_channels", 2},
                         {"kernel", {3, 1}}});
  j["layers"].push_back({{"name", "cat"}, {"type", "concat"}, {"inputs", {"relu1", "conv2"}}});
  j["layers"][2]["inputs"] = {"cat"};
  EXPECT_EQ(ErrorOf(j),
            "m.json: /layers/7: layer \"cat\" (concat): inputs \"relu1\" (4x8x8) and "
            "\"conv2\" (2x6x8) differ in height or width; concat joins channels of "
            "equal HxW");
}

TEST(ModelJson, WrongTypes) {
  Json j = Tiny();
  j["layers"][0]["out_channels"] = "4";
  EXPECT_EQ(ErrorOf(j), "m.json: /layers/0/out_channels: expected an integer, found a string");
  Json k = Tiny();
  k["layers"][0]["kernel"] = {3, 3, 3};
  EXPECT_EQ(ErrorOf(k),
            "m.json: /layers/0/kernel: expected [height, width], found an array of 3 "
            "values");
  Json b = Tiny();
  b["layers"][0]["bias"] = 1;
  EXPECT_EQ(ErrorOf(b), "m.json: /layers/0/bias: expected true or false, found an integer");
  Json l = Tiny();
  l["layers"] = Json::object();
  EXPECT_EQ(ErrorOf(l), "m.json: /layers: expected an array, found an object");
}

TEST(ModelJson, FormatVersionAndNames) {
  Json f = Tiny();
  f["format"] = "onnx";
  EXPECT_EQ(ErrorOf(f), "m.json: /format: expected \"convscale-model\", found \"onnx\"");
  Json v = Tiny();
  v["version"] = 2;
  EXPECT_EQ(ErrorOf(v), "m.json: /version: unsupported version 2; this convscale reads version 1");
  Json d = Tiny();
  d["layers"][1]["name"] = "conv1";
  d["layers"][2]["inputs"] = {"conv1"};
  EXPECT_EQ(ErrorOf(d),
            "m.json: /layers/1/name: layer name \"conv1\" is used twice (first at /layers/0)");
  Json m = Tiny();
  m["layers"][0].erase("out_channels");
  EXPECT_EQ(ErrorOf(m), "m.json: /layers/0: missing required key \"out_channels\"");
}

TEST(ModelJson, TruncatedFileNamesFileLineAndColumn) {
  TempDir dir;
  std::string text = Tiny().dump(2);
  text = text.substr(0, text.find("\"relu1\""));
  const std::string path = dir.File("cut.json", text);
  try {
    LoadModel(path, 1);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), path +
                                         ": line 23, column 15: not valid JSON: syntax error "
                                         "while parsing value - unexpected end of input; "
                                         "expected '[', '{', or a literal");
  }
}

TEST(ModelJson, UnknownNameIsNotAFile) {
  try {
    LoadModel("densenet12", 1);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown model \"densenet12\"; did you mean \"densenet121\"? (not a zoo model and "
              "no such file; run \"convscale models\" for the list)");
  }
}

}  // namespace
}  // namespace convscale::graph

namespace convscale::graph {
namespace {

Network FakeReader(const std::string& path) {
  Network net("fake:" + path, {1, 4, 4}, 2);
  Builder b{net};
  b.ReLU("r", 0);
  return net;
}

TEST(ModelJson, RegisteredReaderTakesItsExtension) {
  TempDir dir;
  const std::string path = dir.File("m.FAKE", "not json");
  RegisterModelFileReader(".fake", FakeReader);
  const Network net = LoadModel(path, 3);
  EXPECT_EQ(net.name(), "fake:" + path);
  EXPECT_EQ(net.batch(), 3);
  // Other extensions are still read as JSON.
  const std::string json = dir.File("m.txt", "not json");
  EXPECT_THROW(LoadModel(json, 1), InputError);
}

}  // namespace
}  // namespace convscale::graph
