// What `convscale cluster show` reports about a cluster, and the cuts behind its bisection.
//
// Bisection bandwidth (topologies/README.md, "Bisection bandwidth"): the least, over balanced
// cuts of the devices into halves, of the bandwidth that can flow from one half to the other
// (the max-flow from one half to the other; switches may fall on either side; host CPUs and
// servers carry no transit traffic).
#pragma once

#include <string>
#include <vector>

#include "topologies/cluster.h"

namespace convscale::topo {

struct LevelSummary {
  std::string level;  // "nvlink", "pcie", "nic", "fabric-l1", ...
  int links = 0;
  double min_bandwidth_Bps = 0;
  double max_bandwidth_Bps = 0;
  double latency_s = 0;  // the largest latency of the level's links
};

struct ClusterSummary {
  std::string name;
  std::string fabric;  // one line
  int devices = 0;
  int nodes = 0;
  int devices_per_node = 0;
  std::string device_type;
  int endpoints = 0;
  int vertices = 0;
  std::vector<LevelSummary> levels;
  double bisection_bandwidth_Bps = 0;
  // Over device pairs: every pair up to 256 devices; beyond, the pairs from the devices of the
  // first, middle and last nodes to every device.
  double min_pair_bandwidth_Bps = 0;
  int min_pair_a = -1, min_pair_b = -1;
  double max_pair_latency_s = 0;
  int max_latency_a = -1, max_latency_b = -1;
  int diameter = 0;  // the most hops on a device-to-device route
  bool all_pairs = true;
  double price_per_device_hour = 0;
};

// The summary of a cluster made by LoadCluster.
const ClusterSummary& Summarize(const Cluster& cluster);

// Max-flow from the devices in `side` to the other devices (bytes/s): the value of that cut.
double CutBandwidth(const Cluster& cluster, const std::vector<int>& side);

// The bisection by brute force: every balanced cut of the devices (at most 20 devices).
double BruteForceBisection(const Cluster& cluster);

}  // namespace convscale::topo
