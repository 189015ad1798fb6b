// ClusterImpl: builds the topology graph from a description and answers routes, rings,
// bisection and the summary. LoadCluster finds built-ins by name and files by path.
//
// Layout of the graph: vertex e is endpoint e (devices node by node, then host CPUs, then
// servers); then each node's switches, roots and NICs (node by node); then the fabric. Links:
// each node's links (node by node, in template order), then the fabric's terminal links and
// switch links. Routes inside a node come from the node template; routes between nodes are
// endpoint -> nearest NIC -> fabric route -> NIC -> endpoint, computed on first use and cached.
#include "topologies/cluster_impl.h"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/connected_components.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>

#include "model/util/error.h"
#include "topologies/builtin.h"

namespace convscale::topo {
namespace detail {
namespace {

// The most compute devices a cluster may have (2^20): every index stays an int, and a larger
// description is a located InputError rather than an overflow (topologies/README.md, limits).
constexpr int64_t kMaxClusterDevices = int64_t{1} << 20;

}  // namespace

ClusterImpl::ClusterImpl(ClusterSpec spec, const ClusterOptions& opts) : spec_(std::move(spec)) {
  node_type_ = &spec_.node_types.at(spec_.node_type);
  const int dpn = node_type_->devices;
  const std::string where = spec_.file;

  // How many nodes and devices (in 64 bits: a file may ask for 2^20 nodes of 4096 devices).
  int64_t gpus = opts.gpus > 0 ? opts.gpus : spec_.gpus;
  int64_t nodes = 0;
  if (opts.nodes > 0) {
    nodes = opts.nodes;
    if (opts.gpus <= 0) gpus = nodes * dpn;
  } else if (opts.gpus > 0) {
    nodes = (gpus + dpn - 1) / dpn;
  } else {
    nodes = spec_.nodes;
    if (gpus <= 0) gpus = nodes * dpn;
  }
  if (gpus > nodes * dpn || gpus <= (nodes - 1) * dpn) {
    throw InputError(where + ": " + std::to_string(gpus) + " devices do not fit " +
                     std::to_string(nodes) + (nodes == 1 ? " node" : " nodes") +
                     " of node type \"" + node_type_->name + "\" (" + std::to_string(dpn) +
                     " devices per node): give between " + std::to_string((nodes - 1) * dpn + 1) +
                     " and " + std::to_string(nodes * dpn) + " devices");
  }
  if (gpus > kMaxClusterDevices)
    throw InputError(where + ": " + std::to_string(gpus) + " devices (" + std::to_string(nodes) +
                     (nodes == 1 ? " node" : " nodes") + " of " + std::to_string(dpn) +
                     ") are more than a cluster may have (" + std::to_string(kMaxClusterDevices) +
                     " devices)");
  num_nodes_ = static_cast<int>(nodes);
  num_devices_ = static_cast<int>(gpus);
  if (opts.server_hosts > kMaxClusterDevices)
    throw InputError(where + ": " + std::to_string(opts.server_hosts) +
                     " dedicated server hosts (--servers) are more than a cluster may have (" +
                     std::to_string(kMaxClusterDevices) + ")");
  num_servers_ = opts.server_hosts;
  if (num_servers_ > 0 && node_type_->nics == 0)
    throw InputError(where, node_type_->pointer,
                     "dedicated server hosts attach to the fabric through the node type's NIC, "
                     "but node type \"" +
                         node_type_->name + "\" has no NICs");

  // Templates: full nodes, and a partly filled last node.
  const DeviceType& dtype = spec_.device_types.at(node_type_->device_type);
  const std::string dev = dtype.kind == "cpu" ? "socket" : "gpu";
  full_ = std::make_unique<NodeTemplate>(BuildNodeTemplate(*node_type_, dpn, dev, where));
  const int last = num_devices_ - (num_nodes_ - 1) * dpn;
  if (last != dpn)
    partial_ = std::make_unique<NodeTemplate>(BuildNodeTemplate(*node_type_, last, dev, where));
  for (int i = 0; i < num_nodes_; ++i)
    tmpl_.push_back(i + 1 == num_nodes_ && partial_ ? partial_.get() : full_.get());

  // Endpoints.
  host_type_.name = node_type_->name + " host";
  host_type_.kind = "cpu";
  host_type_.peak_flops = {node_type_->host_flops, 0, 0, 0};
  host_type_.memory_bytes = node_type_->host_memory_bytes;
  std::vector<double> speed(num_nodes_, 1.0);
  std::vector<const DeviceType*> type(num_nodes_, &dtype);
  for (const auto& o : spec_.overrides) {
    if (o.node >= num_nodes_) continue;
    speed[o.node] = o.speed_factor;
    if (!o.device_type.empty()) type[o.node] = &spec_.device_types.at(o.device_type);
  }
  for (int i = 0; i < num_nodes_; ++i) {
    first_device_.push_back(static_cast<int>(endpoints_.size()));
    for (int d = 0; d < tmpl_[i]->devices; ++d) {
      Endpoint e;
      e.kind = EndpointKind::kDevice;
      e.name = "node" + std::to_string(i) + "/" + tmpl_[i]->graph.vertex_names[d];
      e.node = i;
      e.local_index = d;
      e.type = type[i];
      e.speed_factor = speed[i];
      endpoints_.push_back(e);
    }
  }
  for (int i = 0; i < num_nodes_; ++i) {
    Endpoint e;
    e.kind = EndpointKind::kHostCpu;
    e.name = "node" + std::to_string(i) + "/cpu";
    e.node = i;
    e.local_index = 0;
    e.type = &host_type_;
    endpoints_.push_back(e);
  }
  for (int i = 0; i < num_servers_; ++i) {
    Endpoint e;
    e.kind = EndpointKind::kServer;
    e.name = "server" + std::to_string(i);
    e.type = &host_type_;
    endpoints_.push_back(e);
  }
  for (const auto& e : endpoints_) graph_.vertex_names.push_back(e.name);

  // Node-internal vertices and links.
  for (int i = 0; i < num_nodes_; ++i) {
    const NodeTemplate& t = *tmpl_[i];
    const std::string prefix = "node" + std::to_string(i) + "/";
    vertex_base_.push_back(static_cast<int>(graph_.vertex_names.size()));
    for (size_t v = t.num_endpoints(); v < t.graph.vertex_names.size(); ++v)
      graph_.vertex_names.push_back(prefix + t.graph.vertex_names[v]);
  }
  for (int i = 0; i < num_nodes_; ++i) {
    const NodeTemplate& t = *tmpl_[i];
    const std::string prefix = "node" + std::to_string(i) + "/";
    link_base_.push_back(static_cast<int>(graph_.links.size()));
    for (const Link& l : t.graph.links) {
      Link g = l;
      g.name = prefix + l.name;
      g.up = GlobalVertex(i, l.up);
      g.down = GlobalVertex(i, l.down);
      graph_.links.push_back(std::move(g));
    }
  }

  // Fabric: terminals are the NICs node by node, then the servers.
  std::vector<int> terminals;
  for (int i = 0; i < num_nodes_; ++i)
    for (int k = 0; k < node_type_->nics; ++k)
      terminals.push_back(GlobalVertex(i, tmpl_[i]->nic_vertex[k]));
  for (int s = 0; s < num_servers_; ++s) terminals.push_back(server(s));
  fabric_ = BuildFabric(spec_.fabric, terminals, node_type_->nic, graph_, where);

  // The whole graph must be connected (Boost.Graph connected components).
  {
    boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS> g(num_vertices());
    for (const Link& l : graph_.links) boost::add_edge(l.up, l.down, g);
    std::vector<int> comp(num_vertices());
    if (boost::connected_components(g, comp.data()) > 1) {
      int far = 0;
      while (far < num_endpoints() && comp[far] == comp[0]) ++far;
      if (far < num_endpoints()) {
        const std::string what = "the cluster graph is disconnected: " + endpoints_[far].name +
                                 " cannot reach " + endpoints_[0].name;
        if (node_type_->nics == 0)
          throw InputError(where, node_type_->pointer,
                           what + " (node type \"" + node_type_->name + "\" has no NICs)");
        throw InputError(where + ": " + what);
      }
    }
  }
}

const Endpoint& ClusterImpl::endpoint(int e) const {
  if (e < 0 || e >= num_endpoints())
    throw std::out_of_range("endpoint " + std::to_string(e) + " out of range (cluster has " +
                            std::to_string(num_endpoints()) + ")");
  return endpoints_[e];
}

int ClusterImpl::server(int i) const {
  if (i < 0 || i >= num_servers_)
    throw std::out_of_range("server " + std::to_string(i) + " out of range");
  return num_devices_ + num_nodes_ + i;
}

std::string ClusterImpl::vertex_name(int v) const {
  return graph_.vertex_names.at(v);
}

int ClusterImpl::GlobalVertex(int node, int v) const {
  const NodeTemplate& t = *tmpl_[node];
  if (v < t.devices) return first_device_[node] + v;
  if (v == t.devices) return host_cpu(node);
  return vertex_base_[node] + (v - t.num_endpoints());
}

ClusterImpl::Place ClusterImpl::Locate(int e) const {
  const Endpoint& ep = endpoint(e);
  Place p;
  if (ep.kind == EndpointKind::kDevice) {
    p.node = ep.node;
    p.local = ep.local_index;
  } else if (ep.kind == EndpointKind::kHostCpu) {
    p.node = ep.node;
    p.local = tmpl_[ep.node]->devices;
  } else {
    p.terminal = num_nodes_ * node_type_->nics + (e - num_devices_ - num_nodes_);
  }
  return p;
}

void ClusterImpl::AppendLocal(int node, const std::vector<Hop>& local, bool reverse,
                              std::vector<Hop>& out) const {
  const int base = link_base_[node];
  if (!reverse) {
    for (const Hop& h : local) out.push_back({base + h.link, h.forward});
  } else {
    for (auto it = local.rbegin(); it != local.rend(); ++it)
      out.push_back({base + it->link, !it->forward});
  }
}

Route ClusterImpl::ComputeRoute(int a, int b) const {
  if (a == b)
    throw std::invalid_argument("route from endpoint " + std::to_string(a) + " to itself");
  const Place pa = Locate(a), pb = Locate(b);
  Route r;
  if (pa.node >= 0 && pa.node == pb.node) {
    AppendLocal(pa.node, tmpl_[pa.node]->pair[pa.local][pb.local], false, r.hops);
  } else {
    int ta = pa.terminal, tb = pb.terminal;
    if (pa.node >= 0) {
      const auto& nics = tmpl_[pa.node]->nearest_nics[pa.local];
      const int k = nics[static_cast<size_t>(b) % nics.size()];
      AppendLocal(pa.node, tmpl_[pa.node]->to_nic[pa.local][k], false, r.hops);
      ta = pa.node * node_type_->nics + k;
    }
    int kb = -1;
    if (pb.node >= 0) {
      const auto& nics = tmpl_[pb.node]->nearest_nics[pb.local];
      kb = nics[static_cast<size_t>(a) % nics.size()];
      tb = pb.node * node_type_->nics + kb;
    }
    fabric_->Route(ta, tb, r.hops);
    if (pb.node >= 0) AppendLocal(pb.node, tmpl_[pb.node]->to_nic[pb.local][kb], true, r.hops);
  }
  r.bandwidth_Bps = std::numeric_limits<double>::infinity();
  for (const Hop& h : r.hops) {
    r.latency_s += graph_.links[h.link].latency_s;
    r.bandwidth_Bps = std::min(r.bandwidth_Bps, graph_.links[h.link].bandwidth_Bps);
  }
  return r;
}

const Route& ClusterImpl::route(int from, int to) const {
  const int64_t key = static_cast<int64_t>(from) * num_endpoints() + to;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = routes_.find(key);
    if (it != routes_.end()) return *it->second;
  }
  auto r = std::make_unique<Route>(ComputeRoute(from, to));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = routes_.emplace(key, std::move(r));
  return *it->second;
}

namespace {

// Depth-first search for a Hamiltonian cycle (or path) over `adj` restricted to `members`,
// starting at the smallest member and trying neighbours in ascending order: deterministic.
std::vector<int> HamiltonianOrder(const std::vector<std::vector<int>>& adj,
                                  const std::vector<int>& members, bool cycle) {
  const size_t n = members.size();
  std::vector<char> in(adj.size(), 0), used(adj.size(), 0);
  for (int m : members) in[m] = 1;
  std::vector<int> order;
  auto joined = [&](int a, int b) { return std::binary_search(adj[a].begin(), adj[a].end(), b); };
  std::function<bool(int)> dfs = [&](int v) {
    order.push_back(v);
    used[v] = 1;
    if (order.size() == n) {
      if (!cycle || n < 3 || joined(v, order.front())) return true;
    } else {
      for (int w : adj[v])
        if (in[w] && !used[w] && dfs(w)) return true;
    }
    used[v] = 0;
    order.pop_back();
    return false;
  };
  if (cycle) return dfs(members.front()) ? order : std::vector<int>{};
  for (int start : members)
    if (dfs(start)) return order;
  return {};
}

}  // namespace

std::vector<int> ClusterImpl::Ring(const std::vector<int>& devices) const {
  std::vector<int> sorted = devices;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    throw std::invalid_argument("Ring: a device is listed twice");
  for (int d : sorted)
    if (d < 0 || d >= num_devices_)
      throw std::invalid_argument("Ring: " + std::to_string(d) + " is not a device");
  // Group by node (nodes ascending, each node's devices contiguous).
  std::map<int, std::vector<int>> by_node;
  for (int d : sorted) by_node[endpoints_[d].node].push_back(endpoints_[d].local_index);
  const bool single = by_node.size() == 1;
  std::vector<int> ring;
  for (const auto& [node, locals] : by_node) {
    const NodeTemplate& t = *tmpl_[node];
    std::vector<int> order;
    const bool mesh = std::any_of(t.nvlink_neighbours.begin(), t.nvlink_neighbours.end(),
                                  [](const auto& v) { return !v.empty(); });
    // Within an NVLink mesh, follow NVLinks: a cycle when the ring stays in this node, else a
    // path (the ring leaves the node through the network at both ends).
    if (mesh && locals.size() >= 3 && locals.size() <= 16) {
      if (single) order = HamiltonianOrder(t.nvlink_neighbours, locals, true);
      if (order.empty()) order = HamiltonianOrder(t.nvlink_neighbours, locals, false);
    }
    if (order.empty())
      order = locals;  // switches and PCIe trees: index order keeps siblings adjacent
    for (int l : order) ring.push_back(first_device_[node] + l);
  }
  return ring;
}

double ClusterImpl::CutBetween(const std::vector<int>& side) const {
  std::vector<char> blocked(num_vertices(), 0), in(num_devices_, 0);
  for (int e = num_devices_; e < num_endpoints(); ++e) blocked[e] = 1;
  for (int d : side) in[d] = 1;
  std::vector<int> sources, sinks;
  for (int d = 0; d < num_devices_; ++d) (in[d] ? sources : sinks).push_back(d);
  return MaxFlow(num_vertices(), graph_.links, blocked, sources, sinks);
}

namespace {

// Bisection of one node by every balanced cut (devices <= 20) or the index-order halves.
double NodeBisection(const NodeTemplate& t) {
  const int n = t.devices;
  if (n < 2) return 0;
  const int nv = static_cast<int>(t.graph.vertex_names.size());
  std::vector<char> blocked(nv, 0);
  blocked[t.devices] = 1;  // the host CPU relays nothing
  auto cut = [&](uint32_t mask) {
    std::vector<int> a, b;
    for (int d = 0; d < n; ++d) ((mask >> d) & 1 ? a : b).push_back(d);
    return MaxFlow(nv, t.graph.links, blocked, a, b);
  };
  if (n > 20) return cut((1u << (n / 2)) - 1);
  double best = std::numeric_limits<double>::infinity();
  for (uint32_t mask = 0; mask < (1u << n); ++mask)
    if (__builtin_popcount(mask) == n / 2 && (n % 2 == 1 || (mask & 1)))
      best = std::min(best, cut(mask));
  return best;
}

// What one node can send out through its NICs (max-flow from its devices to the NICs' far
// side, the NIC links included).
double NodeEgress(const NodeTemplate& t, const LinkSpec& nic) {
  GraphData g = t.graph;
  const int outside = g.AddVertex("outside");
  for (int v : t.nic_vertex) g.AddLink("nic", v, outside, nic, "nic");
  std::vector<char> blocked(g.vertex_names.size(), 0);
  blocked[t.devices] = 1;
  std::vector<int> devs(t.devices);
  for (int d = 0; d < t.devices; ++d) devs[d] = d;
  return MaxFlow(static_cast<int>(g.vertex_names.size()), g.links, blocked, devs, {outside});
}

}  // namespace

double ClusterImpl::ComputeBisection() const {
  if (num_devices_ < 2) return 0;
  const auto closed = fabric_->ClosedFormSwitchBisection();
  if (num_nodes_ > 1 && closed && num_nodes_ % 2 == 0 && !partial_ && num_servers_ == 0) {
    // Node-aligned halves: half the nodes' egress, or the fabric's own bisection; a cut that
    // halves every node instead costs every node's own bisection.
    double best = std::min(num_nodes_ / 2 * NodeEgress(*full_, node_type_->nic), *closed);
    if (full_->devices >= 2) best = std::min(best, num_nodes_ * NodeBisection(*full_));
    return best;
  }
  // A single node, or no closed form: every balanced cut when there are few devices, else the
  // cut between the first and the second half of the devices.
  if (num_devices_ <= 16) return BruteForceBisection(*this);
  std::vector<int> half(num_devices_ / 2);
  for (int d = 0; d < num_devices_ / 2; ++d) half[d] = d;
  return CutBetween(half);
}

double ClusterImpl::bisection_bandwidth_Bps() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (bisection_) return *bisection_;
  }
  const double b = ComputeBisection();
  std::lock_guard<std::mutex> lock(mu_);
  bisection_ = b;
  return b;
}

