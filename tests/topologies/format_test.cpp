// Bad cluster descriptions: each a located InputError with an exact message.
#include <gtest/gtest.h>

#include "model/util/error.h"
#include "tests/topologies/topo_test_util.h"

namespace convscale::topo {
namespace {

using testing::LoadJson;
using testing::SmallCluster;
using testing::WriteTemp;

Json Base() {
  return SmallCluster(Json{{"type", "switch"}}, 2);
}

// Loads `j` from a file named cluster.json and returns the message it fails with.
std::string ErrorOf(const Json& j, const ClusterOptions& o = {}) {
  try {
    LoadJson(j, o);
  } catch (const InputError& e) {
    std::string m = e.what();
    const std::string path = WriteTemp("cluster.json", "");
    if (m.rfind(path, 0) == 0) m = "cluster.json" + m.substr(path.size());
    return m;
  }
  return "(no error)";
}

TEST(Format, BaseLoads) {
  EXPECT_EQ(LoadJson(Base())->num_devices(), 2);
}

TEST(Format, UnknownKeyDidYouMean) {
  Json j = Base();
  j["nodess"] = 3;
  EXPECT_EQ(ErrorOf(j), "cluster.json: /nodess: unknown key \"nodess\"; did you mean \"nodes\"?");
  j = Base();
  j["node_types"]["n"]["nics"]["bandwith"] = "1Gbps";
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/nics/bandwith: unknown key \"bandwith\"; did you mean "
            "\"bandwidth\"?");
}

TEST(Format, BadUnit) {
  Json j = Base();
  j["node_types"]["n"]["nics"]["bandwidth"] = "100Gbs";
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/nics/bandwidth: \"100Gbs\" is not a bandwidth (unit "
            "\"Gbs\" unknown, for example \"100Gbps\" or \"12.5GBps\"); did you mean \"100Gbps\"?");
  j = Base();
  j["node_types"]["n"]["host"]["latency"] = 5;
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/host/latency: expected a string with a unit (for example "
            "\"100Gbps\"), found an integer 5");
}

TEST(Format, ZeroAndNegativeBandwidth) {
  Json j = Base();
  j["node_types"]["n"]["nics"]["bandwidth"] = "0Gbps";
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/nics/bandwidth: \"0Gbps\" must be greater than zero");
  j["node_types"]["n"]["nics"]["bandwidth"] = "-5Gbps";
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/nics/bandwidth: \"-5Gbps\" is negative; a bandwidth "
            "must be >= 0");
  j = Base();
  j["fabric"] = Json::parse(R"({"type": "fat-tree", "levels": [
      {"down": 4, "up": 2, "bandwidth": "0Gbps", "latency": "1us"}, {"down": 4}]})");
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /fabric/levels/0/bandwidth: \"0Gbps\" must be greater than zero");
}

TEST(Format, DeviceCountDoesNotFit) {
  Json j = Base();
  j["node_types"]["n"]["devices"] = 4;
  j["node_types"]["n"]["nvlink"] =
      Json::parse(R"({"bandwidth": "25GBps", "latency": "1us", "edges": [[0, 1], [1, 4]]})");
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/nvlink/edges/1/1: device 4 does not exist: node type "
            "\"n\" has 4 devices");
  j["node_types"]["n"]["nvlink"].erase("edges");
  j["node_types"]["n"]["nvlink"]["topology"] = "dgx1-hybrid-cube-mesh";
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/nvlink/topology: \"dgx1-hybrid-cube-mesh\" joins 8 "
            "devices; node type \"n\" has 4");
  ClusterOptions o;
  o.gpus = 20;
  o.nodes = 2;
  EXPECT_EQ(ErrorOf(Base(), o),
            "cluster.json: 20 devices do not fit 2 nodes of node type \"n\" (1 devices per "
            "node): give between 2 and 2 devices");
}

TEST(Format, DisconnectedGraph) {
  Json j = Base();
  j["node_types"]["n"]["nics"]["count"] = 0;
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n: the cluster graph is disconnected: node1/gpu0 cannot "
            "reach node0/gpu0 (node type \"n\" has no NICs)");
}

TEST(Format, RouteThroughMissingSwitch) {
  Json j = Base();
  j["node_types"]["n"]["pcie"] = Json::parse(R"({"bandwidth": "16GBps", "latency": "1us",
      "roots": ["cpu0"], "switches": [{"name": "sw0", "parent": "cpu0", "devices": [0]},
                                      {"name": "sw1", "parent": "sw9", "nics": [0]}]})");
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/pcie/switches/1/parent: no PCIe switch or root named "
            "\"sw9\"; did you mean \"sw0\"?");
  j["node_types"]["n"]["pcie"]["switches"][1]["parent"] = "sw1";
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /node_types/n/pcie/switches/1/parent: PCIe switches form a cycle: "
            "sw1 -> sw1");
}

TEST(Format, UnknownFabricType) {
  Json j = Base();
  j["fabric"] = Json{{"type", "fat_tree"}};
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /fabric/type: unknown fabric type \"fat_tree\" (switch, fat-tree, "
            "torus or dragonfly); did you mean \"fat-tree\"?");
}

TEST(Format, TorusTooSmall) {
  Json j = SmallCluster(Json::parse(R"({"type": "torus", "dims": [2, 2], "bandwidth": "1Gbps",
                                        "latency": "1us"})"),
                        5);
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /fabric: the torus 2x2 with 1 terminals per router holds 4 "
            "terminals; this cluster needs 5");
}

TEST(Format, VersionAndFormat) {
  Json j = Base();
  j["version"] = 2;
  EXPECT_EQ(ErrorOf(j),
            "cluster.json: /version: unsupported version 2 (this convscale reads version 1)");
}

TEST(Format, UnknownBuiltin) {
  try {
    LoadCluster("dgx1-v10", {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "\"dgx1-v10\" is neither a built-in cluster nor a file; did you mean "
                 "\"dgx1-v100\"? (run \"convscale clusters\" for the list)");
  }
}

TEST(Format, DescriptionRoundTrip) {
  ClusterOptions o;
  o.gpus = 12;
  auto c = LoadCluster("dgx-a100-hdr200", o);
  const Json d = Json::parse(c->description_json());
  EXPECT_EQ(d["gpus"], 12);
  EXPECT_EQ(d["nodes"], 2);
  auto again = LoadJson(d);
  EXPECT_EQ(again->num_devices(), 12);
  EXPECT_EQ(again->links().size(), c->links().size());
}

}  // namespace
}  // namespace convscale::topo
