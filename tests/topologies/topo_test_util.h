// Helpers for the topology tests: small descriptions written to temporary files, and a check
// that a route is a connected path of links.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "model/util/json.h"
#include "topologies/cluster.h"

namespace convscale::topo::testing {

// A cluster of `nodes` single-device nodes (10 TFLOP/s, host bridge at 50 GB/s and 0.1 us), one
// 100 Gbit/s NIC each with 1 us latency, joined by `fabric`.
inline Json SmallCluster(const Json& fabric, int nodes) {
  Json j = Json::parse(R"({
    "format": "convscale-cluster", "version": 1, "name": "small",
    "device_types": {"d": {"peak": {"fp32": "10TFlops"}, "memory": "16GiB",
                           "memory_bandwidth": "900GBps"}},
    "node_types": {"n": {"device_type": "d", "devices": 1,
                         "host": {"flops": "1TFlops", "memory": "64GiB", "bandwidth": "50GBps",
                                  "latency": "0.1us"},
                         "nics": {"count": 1, "bandwidth": "100Gbps", "latency": "1us"}}},
    "node_type": "n", "fabric": {"type": "switch"}})");
  j["nodes"] = nodes;
  j["fabric"] = fabric;
  return j;
}

inline std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

inline std::unique_ptr<Cluster> LoadJson(const Json& j, const ClusterOptions& o = {},
                                         const std::string& name = "cluster.json") {
  return LoadCluster(WriteTemp(name, j.dump(2)), o);
}

// The hops of route(a, b) walk from vertex a to vertex b, each link entered at the side the
// direction says.
inline ::testing::AssertionResult IsPath(const Cluster& c, int a, int b) {
  const Route& r = c.route(a, b);
  int at = a;
  for (const Hop& h : r.hops) {
    const Link& l = c.links().at(h.link);
    const int from = h.forward ? l.up : l.down;
    if (from != at)
      return ::testing::AssertionFailure()
             << c.endpoint(a).name << " -> " << c.endpoint(b).name << ": link " << l.name
             << " does not start at " << c.vertex_name(at);
    at = h.forward ? l.down : l.up;
  }
  if (at != b)
    return ::testing::AssertionFailure() << c.endpoint(a).name << " -> " << c.endpoint(b).name
                                         << " ends at " << c.vertex_name(at);
  return ::testing::AssertionSuccess();
}

}  // namespace convscale::topo::testing