std::string ClusterImpl::description_json() const {
  Json j = spec_.source;
  j["nodes"] = num_nodes_;
  j["gpus"] = num_devices_;
  return j.dump(2);
}

ClusterSummary ClusterImpl::ComputeSummary() const {
  ClusterSummary s;
  s.name = spec_.name;
  s.fabric = fabric_->Summary();
  s.devices = num_devices_;
  s.nodes = num_nodes_;
  s.devices_per_node = node_type_->devices;
  s.device_type = node_type_->device_type;
  s.endpoints = num_endpoints();
  s.vertices = num_vertices();
  s.price_per_device_hour = spec_.price_per_device_hour;
  std::map<std::string, size_t> index;
  for (const Link& l : graph_.links) {
    auto it = index.find(l.level);
    if (it == index.end()) {
      index[l.level] = s.levels.size();
      s.levels.push_back({l.level, 0, l.bandwidth_Bps, l.bandwidth_Bps, l.latency_s});
      it = index.find(l.level);
    }
    LevelSummary& ls = s.levels[it->second];
    ++ls.links;
    ls.min_bandwidth_Bps = std::min(ls.min_bandwidth_Bps, l.bandwidth_Bps);
    ls.max_bandwidth_Bps = std::max(ls.max_bandwidth_Bps, l.bandwidth_Bps);
    ls.latency_s = std::max(ls.latency_s, l.latency_s);
  }
  s.bisection_bandwidth_Bps = bisection_bandwidth_Bps();
  std::vector<int> sources;
  if (num_devices_ <= 256) {
    for (int d = 0; d < num_devices_; ++d) sources.push_back(d);
  } else {
    s.all_pairs = false;
    for (int node : {0, num_nodes_ / 2, num_nodes_ - 1})
      for (int d = 0; d < tmpl_[node]->devices; ++d)
        if (sources.empty() || sources.back() < first_device_[node] + d)
          sources.push_back(first_device_[node] + d);
  }
  s.min_pair_bandwidth_Bps = num_devices_ > 1 ? std::numeric_limits<double>::infinity() : 0;
  for (int a : sources)
    for (int b = 0; b < num_devices_; ++b) {
      if (a == b) continue;
      const Route r = ComputeRoute(a, b);
      if (r.bandwidth_Bps < s.min_pair_bandwidth_Bps) {
        s.min_pair_bandwidth_Bps = r.bandwidth_Bps;
        s.min_pair_a = a;
        s.min_pair_b = b;
      }
      if (r.latency_s > s.max_pair_latency_s) {
        s.max_pair_latency_s = r.latency_s;
        s.max_latency_a = a;
        s.max_latency_b = b;
      }
      s.diameter = std::max(s.diameter, static_cast<int>(r.hops.size()));
    }
  return s;
}

