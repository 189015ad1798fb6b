// Small hand-made clusters for simulator tests (no topology loader needed):
//  - Star(n): n devices, each with its own split-duplex link to one switch.
//  - Tree(nodes, per_node): `per_node` devices per node, each with a link to the node's switch
//    (intra-node bandwidth), and one uplink per node switch to a core switch (network bandwidth).
// Routes go up to the lowest common switch and down again.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "topologies/cluster.h"

namespace convscale::sim::testing {

class FakeCluster : public topo::Cluster {
 public:
  // A device type computing `flops` FLOP/s (efficiency 1, no memory-bandwidth limit, no launch
  // overhead), so a task of F flops takes exactly F / flops seconds.
  static topo::DeviceType Device(double flops) {
    topo::DeviceType d;
    d.name = "fake";
    d.peak_flops = {flops, flops, flops, flops};
    d.efficiency = 1;
    d.kernel_overhead_s = 0;
    return d;
  }

  static std::unique_ptr<FakeCluster> Star(int n, double bw, double lat, double flops = 1e12) {
    auto c = std::make_unique<FakeCluster>();
    c->name_ = "star" + std::to_string(n);
    c->type_ = Device(flops);
    c->per_node_ = 1;
    for (int i = 0; i < n; ++i) c->AddDevice(i, 0);
    for (int i = 0; i < n; ++i) c->AddLink("host" + std::to_string(i), bw, lat, "nic", i, n);
    c->leaf_link_.assign(n, -1);
    return c;
  }

  static std::unique_ptr<FakeCluster> Tree(int nodes, int per_node, double intra_bw,
                                           double uplink_bw, double lat, double flops = 1e12) {
    auto c = std::make_unique<FakeCluster>();
    c->name_ = "tree" + std::to_string(nodes) + "x" + std::to_string(per_node);
    c->type_ = Device(flops);
    c->per_node_ = per_node;
    const int n = nodes * per_node;
    for (int i = 0; i < n; ++i) c->AddDevice(i / per_node, i % per_node);
    // Vertices: endpoints 0..n-1, node switches n..n+nodes-1, core n+nodes.
    for (int i = 0; i < n; ++i)
      c->AddLink("node" + std::to_string(i / per_node) + "/dev" + std::to_string(i % per_node),
                 intra_bw, lat, "intra", i, n + i / per_node);
    for (int k = 0; k < nodes; ++k)
      c->leaf_link_.push_back(c->AddLink("fabric/up" + std::to_string(k), uplink_bw, lat,
                                         "fabric-l1", n + k, n + nodes));
    return c;
  }

  const std::string& name() const override { return name_; }
  int num_devices() const override { return static_cast<int>(eps_.size()); }
  int num_nodes() const override { return num_devices() / per_node_; }
  int devices_per_node() const override { return per_node_; }
  int num_endpoints() const override { return num_devices(); }
  const topo::Endpoint& endpoint(int e) const override { return eps_.at(e); }
  int server(int) const override { return 0; }
  const std::vector<topo::Link>& links() const override { return links_; }
  const topo::Route& route(int a, int b) const override {
    auto it = routes_.find({a, b});
    if (it != routes_.end()) return it->second;
    topo::Route r;
    r.hops.push_back({a, true});  // device link i is link i
    const int na = eps_[a].node, nb = eps_[b].node;
    if (na != nb && !leaf_link_.empty() && leaf_link_[0] >= 0) {
      r.hops.push_back({leaf_link_[na], true});
      r.hops.push_back({leaf_link_[nb], false});
    }
    r.hops.push_back({b, false});
    r.bandwidth_Bps = 1e300;
    for (const auto& h : r.hops) {
      r.latency_s += links_[h.link].latency_s;
      r.bandwidth_Bps = std::min(r.bandwidth_Bps, links_[h.link].bandwidth_Bps);
    }
    return routes_.emplace(std::make_pair(a, b), r).first->second;
  }
  std::vector<int> Ring(const std::vector<int>& devices) const override { return devices; }
  double bisection_bandwidth_Bps() const override { return 0; }
  std::string description_json() const override { return "{}"; }

  void set_speed_factor(int e, double f) { eps_[e].speed_factor = f; }

 private:
  void AddDevice(int node, int local) {
    topo::Endpoint e;
    e.kind = topo::EndpointKind::kDevice;
    e.name = "node" + std::to_string(node) + "/dev" + std::to_string(local);
    e.node = node;
    e.local_index = local;
    e.type = &type_;
    eps_.push_back(e);
  }
  int AddLink(const std::string& name, double bw, double lat, const std::string& level, int up,
              int down) {
    topo::Link l;
    l.name = name;
    l.bandwidth_Bps = bw;
    l.latency_s = lat;
    l.level = level;
    l.up = up;
    l.down = down;
    links_.push_back(l);
    return static_cast<int>(links_.size()) - 1;
  }

  std::string name_;
  topo::DeviceType type_;
  int per_node_ = 1;
  std::vector<topo::Endpoint> eps_;
  std::vector<topo::Link> links_;
  std::vector<int> leaf_link_;
  mutable std::map<std::pair<int, int>, topo::Route> routes_;
};

}  // namespace convscale::sim::testing
