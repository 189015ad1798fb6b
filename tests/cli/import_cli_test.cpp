// `convscale model import FILE.onnx -o FILE.json` and `model show FILE.onnx`, run as the built
// binary on ONNX files written in the test from zoo models (no downloaded files).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../common/cli_run.h"
#include "model/graph/zoo.h"

#ifdef CONVSCALE_HAVE_ONNX
#include "model/onnx/onnx_import.h"
#endif

namespace convscale::testing {
namespace {

using nlohmann::json;

#ifdef CONVSCALE_HAVE_ONNX

class ImportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / "import_cli";
    std::filesystem::create_directories(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  static json ShowJson(const std::string& model) {
    const CliRun r = Convscale("model show '" + model + "' --json 2>&1");
    EXPECT_EQ(r.code, 0) << r.out;
    return r.code == 0 ? json::parse(r.out) : json();
  }
  std::filesystem::path dir_;
};

// The imported JSON model has the zoo model's exact parameter count and MACs, and `model show`
// reads the .onnx file directly with the same result.
TEST_F(ImportCli, ImportedModelsMatchTheZoo) {
  for (const char* name : {"resnet18", "mobilenet_v2", "fashion_cnn"}) {
    const std::string onnx = Path(std::string(name) + ".onnx");
    const std::string out = Path(std::string(name) + ".json");
    graph::ExportOnnx(graph::BuildZooModel(name), onnx);
    const CliRun r = Convscale("model import '" + onnx + "' -o '" + out + "' 2>&1");
    ASSERT_EQ(r.code, 0) << r.out;
    const json zoo = ShowJson(name), imported = ShowJson(out), direct = ShowJson(onnx);
    ASSERT_TRUE(zoo.contains("params") && zoo.contains("macs_forward")) << name;
    for (const json* j : {&imported, &direct}) {
      EXPECT_EQ((*j)["params"], zoo["params"]) << name;
      EXPECT_EQ((*j)["macs_forward"], zoo["macs_forward"]) << name;
      EXPECT_EQ((*j)["flops_backward"], zoo["flops_backward"]) << name;
    }
  }
}

TEST_F(ImportCli, ImportRefusesNonOnnxFiles) {
  const CliRun r = Convscale("model import resnet18 -o '" + Path("x.json") + "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out,
            "convscale: resnet18: \"model import\" reads ONNX files (.onnx); for a zoo "
            "name or a JSON model use \"model export\"\n");
  EXPECT_FALSE(std::filesystem::exists(Path("x.json")));
}

// An operator convscale does not map is named with its node, exit 2, and nothing is written.
TEST_F(ImportCli, UnsupportedOperatorIsNamedAndNothingIsWritten) {
  std::string bytes = graph::ExportOnnxBytes(graph::BuildZooModel("fashion_cnn"));
  // Same length, so the protobuf stays well formed: every Relu becomes a Selu.
  size_t relus = 0;
  for (size_t at = bytes.find("Relu"); at != std::string::npos; at = bytes.find("Relu", at)) {
    bytes.replace(at, 4, "Selu");
    ++relus;
  }
  ASSERT_GT(relus, 0u);
  const std::string onnx = Path("selu.onnx"), out = Path("selu.json");
  std::ofstream(onnx, std::ios::binary) << bytes;
  const CliRun r = Convscale("model import '" + onnx + "' -o '" + out + "' 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(onnx + ": node "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("operator \"Selu\" is not supported; supported: Add, AveragePool"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(ImportCli, MissingFileIsNamed) {
  const CliRun r = Convscale("model import '" + Path("absent.onnx") + "' -o - 2>&1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(Path("absent.onnx")), std::string::npos) << r.out;
}

#else

TEST(ImportCli, Skipped) {
  GTEST_SKIP() << "convscale was built without ONNX support (libonnx-dev, libprotobuf-dev)";
}

#endif

}  // namespace
}  // namespace convscale::testing
