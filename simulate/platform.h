// The SimGrid platform of a cluster.
//
// One SimGrid host per cluster endpoint (devices, host CPUs, dedicated servers), one SimGrid link
// per topo::Link (split duplex unless the link is a shared bus), and routes that are exactly
// topo::Cluster::route, hop by hop and direction by direction.
//
// Routing is lazy: the platform is one netzone whose routing callback asks the cluster for the
// route of a pair the first time a flow uses it (then caches the SimGrid link list). A Full zone
// would need an N x N table (2.7 GB of pointers at 18,432 endpoints); the lazy zone needs memory
// only for the pairs that talk. SimGrid's own fat-tree zone is not used: it routes with its own
// d-mod-k rule, which need not be the cluster's route, and the lazy zone already costs nothing
// per idle pair (docs/simulator.md, "Platform").
//
// Network model (docs/simulator.md, "Network model"): CM02, cross-traffic off, TCP-gamma 0 and
// tight solver precision. Measured on this machine, this combination reproduces the ring
// all-reduce closed form exactly while SimGrid's default (LV08 with cross-traffic) is 17% off at
// 64 hosts and 168% at 1024.
//
// SimGrid 3.32 allows one engine per process. Everything here runs inside the process that owns
// the engine (simulate/simulator.cpp forks one per simulation).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "topologies/cluster.h"

namespace simgrid::s4u {
class Engine;
class Host;
}  // namespace simgrid::s4u

namespace convscale::sim {

// The engine settings every simulation uses, as "--cfg" strings (documented in docs/simulator.md).
const std::vector<std::string>& NetworkConfig();

// Creates nothing; applies NetworkConfig() and silences SimGrid's informational logging. Must be
// called after the engine exists and before any platform is built.
void ConfigureEngine(simgrid::s4u::Engine& engine);

// The compute rate of an endpoint in FLOP/s: peak at `precision` x efficiency x speed factor.
// Endpoints without a device type (plain hosts) get 1e12 FLOP/s.
double EndpointFlopRate(const topo::Endpoint& e, topo::Precision precision);

struct PlatformOptions {
  topo::Precision precision = topo::Precision::kFP32;
  // Fraction of every shared link's capacity (CarriesBackgroundLoad) taken by inelastic
  // background traffic, in both directions: the link keeps (1 - fraction) of its bandwidth.
  double background_load = 0;
};

// The links other jobs' traffic crosses, which --background-load loads: the nodes' NICs (level
// "nic") and every fabric level (levels named "fabric...": leaf, spine, core, torus, dragonfly).
// Links inside a node (NVLink, NVSwitch, PCIe, host) are the job's own.
bool CarriesBackgroundLoad(const topo::Link& l);

// The bandwidth link `l` keeps under `o`'s background load, bytes/s.
double EffectiveBandwidth(const topo::Link& l, const PlatformOptions& o);

// Refuses a background load that would load nothing (one node, no dedicated server host):
// InputError "--background-load 0.9: cluster \"NAME\" here is one node: no route crosses a NIC
// or fabric link to load".
void CheckBackgroundLoad(const topo::Cluster& cluster, const PlatformOptions& o);

class Platform {
 public:
  // Builds the platform into the current engine (ConfigureEngine must have run). With
  // `links_used` (one flag per cluster link), only the flagged links become SimGrid links: a
  // route through any other one is an error. A 16,384-GPU fat tree has 112,672 links
  // (`convscale cluster show dgx-a100-hdr200 --gpus 16384`), most of which no flow of a ring
  // all-reduce crosses.
  Platform(const topo::Cluster& cluster, const PlatformOptions& options,
           const std::vector<uint8_t>* links_used = nullptr);
  ~Platform();
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  simgrid::s4u::Host* host(int endpoint) const { return hosts_[endpoint]; }
  int num_endpoints() const { return static_cast<int>(hosts_.size()); }
  // Effective bandwidth of link `l` as simulated (after background load), bytes/s.
  double link_bandwidth(int l) const { return bandwidths_[l]; }

 private:
  std::vector<simgrid::s4u::Host*> hosts_;
  std::vector<double> bandwidths_;
};

// The equivalent SimGrid XML platform (version 4.1): one Full zone, hosts with their compute
// rate, links with bandwidth, latency and sharing policy, explicit routes for every ordered pair
// of endpoints (N(N-1) routes: meant for clusters up to a few hundred endpoints), and the
// network model settings in a <config> block.
std::string ExportSimgridXml(const topo::Cluster& cluster, const PlatformOptions& options = {});

// SimGrid names of link `l` in direction `forward` ("<name>_UP"/"<name>_DOWN" for split-duplex
// links, the plain name for shared ones).
std::string SimgridLinkName(const topo::Link& link, bool forward);

}  // namespace convscale::sim
