// A small, exact cluster for plan and cost tests: `nodes` nodes of `gpus` devices. Each device has
// one link to its node switch (`gpu_bw`, `gpu_lat`); each node has one NIC link to a single fabric
// switch (`nic_bw`, `nic_lat`). Endpoints: devices, then host CPUs (one per node, attached to the
// node switch by a `gpu_bw` link), then dedicated servers (one NIC link each to the fabric). The
// ring is device order.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "topologies/cluster.h"

namespace convscale::testing {

class FakeCluster : public topo::Cluster {
 public:
  FakeCluster(int nodes, int gpus, int servers = 0, double gpu_bw = 100e9, double nic_bw = 10e9,
              double gpu_lat = 1e-6, double nic_lat = 5e-6)
      : nodes_(nodes), gpus_(gpus), servers_(servers) {
    gpu_type_.name = "FakeGPU";
    // No tensor cores (fp16 only 2x fp32): plans default to fp32, the precision of the hand counts.
    gpu_type_.peak_flops = {10e12, 20e12, 20e12, 0};
    gpu_type_.memory_bytes = 16.0 * (1ull << 30);
    gpu_type_.memory_bandwidth_Bps = 1e12;
    gpu_type_.efficiency = 0.5;
    gpu_type_.kernel_overhead_s = 5e-6;
    cpu_type_.name = "FakeCPU";
    cpu_type_.kind = "cpu";
    cpu_type_.peak_flops = {1e12, 0, 0, 0};
    cpu_type_.memory_bytes = 256.0 * (1ull << 30);
    cpu_type_.memory_bandwidth_Bps = 100e9;
    cpu_type_.efficiency = 0.5;
    for (int n = 0; n < nodes; ++n)
      for (int g = 0; g < gpus; ++g) {
        topo::Endpoint e;
        e.kind = topo::EndpointKind::kDevice;
        e.name = "node" + std::to_string(n) + "/gpu" + std::to_string(g);
        e.node = n;
        e.local_index = g;
        e.type = &gpu_type_;
        endpoints_.push_back(e);
        links_.push_back({e.name + "/link", gpu_bw, gpu_lat, "nvlink", false});
      }
    for (int n = 0; n < nodes; ++n) {
      topo::Endpoint e;
      e.kind = topo::EndpointKind::kHostCpu;
      e.name = "node" + std::to_string(n) + "/cpu";
      e.node = n;
      e.type = &cpu_type_;
      endpoints_.push_back(e);
      links_.push_back({e.name + "/link", gpu_bw, gpu_lat, "pcie", false});
    }
    for (int n = 0; n < nodes; ++n)
      links_.push_back({"node" + std::to_string(n) + "/nic", nic_bw, nic_lat, "nic", false});
    for (int s = 0; s < servers; ++s) {
      topo::Endpoint e;
      e.kind = topo::EndpointKind::kServer;
      e.name = "server" + std::to_string(s);
      e.type = &cpu_type_;
      endpoints_.push_back(e);
      links_.push_back({e.name + "/nic", nic_bw, nic_lat, "nic", false});
    }
  }

  const std::string& name() const override { return name_; }
  int num_devices() const override { return nodes_ * gpus_; }
  int num_nodes() const override { return nodes_; }
  int devices_per_node() const override { return gpus_; }
  int num_endpoints() const override { return static_cast<int>(endpoints_.size()); }
  const topo::Endpoint& endpoint(int e) const override { return endpoints_.at(e); }
  int server(int i) const override { return num_devices() + nodes_ + i; }
  const std::vector<topo::Link>& links() const override { return links_; }
  topo::Endpoint& mutable_endpoint(int e) { return endpoints_.at(e); }
  topo::DeviceType& gpu_type() { return gpu_type_; }

  const topo::Route& route(int from, int to) const override {
    auto key = std::make_pair(from, to);
    auto it = routes_.find(key);
    if (it != routes_.end()) return it->second;
    topo::Route r;
    // Up from `from`, across the fabric if needed, down to `to`.
    const int nf = endpoints_[from].node, nt = endpoints_[to].node;
    auto access = [&](int e) { return e < num_devices() + nodes_ ? e : nic_link(e); };
    const bool server_from = endpoints_[from].kind == topo::EndpointKind::kServer;
    const bool server_to = endpoints_[to].kind == topo::EndpointKind::kServer;
    r.hops.push_back({access(from), true});
    if (nf != nt || server_from || server_to) {
      if (!server_from) r.hops.push_back({num_devices() + nodes_ + nf, true});
      if (!server_to) r.hops.push_back({num_devices() + nodes_ + nt, false});
    }
    r.hops.push_back({access(to), false});
    r.latency_s = 0;
    r.bandwidth_Bps = 1e300;
    for (const auto& h : r.hops) {
      r.latency_s += links_[h.link].latency_s;
      r.bandwidth_Bps = std::min(r.bandwidth_Bps, links_[h.link].bandwidth_Bps);
    }
    return routes_.emplace(key, r).first->second;
  }
  std::vector<int> Ring(const std::vector<int>& devices) const override { return devices; }
  double bisection_bandwidth_Bps() const override {
    return nodes_ / 2 * links_.back().bandwidth_Bps;
  }
  std::string description_json() const override { return "{\"name\":\"fake\"}"; }

 private:
  // Link index of a dedicated server's NIC.
  int nic_link(int e) const { return num_devices() + 2 * nodes_ + (e - server(0)); }
  std::string name_ = "fake";
  int nodes_, gpus_, servers_;
  topo::DeviceType gpu_type_, cpu_type_;
  std::vector<topo::Endpoint> endpoints_;
  std::vector<topo::Link> links_;
  mutable std::map<std::pair<int, int>, topo::Route> routes_;
};

}  // namespace convscale::testing
