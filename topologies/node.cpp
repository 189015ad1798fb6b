// The node template: one node type as a small graph, with every intra-node route precomputed.
//
// Routing inside a node: the least number of hops, then the least latency, never passing
// through an endpoint (devices and the host CPU neither forward nor relay). Among equal
// choices the walk takes candidate (key mod count) in link order, key being the destination,
// so different destinations spread over parallel paths deterministically.
#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <queue>
#include <set>

#include "model/util/error.h"
#include "topologies/graph.h"

namespace convscale::topo::detail {
namespace {

struct Cost {
  int hops = INT_MAX;
  int64_t latency_ps = 0;
  bool operator<(const Cost& o) const {
    return hops != o.hops ? hops < o.hops : latency_ps < o.latency_ps;
  }
  bool operator==(const Cost& o) const = default;
};

int64_t Picoseconds(double s) {
  return std::llround(s * 1e12);
}

struct Adjacency {
  std::vector<std::vector<std::pair<int, int>>> out;  // vertex -> (link, other vertex)
  explicit Adjacency(const GraphData& g) : out(g.vertex_names.size()) {
    for (size_t l = 0; l < g.links.size(); ++l) {
      out[g.links[l].up].push_back({static_cast<int>(l), g.links[l].down});
      out[g.links[l].down].push_back({static_cast<int>(l), g.links[l].up});
    }
  }
};

// Least cost from every vertex to `target`, relaying only through non-endpoint vertices.
std::vector<Cost> CostsTo(const GraphData& g, const Adjacency& adj, int target, int num_endpoints) {
  std::vector<Cost> dist(g.vertex_names.size());
  using Item = std::pair<Cost, int>;
  auto greater = [](const Item& a, const Item& b) {
    return b.first < a.first || (a.first == b.first && a.second > b.second);
  };
  std::priority_queue<Item, std::vector<Item>, decltype(greater)> q(greater);
  dist[target] = {0, 0};
  q.push({dist[target], target});
  while (!q.empty()) {
    auto [c, v] = q.top();
    q.pop();
    if (dist[v] < c) continue;
    if (v != target && v < num_endpoints) continue;  // endpoints do not relay
    for (auto [l, w] : adj.out[v]) {
      Cost nc{c.hops + 1, c.latency_ps + Picoseconds(g.links[l].latency_s)};
      if (nc < dist[w]) {
        dist[w] = nc;
        q.push({nc, w});
      }
    }
  }
  return dist;
}

// Walks from `from` to the target of `dist`, taking candidate (key mod count) at each choice.
std::vector<Hop> Walk(const GraphData& g, const Adjacency& adj, const std::vector<Cost>& dist,
                      int from, int target, int num_endpoints, int key) {
  std::vector<Hop> hops;
  int v = from;
  while (v != target) {
    std::vector<std::pair<int, int>> cands;
    for (auto [l, w] : adj.out[v]) {
      if (w != target && w < num_endpoints) continue;
      if (dist[w].hops == INT_MAX) continue;
      Cost via{dist[w].hops + 1, dist[w].latency_ps + Picoseconds(g.links[l].latency_s)};
      if (via == dist[v]) cands.push_back({l, w});
    }
    const auto [l, w] = cands[static_cast<size_t>(key) % cands.size()];
    hops.push_back({l, g.links[l].up == v});
    v = w;
  }
  return hops;
}

}  // namespace

NodeTemplate BuildNodeTemplate(const NodeTypeSpec& t, int devices, const std::string& dev,
                               const std::string& file) {
  NodeTemplate n;
  n.devices = devices;
  GraphData& g = n.graph;
  for (int d = 0; d < devices; ++d) g.AddVertex(dev + std::to_string(d));
  const int host = g.AddVertex("cpu");
  auto present = [&](int d) { return d < devices; };

  // NVSwitch: one switch vertex, one link per device.
  if (t.has_nvswitch) {
    const int sw = g.AddVertex("nvswitch");
    for (int d = 0; d < devices; ++d)
      g.AddLink("nvswitch/" + dev + std::to_string(d), d, sw, t.nvswitch, "nvswitch");
  }
  // NVLink mesh: parallel links aggregate into one link.
  n.nvlink_neighbours.assign(devices, {});
  if (t.has_nvlink) {
    for (const auto& e : t.nvlink_edges) {
      const int a = std::min(e[0], e[1]), b = std::max(e[0], e[1]);
      if (!present(a) || !present(b)) continue;
      LinkSpec s = t.nvlink;
      s.bandwidth_Bps *= e[2];
      g.AddLink("nvlink/" + dev + std::to_string(a) + "-" + dev + std::to_string(b), a, b, s,
                "nvlink");
      n.nvlink_neighbours[a].push_back(b);
      n.nvlink_neighbours[b].push_back(a);
    }
    for (auto& v : n.nvlink_neighbours) std::sort(v.begin(), v.end());
  }
  // NICs.
  for (int k = 0; k < t.nics; ++k) n.nic_vertex.push_back(g.AddVertex("nic" + std::to_string(k)));

  if (!t.has_pcie) {
    // No PCIe tree described: devices, NICs and the host CPU meet at one host bridge.
    const int bridge = g.AddVertex("hostbridge");
    g.AddLink("host/cpu", host, bridge, t.host_link, "host");
    for (int d = 0; d < devices; ++d)
      g.AddLink("host/" + dev + std::to_string(d), d, bridge, t.host_link, "host");
    for (int k = 0; k < t.nics; ++k)
      g.AddLink("host/nic" + std::to_string(k), n.nic_vertex[k], bridge, t.host_link, "host");
  } else {
    std::map<std::string, int> vertex_of;
    std::vector<std::string> names;
    for (const auto& r : t.pcie_roots) {
      vertex_of[r] = g.AddVertex("pcie/" + r);
      names.push_back(r);
    }
    for (const auto& r : t.pcie_roots)
      g.AddLink("host/" + r, host, vertex_of[r], t.host_link, "host");
    for (size_t i = 0; i < t.pcie_roots.size(); ++i)
      for (size_t j = i + 1; j < t.pcie_roots.size(); ++j)
        g.AddLink("socket/" + t.pcie_roots[i] + "-" + t.pcie_roots[j], vertex_of[t.pcie_roots[i]],
                  vertex_of[t.pcie_roots[j]], t.root_link, "socket");
    for (const auto& s : t.pcie_switches) {
      vertex_of[s.name] = g.AddVertex("pcie/" + s.name);
      names.push_back(s.name);
    }
    std::map<std::string, std::string> parent;
    for (const auto& s : t.pcie_switches) {
      if (!vertex_of.count(s.parent))
        throw InputError(
            file, PointerJoin(s.pointer, "parent"),
            "no PCIe switch or root named \"" + s.parent + "\"" + DidYouMean(s.parent, names));
      parent[s.name] = s.parent;
    }
    // Every switch must reach a root: a chain of parents that loops never does.
    for (const auto& s : t.pcie_switches) {
      std::vector<std::string> chain = {s.name};
      std::set<std::string> seen = {s.name};
      std::string at = s.name;
      while (parent.count(at)) {
        at = parent[at];
        chain.push_back(at);
        if (!seen.insert(at).second) {
          std::string path;
          for (const auto& c : chain) path += (path.empty() ? "" : " -> ") + c;
          throw InputError(file, PointerJoin(s.pointer, "parent"),
                           "PCIe switches form a cycle: " + path);
        }
      }
    }
    std::vector<int> device_at(devices, vertex_of[t.pcie_roots[0]]);
    std::vector<int> nic_at(t.nics, vertex_of[t.pcie_roots[0]]);
    for (const auto& s : t.pcie_switches) {
      g.AddLink("pcie/" + s.name, vertex_of[s.name], vertex_of[s.parent], t.pcie, "pcie",
                t.pcie_shared);
      for (int d : s.devices)
        if (present(d)) device_at[d] = vertex_of[s.name];
      for (int k : s.nics) nic_at[k] = vertex_of[s.name];
    }
    for (int d = 0; d < devices; ++d)
      g.AddLink("pcie/" + dev + std::to_string(d), d, device_at[d], t.pcie, "pcie", t.pcie_shared);
    for (int k = 0; k < t.nics; ++k)
      g.AddLink("pcie/nic" + std::to_string(k), n.nic_vertex[k], nic_at[k], t.pcie, "pcie",
                t.pcie_shared);
  }

  // Precompute routes between endpoints and from endpoints to NICs.
  const Adjacency adj(g);
  const int ne = n.num_endpoints();
  n.pair.assign(ne, std::vector<std::vector<Hop>>(ne));
  for (int b = 0; b < ne; ++b) {
    const auto dist = CostsTo(g, adj, b, ne);
    for (int a = 0; a < ne; ++a) {
      if (a == b) continue;
      if (dist[a].hops == INT_MAX)
        throw InputError(file, t.pointer,
                         "the node graph is disconnected: " + g.vertex_names[a] + " cannot reach " +
                             g.vertex_names[b]);
      n.pair[a][b] = Walk(g, adj, dist, a, b, ne, b);
    }
  }
  n.to_nic.assign(ne, std::vector<std::vector<Hop>>(t.nics));
  n.nearest_nics.assign(ne, {});
  std::vector<std::vector<Cost>> cost_to_nic;
  for (int k = 0; k < t.nics; ++k) cost_to_nic.push_back(CostsTo(g, adj, n.nic_vertex[k], ne));
  for (int a = 0; a < ne; ++a) {
    Cost best;
    for (int k = 0; k < t.nics; ++k) {
      const Cost& c = cost_to_nic[k][a];
      if (c.hops == INT_MAX) continue;
      n.to_nic[a][k] = Walk(g, adj, cost_to_nic[k], a, n.nic_vertex[k], ne, 0);
      if (c < best) {
        best = c;
        n.nearest_nics[a] = {k};
      } else if (c == best) {
        n.nearest_nics[a].push_back(k);
      }
    }
  }
  return n;
}

}  // namespace convscale::topo::detail
