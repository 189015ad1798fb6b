// Max-flow with Boost.Graph's push-relabel, for bisection cuts.
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>

#include "topologies/graph.h"

namespace convscale::topo::detail {

double MaxFlow(int num_vertices, const std::vector<Link>& links, const std::vector<char>& blocked,
               const std::vector<int>& sources, const std::vector<int>& sinks) {
  using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
  using G = boost::adjacency_list<
      boost::vecS, boost::vecS, boost::directedS, boost::no_property,
      boost::property<
          boost::edge_capacity_t, double,
          boost::property<boost::edge_residual_capacity_t, double,
                          boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
  G g(num_vertices + 2);
  const int s = num_vertices, t = num_vertices + 1;
  auto cap = boost::get(boost::edge_capacity, g);
  auto rev = boost::get(boost::edge_reverse, g);
  auto arc = [&](int u, int v, double c) {
    auto e = boost::add_edge(u, v, g).first;
    auto r = boost::add_edge(v, u, g).first;
    cap[e] = c;
    cap[r] = 0;
    rev[e] = r;
    rev[r] = e;
  };
  double total = 0;
  for (const Link& l : links) {
    total += l.bandwidth_Bps;
    if (blocked[l.up] || blocked[l.down]) continue;
    arc(l.up, l.down, l.bandwidth_Bps);
    arc(l.down, l.up, l.bandwidth_Bps);
  }
  const double big = 2 * total + 1;
  for (int v : sources) arc(s, v, big);
  for (int v : sinks) arc(v, t, big);
  return boost::push_relabel_max_flow(g, s, t);
}

}  // namespace convscale::topo::detail
