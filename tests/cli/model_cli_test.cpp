// `convscale models`, `model show`, `model export`, run as the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "../common/cli_run.h"

namespace {

namespace fs = std::filesystem;

using Result = convscale::testing::CliRun;

// Runs the binary with `args` (a shell-quoted string), capturing both streams.
Result Convscale(const std::string& args) {
  return convscale::testing::Convscale(args + " 2>&1");
}

// Runs with stdout only (for JSON output).
Result ConvscaleStdout(const std::string& args) {
  return Convscale(args + " 2>/dev/null");
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("convscale_model_cli_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

TEST(ModelCli, ModelsListsTheZoo) {
  const Result r = Convscale("models");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* name :
       {"alexnet", "vgg11", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101",
        "resnet152", "inception_v3", "mobilenet_v2", "densenet121", "fashion_cnn"})
    EXPECT_NE(r.out.find(std::string("\n") + name + " "), std::string::npos) << name;
  EXPECT_NE(r.out.find("GFLOPs(MACs)"), std::string::npos);
  EXPECT_NE(r.out.find("G = 1e9"), std::string::npos);
  EXPECT_NE(r.out.find("25557032"), std::string::npos);
}

TEST(ModelCli, ModelsJson) {
  const Result r = ConvscaleStdout("models --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["models"].size(), 13u);
  EXPECT_EQ(j["models"][0]["name"], "alexnet");
  EXPECT_EQ(j["models"][0]["params"], 61100840);
  EXPECT_EQ(j["models"][0]["input_shape"], nlohmann::json::array({3, 224, 224}));
}

TEST(ModelCli, ShowResNet50Json) {
  const Result r = ConvscaleStdout("model show resnet50 --json --batch 4");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["name"], "resnet50");
  EXPECT_EQ(j["params"], 25557032);
  EXPECT_EQ(j["batch"], 4);
  EXPECT_EQ(j["input_shape"], nlohmann::json::array({3, 224, 224}));
  const double macs = j["macs_forward"].get<double>();
  EXPECT_NEAR(macs / 4 / 1e9, 4.09, 0.0409);
  EXPECT_GT(j["flops_forward"].get<double>(), 2 * macs);
  EXPECT_GT(j["flops_backward"].get<double>(), j["flops_forward"].get<double>());
  ASSERT_EQ(j["layers"].size(), 177u);
  EXPECT_EQ(j["layers"][1]["name"], "conv1");
  EXPECT_EQ(j["layers"][1]["type"], "conv2d");
  EXPECT_EQ(j["layers"][1]["output_shape"], nlohmann::json::array({64, 112, 112}));
  EXPECT_EQ(j["layers"][1]["params"], 9408);
  EXPECT_TRUE(j["layers"][1].contains("flops_forward"));
}

TEST(ModelCli, ShowTable) {
  const Result r = Convscale("model show fashion_cnn");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("conv2    conv2d    64x14x14   18496"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters       421642"), std::string::npos) << r.out;
}

TEST(ModelCli, UnknownModelExitsTwoWithSuggestion) {
  const Result r = Convscale("model show resnet5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown model \"resnet5\"; did you mean \"resnet50\"?"), std::string::npos)
      << r.out;
  const Result e =
      Convscale("model export vggg16 -o '" + ::testing::TempDir() + "/model_cli_vggg16.json'");
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.out.find("did you mean \"vgg16\"?"), std::string::npos) << e.out;
}

TEST(ModelCli, ExportShowRoundTrip) {
  TempDir dir;
  const std::string file = dir.Path("densenet121.json");
  const Result e = Convscale("model export densenet121 -o '" + file + "'");
  ASSERT_EQ(e.code, 0) << e.out;
  ASSERT_TRUE(fs::exists(file));
  const Result zoo = ConvscaleStdout("model show densenet121 --batch 2 --json");
  const Result back = ConvscaleStdout("model show '" + file + "' --batch 2 --json");
  ASSERT_EQ(back.code, 0) << back.out;
  auto a = nlohmann::json::parse(zoo.out);
  auto b = nlohmann::json::parse(back.out);
  for (const char* key : {"name", "params", "macs_forward", "flops_forward", "flops_backward",
                          "saved_bytes", "input_shape", "batch", "layers"})
    EXPECT_EQ(a[key], b[key]) << key;
  EXPECT_EQ(b["source"], file);
  // Exporting the file again gives the same bytes.
  const std::string again = dir.Path("again.json");
  ASSERT_EQ(Convscale("model export '" + file + "' -o '" + again + "'").code, 0);
  EXPECT_EQ(ReadText(again), ReadText(file));
}

TEST(ModelCli, BadModelFileExitsTwoWithLocation) {
  TempDir dir;
  const std::string file = dir.Path("bad.json");
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs(R"({"format": "convscale-model", "version": 1, "name": "bad",
  "input": {"channels": 1, "height": 4, "width": 4}, "num_classes": 2,
  "layers": [{"name": "fc", "type": "lineer", "inputs": ["input"], "out_features": 2}]})",
        f);
  fclose(f);
  const Result r = Convscale("model show '" + file + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(file + ": /layers/0/type: unknown layer type \"lineer\"; did you mean "
                              "\"linear\"?"),
            std::string::npos)
      << r.out;
}

}  // namespace