const ClusterSummary& ClusterImpl::Summary() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (summary_) return *summary_;
  }
  auto s = std::make_unique<ClusterSummary>(ComputeSummary());
  std::lock_guard<std::mutex> lock(mu_);
  if (!summary_) summary_ = std::move(s);
  return *summary_;
}

}  // namespace detail

std::vector<std::string> BuiltinClusterNames() {
  std::vector<std::string> names;
  for (const auto& [name, text] : detail::BuiltinClusterTexts()) names.push_back(name);
  return names;
}

namespace {

void CheckCounts(const std::string& name, const ClusterOptions& opts) {
  if (opts.gpus < 0 || opts.nodes < 0 || opts.server_hosts < 0)
    throw InputError(name + ": device, node and server counts must not be negative");
}

}  // namespace

std::unique_ptr<Cluster> LoadClusterText(const std::string& text, const std::string& name,
                                         const ClusterOptions& opts) {
  CheckCounts(name, opts);
  return std::make_unique<detail::ClusterImpl>(
      detail::ParseClusterSpec(ParseJson(text, name), name), opts);
}

std::unique_ptr<Cluster> LoadCluster(const std::string& name_or_file, const ClusterOptions& opts) {
  CheckCounts(name_or_file, opts);
  const auto& builtins = detail::BuiltinClusterTexts();
  Json j;
  std::string file;
  if (auto it = builtins.find(name_or_file); it != builtins.end()) {
    file = "builtin/" + name_or_file + ".json";
    j = ParseJson(it->second, file);
  } else {
    std::error_code ec;
    if (std::filesystem::is_directory(name_or_file, ec))
      throw InputError(name_or_file + ": is a directory; expected a built-in cluster name or a " +
                       "cluster JSON file");
    if (!std::filesystem::is_regular_file(name_or_file, ec))
      throw InputError("\"" + name_or_file + "\" is neither a built-in cluster nor a file" +
                       DidYouMean(name_or_file, BuiltinClusterNames()) +
                       " (run \"convscale clusters\" for the list)");
    file = name_or_file;
    j = ReadJsonFile(name_or_file);
  }
  return std::make_unique<detail::ClusterImpl>(detail::ParseClusterSpec(j, file), opts);
}

const ClusterSummary& Summarize(const Cluster& cluster) {
  const auto* impl = dynamic_cast<const detail::ClusterImpl*>(&cluster);
  if (!impl) throw std::invalid_argument("Summarize needs a cluster made by LoadCluster");
  return impl->Summary();
}

double CutBandwidth(const Cluster& cluster, const std::vector<int>& side) {
  const auto* impl = dynamic_cast<const detail::ClusterImpl*>(&cluster);
  if (!impl) throw std::invalid_argument("CutBandwidth needs a cluster made by LoadCluster");
  return impl->CutBetween(side);
}

double BruteForceBisection(const Cluster& cluster) {
  const int n = cluster.num_devices();
  if (n > 20) throw std::invalid_argument("BruteForceBisection: more than 20 devices");
  if (n < 2) return 0;
  double best = std::numeric_limits<double>::infinity();
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != n / 2 || (n % 2 == 0 && !(mask & 1))) continue;
    std::vector<int> side;
    for (int d = 0; d < n; ++d)
      if ((mask >> d) & 1) side.push_back(d);
    best = std::min(best, CutBandwidth(cluster, side));
  }
  return best;
}

}  // namespace convscale::topo
