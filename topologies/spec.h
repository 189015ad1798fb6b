// The parsed form of a cluster description (topologies/README.md), before the graph is built.
// Every field is checked and in SI units; `pointer` fields remember where a value came from so
// later checks (a device index out of range, a missing PCIe switch) can still name the place.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/util/json.h"
#include "topologies/cluster.h"

namespace convscale::topo::detail {

struct LinkSpec {
  double bandwidth_Bps = 0;
  double latency_s = 0;
};

struct PcieSwitchSpec {
  std::string name;
  std::string parent;  // a root or another switch
  std::vector<int> devices;
  std::vector<int> nics;
  std::string pointer;  // JSON pointer of this switch object
};

struct NodeTypeSpec {
  std::string name;
  std::string pointer;  // "/node_types/NAME"
  std::string device_type;
  int devices = 0;
  double host_flops = 0;
  double host_memory_bytes = 0;
  LinkSpec host_link;  // host CPU <-> each PCIe root (or device <-> host without a PCIe tree)
  // NVLink point-to-point: (a, b, links) with `links` parallel links aggregated into one.
  bool has_nvlink = false;
  LinkSpec nvlink;  // per single link
  std::vector<std::array<int, 3>> nvlink_edges;
  std::string nvlink_pointer;
  bool has_nvswitch = false;
  LinkSpec nvswitch;  // per device
  bool has_pcie = false;
  LinkSpec pcie;
  bool pcie_shared = false;
  std::vector<std::string> pcie_roots;  // at least one
  LinkSpec root_link;                   // between roots (QPI/UPI/xGMI)
  std::vector<PcieSwitchSpec> pcie_switches;
  std::string pcie_pointer;
  int nics = 0;
  LinkSpec nic;  // NIC <-> first fabric switch
};

struct FatTreeLevel {
  int down = 0;  // children per switch
  int up = 0;    // parents per switch (0 at the top level)
  LinkSpec uplink;
};

struct FabricSpec {
  std::string type = "switch";  // switch, fat-tree, torus, dragonfly
  std::string pointer = "/fabric";
  std::vector<FatTreeLevel> levels;  // fat-tree
  std::vector<int> dims;             // torus
  int terminals_per_router = 1;      // torus, dragonfly
  LinkSpec link;                     // torus links
  int routers_per_group = 0;         // dragonfly
  int global_links_per_router = 0;
  LinkSpec local;
  LinkSpec global;
};

struct NodeOverride {
  int node = 0;
  double speed_factor = 1;
  std::string device_type;  // "" = keep
};

struct ClusterSpec {
  std::string file;  // for messages
  std::string name;
  std::string description;
  std::map<std::string, DeviceType> device_types;
  std::map<std::string, NodeTypeSpec> node_types;
  std::string node_type;
  int nodes = 1;
  int gpus = 0;  // 0 = fill all nodes
  std::vector<NodeOverride> overrides;
  FabricSpec fabric;
  double price_per_device_hour = 0;
  Json source;  // the JSON it came from
};

// Parses and checks a description; `file` names it in messages.
ClusterSpec ParseClusterSpec(const Json& j, const std::string& file);

// The 16 NVLink edges of DGX-1's hybrid cube-mesh (P100: one link per edge) and DGX-1V's
// (V100: 6 links per GPU, some edges doubled).
const std::vector<std::array<int, 3>>& HybridCubeMesh(bool volta);

}  // namespace convscale::topo::detail
