// The topology graph behind ClusterImpl: vertices and links, the per-node-type template with its
// precomputed intra-node routes, and the inter-node fabrics with their structured routes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "topologies/cluster.h"
#include "topologies/spec.h"

namespace convscale::topo::detail {

// Vertices and links of a (sub)graph under construction.
struct GraphData {
  std::vector<std::string> vertex_names;
  std::vector<Link> links;
  int AddVertex(std::string name) {
    vertex_names.push_back(std::move(name));
    return static_cast<int>(vertex_names.size()) - 1;
  }
  int AddLink(std::string name, int up, int down, const LinkSpec& s, std::string level,
              bool shared = false) {
    Link l;
    l.name = std::move(name);
    l.up = up;
    l.down = down;
    l.bandwidth_Bps = s.bandwidth_Bps;
    l.latency_s = s.latency_s;
    l.level = std::move(level);
    l.shared = shared;
    links.push_back(std::move(l));
    return static_cast<int>(links.size()) - 1;
  }
};

// One node as a small graph with local vertex ids: devices 0..devices-1, the host CPU
// (= devices), then switches, roots and NICs. Link names and vertex names lack the "nodeI/"
// prefix. Intra-node routes never pass through an endpoint (a GPU does not forward traffic).
struct NodeTemplate {
  int devices = 0;
  GraphData graph;
  std::vector<int> nic_vertex;                        // local vertex of NIC k
  std::vector<std::vector<std::vector<Hop>>> pair;    // [a][b]: route between endpoints
  std::vector<std::vector<std::vector<Hop>>> to_nic;  // [a][k]: endpoint a -> NIC k
  std::vector<std::vector<int>> nearest_nics;         // [a]: NICs at the least cost from a
  std::vector<std::vector<int>> nvlink_neighbours;    // [device]: NVLink peers (sorted)
  int num_endpoints() const { return devices + 1; }
};

// Builds the template for `devices` present devices (fewer than the node type holds for a
// partly filled last node); devices are named dev + index ("gpu3"). Throws InputError for a PCIe
// tree naming a missing switch or forming a cycle, and for a disconnected node.
NodeTemplate BuildNodeTemplate(const NodeTypeSpec& t, int devices, const std::string& dev,
                               const std::string& file);

// The network between nodes. Terminals (NICs of nodes, then dedicated servers) are numbered
// 0..T-1; Build adds the terminal links and the fabric's switches and links to `g`.
class Fabric {
 public:
  virtual ~Fabric() = default;
  // Appends the hops from terminal `s` to terminal `d` (s != d), terminal links included.
  virtual void Route(int s, int d, std::vector<Hop>& out) const = 0;
  // One line, e.g. "fat-tree, 2 levels: 20 down/20 up, 3 spines".
  virtual std::string Summary() const = 0;
  // Bandwidth across the cut splitting the terminals into halves, when a closed form holds for
  // this size (every router or leaf filled), counting only switch-to-switch links; +inf for a
  // non-blocking switch; nullopt when no closed form applies.
  virtual std::optional<double> ClosedFormSwitchBisection() const = 0;
};

std::unique_ptr<Fabric> BuildFabric(const FabricSpec& spec, const std::vector<int>& terminals,
                                    const LinkSpec& terminal_link, GraphData& g,
                                    const std::string& file);

}  // namespace convscale::topo::detail

namespace convscale::topo::detail {

// Max-flow (bytes/s) from the vertices `sources` to the vertices `sinks` over `links`, each
// carrying its bandwidth in each direction. Vertices with blocked[v] set carry no flow.
double MaxFlow(int num_vertices, const std::vector<Link>& links, const std::vector<char>& blocked,
               const std::vector<int>& sources, const std::vector<int>& sinks);

}  // namespace convscale::topo::detail
