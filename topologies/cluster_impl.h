// ClusterImpl: the Cluster built from a description (private to topologies/).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "topologies/analysis.h"
#include "topologies/graph.h"

namespace convscale::topo::detail {

class ClusterImpl : public Cluster {
 public:
  ClusterImpl(ClusterSpec spec, const ClusterOptions& opts);

  const std::string& name() const override { return spec_.name; }
  int num_devices() const override { return num_devices_; }
  int num_nodes() const override { return num_nodes_; }
  int devices_per_node() const override { return node_type_->devices; }
  int num_endpoints() const override { return static_cast<int>(endpoints_.size()); }
  const Endpoint& endpoint(int e) const override;
  int server(int i) const override;
  const std::vector<Link>& links() const override { return graph_.links; }
  const Route& route(int from, int to) const override;
  std::vector<int> Ring(const std::vector<int>& devices) const override;
  double bisection_bandwidth_Bps() const override;
  std::string description_json() const override;
  int num_vertices() const override { return static_cast<int>(graph_.vertex_names.size()); }
  std::string vertex_name(int v) const override;
  int diameter() const override { return Summary().diameter; }
  double host_flops(int node) const override { return node_type_->host_flops; }
  double host_memory_bytes(int node) const override { return node_type_->host_memory_bytes; }
  double price_per_device_hour() const override { return spec_.price_per_device_hour; }

  Route ComputeRoute(int from, int to) const;
  const ClusterSummary& Summary() const;
  const ClusterSpec& spec() const { return spec_; }
  const Fabric& fabric() const { return *fabric_; }
  // Max-flow from the devices in `side` to all other devices, over the whole graph.
  double CutBetween(const std::vector<int>& side) const;

 private:
  struct Place {
    int node = -1;      // -1 for a server
    int local = 0;      // local endpoint index in the node template
    int terminal = -1;  // servers only
  };
  Place Locate(int e) const;
  int GlobalVertex(int node, int local_vertex) const;
  void AppendLocal(int node, const std::vector<Hop>& local, bool reverse,
                   std::vector<Hop>& out) const;
  double ComputeBisection() const;
  ClusterSummary ComputeSummary() const;

  ClusterSpec spec_;
  const NodeTypeSpec* node_type_ = nullptr;
  DeviceType host_type_;
  int num_devices_ = 0, num_nodes_ = 0, num_servers_ = 0;
  std::vector<Endpoint> endpoints_;
  std::unique_ptr<NodeTemplate> full_, partial_;
  std::vector<const NodeTemplate*> tmpl_;  // per node
  std::vector<int> first_device_, vertex_base_, link_base_;
  GraphData graph_;
  std::unique_ptr<Fabric> fabric_;

  mutable std::mutex mu_;
  mutable std::unordered_map<int64_t, std::unique_ptr<Route>> routes_;
  mutable std::optional<double> bisection_;
  mutable std::unique_ptr<ClusterSummary> summary_;
};

}  // namespace convscale::topo::detail
