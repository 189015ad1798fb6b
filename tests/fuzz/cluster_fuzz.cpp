// libFuzzer target: the cluster loader (topologies/). A description is parsed and checked, the
// topology graph is built, and routes, a ring and the summary (bisection included) are asked of
// it. Bad input must end in convscale::InputError, never a crash, a hang or another exception.
//
// Harness bound (not a loader limit): descriptions that resolve to more than kMaxDevices devices
// or a torus of more than kMaxRouters routers are only parsed, not built, and the summary is
// asked of at most kMaxSummaryDevices devices: a valid 100 000-node cluster is slow by design,
// and its size is covered by bench/, not by the fuzzer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/util/error.h"
#include "model/util/json.h"
#include "topologies/analysis.h"
#include "topologies/cluster_impl.h"
#include "topologies/spec.h"

namespace {

constexpr int64_t kMaxDevices = 64;
constexpr int64_t kMaxRouters = 4096;
constexpr int kMaxSummaryDevices = 8;

bool SmallEnough(const convscale::topo::detail::ClusterSpec& spec) {
  const int64_t per_node = spec.node_types.at(spec.node_type).devices;
  const int64_t devices = spec.gpus > 0 ? spec.gpus : per_node * spec.nodes;
  if (devices > kMaxDevices || spec.nodes > kMaxDevices) return false;
  int64_t routers = 1;
  for (int d : spec.fabric.dims) routers *= d;
  return routers <= kMaxRouters;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace convscale::topo;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const convscale::Json j = convscale::ParseJson(text, "fuzz.json");
    detail::ClusterSpec spec = detail::ParseClusterSpec(j, "fuzz.json");
    if (!SmallEnough(spec)) return 0;
    const detail::ClusterImpl cluster(std::move(spec), ClusterOptions{});
    const int n = cluster.num_devices();
    for (int a = 0; a < cluster.num_endpoints(); ++a) {
      const int b = (a * 7 + 1) % cluster.num_endpoints();
      if (a != b && !(cluster.route(a, b).bandwidth_Bps > 0)) __builtin_trap();
    }
    std::vector<int> devices;
    for (int d = 0; d < n; ++d) devices.push_back(d);
    if (cluster.Ring(devices).size() != devices.size()) __builtin_trap();
    // The summary's bisection tries every balanced cut up to 16 devices (6 435 max-flows): a
    // second or more under ASan, so the fuzzer asks for it on small clusters only.
    if (n <= kMaxSummaryDevices) (void)Summarize(cluster);
    (void)cluster.description_json();
  } catch (const convscale::InputError&) {
  }
  return 0;
}
