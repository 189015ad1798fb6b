// A cluster: devices, nodes and the network fabric, as the planner, cost model, simulator and
// executor all see it. Loaded from JSON (topologies/README.md) or a built-in description.
//
// Endpoints are the places a rank can run:
//   0 .. num_devices()-1                    compute devices (GPUs, or CPU sockets for CPU
//   clusters),
//                                           filled node by node (node 0's devices first);
//   num_devices() .. +num_nodes()-1         the host CPU of each node (parameter servers can live
//                                           there);
//   then one endpoint per dedicated server host (ClusterOptions::server_hosts).
// Units: bytes, seconds, bytes/s, FLOP/s (decimal prefixes for rates, binary for memory).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace convscale::topo {

enum class Precision { kFP32 = 0, kTF32 = 1, kFP16 = 2, kBF16 = 3 };
const char* PrecisionName(Precision p);          // "fp32", "tf32", "fp16", "bf16"
Precision ParsePrecision(const std::string& s);  // throws std::invalid_argument with did-you-mean

struct DeviceType {
  std::string name;                    // "A100-SXM4-80GB"
  std::string kind = "gpu";            // "gpu" or "cpu"
  std::array<double, 4> peak_flops{};  // FLOP/s per Precision (0 = unsupported)
  double memory_bytes = 0;             // device memory capacity
  double memory_bandwidth_Bps = 0;     // device memory bandwidth
  double efficiency = 0.5;             // achieved fraction of peak for CNN kernels (calibratable)
  double kernel_overhead_s = 5e-6;     // per-kernel launch/fixed cost
};

// The compute precision practitioners train with on a device (the default of every plan): mixed
// precision where the device has matrix units for it, i.e. a half-precision peak at least 4x its
// fp32 peak (tensor cores: A100 and H100 16x bf16, V100 8x fp16), bf16 before fp16 (no loss
// scaling needed); fp32 on CPUs and on GPUs whose half precision is only packed fp32 (P100 2x,
// K80, P40 none). Sources: docs/reports.md, "Defaults".
Precision DefaultComputePrecision(const DeviceType& d);

enum class EndpointKind { kDevice, kHostCpu, kServer };

struct Endpoint {
  EndpointKind kind = EndpointKind::kDevice;
  std::string name;     // "node0/gpu3", "node0/cpu", "server1"
  int node = -1;        // node index (-1 for dedicated servers)
  int local_index = 0;  // index of the device inside its node
  const DeviceType* type = nullptr;
  double speed_factor = 1;  // < 1 for a straggler (0.5 = half as fast)
};

// One direction-agnostic physical link. Split duplex: each direction has `bandwidth_Bps`.
struct Link {
  std::string name;  // unique, e.g. "node0/nvlink/gpu0-gpu1", "fabric/l1/up3"
  double bandwidth_Bps = 0;
  double latency_s = 0;
  std::string level;    // "nvlink", "nvswitch", "pcie", "nic", "fabric-l1", ...
  bool shared = false;  // true: one fluid pool for both directions (a bus), else split duplex
  // The two vertices it joins (Cluster::vertex_name); a forward hop goes from `up` to `down`.
  // Endpoint e is vertex e; switches, NICs and routers follow the endpoints.
  int up = -1;
  int down = -1;
};

struct Hop {
  int link = -1;
  bool forward = true;  // direction of traversal (link's "up" side to "down" side)
};

struct Route {
  std::vector<Hop> hops;
  double latency_s = 0;      // sum of the hops' latencies
  double bandwidth_Bps = 0;  // bottleneck bandwidth along the route
};

struct ClusterOptions {
  int gpus = 0;          // number of compute devices to use (0 = all the description holds)
  int nodes = 0;         // number of nodes (0 = derived from gpus)
  int server_hosts = 0;  // dedicated parameter-server hosts attached to the fabric
};

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual const std::string& name() const = 0;
  virtual int num_devices() const = 0;
  virtual int num_nodes() const = 0;
  virtual int devices_per_node() const = 0;
  virtual int num_endpoints() const = 0;
  virtual const Endpoint& endpoint(int e) const = 0;
  int host_cpu(int node) const { return num_devices() + node; }
  virtual int server(int i) const = 0;  // endpoint of dedicated server host i
  virtual const std::vector<Link>& links() const = 0;
  // Route between two endpoints (a != b). Deterministic.
  virtual const Route& route(int from, int to) const = 0;
  // Ring order over the given devices that avoids shared links where possible (NCCL-like).
  virtual std::vector<int> Ring(const std::vector<int>& devices) const = 0;
  virtual double bisection_bandwidth_Bps() const = 0;
  // The JSON description it was built from (with gpus/nodes resolved), for context blocks.
  virtual std::string description_json() const = 0;

  // Added by the topology graph (defaults keep hand-written fakes compiling).
  // Vertices: endpoints first (vertex e = endpoint e), then switches, NICs and routers.
  virtual int num_vertices() const { return num_endpoints(); }
  virtual std::string vertex_name(int v) const { return endpoint(v).name; }
  // Bottleneck bandwidth and latency of the route between two endpoints.
  double pair_bandwidth_Bps(int a, int b) const { return route(a, b).bandwidth_Bps; }
  double pair_latency_s(int a, int b) const { return route(a, b).latency_s; }
  // Most hops on any device-to-device route (0 with a single device).
  virtual int diameter() const { return 0; }
  // Host CPU of a node: peak FLOP/s and memory capacity (bytes); 0 when not described.
  virtual double host_flops(int node) const { return 0; }
  virtual double host_memory_bytes(int node) const { return 0; }
  // Price per device-hour in the description's currency (0 = not given), for reports.
  virtual double price_per_device_hour() const { return 0; }
};

// Loads a built-in cluster by name or a JSON file by path. Throws InputError with located
// messages on bad input.
std::unique_ptr<Cluster> LoadCluster(const std::string& name_or_file, const ClusterOptions& opts);
// Builds a cluster from the JSON text of a description made in memory (a what-if variant of a
// loaded cluster); messages name it `name`, as the user knows it ("sweep/clusters/x.json").
std::unique_ptr<Cluster> LoadClusterText(const std::string& text, const std::string& name,
                                         const ClusterOptions& opts);
std::vector<std::string> BuiltinClusterNames();

}  // namespace convscale::topo
