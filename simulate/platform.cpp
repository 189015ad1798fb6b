#include "simulate/platform.h"

#include <xbt/log.h>
#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <simgrid/s4u.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "model/util/error.h"
#include "model/util/escape.h"

namespace convscale::sim {
namespace sg4 = simgrid::s4u;
namespace skr = simgrid::kernel::routing;

const std::vector<std::string>& NetworkConfig() {
  static const std::vector<std::string> kConfig = {
      "network/model:CM02",      // plain max-min sharing, latency + size / bandwidth
      "network/crosstraffic:0",  // no ACK traffic on the reverse direction
      "network/TCP-gamma:0",     // no window cap on long-latency routes
      "surf/precision:1e-13",    // simulated-time rounding (default 1e-9 s)
      // Solver rounding: SimGrid's default 1e-5. Tighter values (1e-10, 1e-8) abort SimGrid 3.32
      // ("Cannot saturate more a constraint that has no active element") on a 32-GPU ResNet-50
      // plan, whose link usages reach 1e6 next to rounding residues of 1e-8.
      "maxmin/precision:1e-5",
      "contexts/guard-size:0",  // no guard page per actor stack (many actors at scale)
  };
  return kConfig;
}

#if defined(__SANITIZE_ADDRESS__)
#define CONVSCALE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONVSCALE_ASAN 1
#endif
#endif

void ConfigureEngine(sg4::Engine& engine) {
  xbt_log_control_set("xbt_cfg.thres:warning");
  xbt_log_control_set("root.thres:warning");
  for (const auto& c : NetworkConfig()) engine.set_config(c);
#ifdef CONVSCALE_ASAN
  // Debian's SimGrid is not built with AddressSanitizer, so its fast context switches (raw
  // stacks swapped behind ASan's back) look like stack corruption to it. Under ASan every actor
  // runs in a system thread instead: slower, same simulated results.
  engine.set_config("contexts/factory:thread");
#else
  // Worker actors (engine.h) only post, wait and suspend; the engine's code runs in maestro.
  // 16 KiB stacks (default 8 MiB) keep 32,768 workers at 512 MiB.
  engine.set_config("contexts/stack-size:16");
#endif
}

double EndpointFlopRate(const topo::Endpoint& e, topo::Precision precision) {
  if (e.type == nullptr) return 1e12 * e.speed_factor;
  double peak = e.type->peak_flops[static_cast<int>(precision)];
  if (peak <= 0) peak = e.type->peak_flops[static_cast<int>(topo::Precision::kFP32)];
  if (peak <= 0) peak = 1e12;
  return peak * e.type->efficiency * e.speed_factor;
}

std::string SimgridLinkName(const topo::Link& link, bool forward) {
  if (link.shared) return link.name;
  return link.name + (forward ? "_UP" : "_DOWN");
}

namespace {

// A netzone whose routes are topo::Cluster::route, computed on first use and cached.
class LazyClusterZone : public skr::NetZoneImpl {
 public:
  LazyClusterZone(const std::string& name, const topo::Cluster& cluster)
      : NetZoneImpl(name), cluster_(cluster) {}

  void Register(const sg4::Host* host, int endpoint) {
    const auto id = host->get_netpoint()->id();
    if (endpoint_of_.size() <= id) endpoint_of_.resize(id + 1, -1);
    endpoint_of_[id] = endpoint;
  }
  void AddLink(simgrid::kernel::resource::StandardLinkImpl* up,
               simgrid::kernel::resource::StandardLinkImpl* down, double latency) {
    up_.push_back(up);
    down_.push_back(down);
    latency_.push_back(latency);
  }

  void get_local_route(const skr::NetPoint* src, const skr::NetPoint* dst, skr::Route* into,
                       double* latency) override {
    const int a = endpoint_of_.at(src->id());
    const int b = endpoint_of_.at(dst->id());
    if (a < 0 || b < 0) throw RuntimeError("simulate: route between unknown SimGrid hosts");
    if (a == b) return;  // same endpoint: no network (the interpreter never sends to itself)
    const uint64_t key = (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      Cached c;
      for (const topo::Hop& h : cluster_.route(a, b).hops) {
        c.links.push_back(h.forward ? up_[h.link] : down_[h.link]);
        if (c.links.back() == nullptr)
          throw RuntimeError("simulate: the route " + cluster_.endpoint(a).name + " -> " +
                             cluster_.endpoint(b).name + " crosses link " +
                             cluster_.links()[h.link].name + ", which was not created");
        c.latency += latency_[h.link];
      }
      it = cache_.emplace(key, std::move(c)).first;
    }
    into->link_list_.insert(into->link_list_.end(), it->second.links.begin(),
                            it->second.links.end());
    if (latency) *latency += it->second.latency;
  }

 private:
  struct Cached {
    std::vector<simgrid::kernel::resource::StandardLinkImpl*> links;
    double latency = 0;
  };
  const topo::Cluster& cluster_;
  std::vector<int> endpoint_of_;
  std::vector<simgrid::kernel::resource::StandardLinkImpl*> up_, down_;
  std::vector<double> latency_;
  std::unordered_map<uint64_t, Cached> cache_;
};

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void CheckOptions(const PlatformOptions& o) {
  if (!(o.background_load >= 0 && o.background_load < 1))
    throw InputError("--background-load: " + Num(o.background_load) +
                     " is not a fraction in [0, 1)");
}

// SimGrid aborts ("The Impossible Did Happen", signal 6) on a rate that is zero, negative or not
// finite. The loaders refuse such values with their place in the file; this names the cluster and
// the resource should one get through (a product of checked values that overflows, say).
void CheckRate(const topo::Cluster& c, const std::string& what, double rate, const char* unit) {
  if (!(rate > 0 && std::isfinite(rate)))
    throw InputError("cluster " + c.name() + ": " + what + ": " + Num(rate) + " " + unit +
                     " is not a positive finite rate, which the simulator needs");
}

}  // namespace

bool CarriesBackgroundLoad(const topo::Link& l) {
  return l.level == "nic" || l.level.rfind("fabric", 0) == 0;
}

double EffectiveBandwidth(const topo::Link& l, const PlatformOptions& o) {
  return CarriesBackgroundLoad(l) ? l.bandwidth_Bps * (1 - o.background_load) : l.bandwidth_Bps;
}

void CheckBackgroundLoad(const topo::Cluster& cluster, const PlatformOptions& o) {
  if (o.background_load == 0) return;
  // Routes leave a node only towards another node or a dedicated server host.
  const bool leaves_node = cluster.num_nodes() > 1 ||
                           cluster.num_endpoints() > cluster.num_devices() + cluster.num_nodes();
  if (leaves_node)
    for (const topo::Link& l : cluster.links())
      if (CarriesBackgroundLoad(l)) return;
  char load[32];
  std::snprintf(load, sizeof load, "%g", o.background_load);
  throw InputError(std::string("--background-load ") + load + ": cluster \"" + cluster.name() +
                   "\" here is one node: no route crosses a NIC or fabric link to load");
}

Platform::Platform(const topo::Cluster& cluster, const PlatformOptions& options,
                   const std::vector<uint8_t>* links_used) {
  CheckOptions(options);
  CheckBackgroundLoad(cluster, options);
  auto* impl = new LazyClusterZone(cluster.name(), cluster);
  sg4::NetZone* zone = impl->get_iface();
  const int n = cluster.num_endpoints();
  hosts_.resize(n);
  for (int e = 0; e < n; ++e) {
    const topo::Endpoint& ep = cluster.endpoint(e);
    const double speed = EndpointFlopRate(ep, options.precision);
    CheckRate(cluster, ep.name + " compute", speed, "FLOP/s");
    hosts_[e] = zone->create_host(ep.name, speed)->seal();
    impl->Register(hosts_[e], e);
  }
  const auto& links = cluster.links();
  bandwidths_.reserve(links.size());
  for (size_t k = 0; k < links.size(); ++k) {
    const topo::Link& l = links[k];
    const double bw = EffectiveBandwidth(l, options);
    CheckRate(cluster, "link " + l.name + " bandwidth", bw, "B/s");
    if (!(l.latency_s >= 0 && std::isfinite(l.latency_s)))
      throw InputError("cluster " + cluster.name() + ": link " + l.name +
                       " latency: " + Num(l.latency_s) + " s is not a finite time >= 0");
    bandwidths_.push_back(bw);
    if (links_used != nullptr && (k >= links_used->size() || !(*links_used)[k])) {
      impl->AddLink(nullptr, nullptr, l.latency_s);
    } else if (l.shared) {
      sg4::Link* s = zone->create_link(l.name, bw)
                         ->set_latency(l.latency_s)
                         ->set_sharing_policy(sg4::Link::SharingPolicy::SHARED)
                         ->seal();
      impl->AddLink(s->get_impl(), s->get_impl(), l.latency_s);
    } else {
      auto* d = zone->create_split_duplex_link(l.name, bw)->set_latency(l.latency_s);
      d->seal();
      auto* sd = static_cast<sg4::SplitDuplexLink*>(d);
      impl->AddLink(sd->get_link_up()->get_impl(), sd->get_link_down()->get_impl(), l.latency_s);
    }
  }
  zone->seal();
}

Platform::~Platform() = default;

std::string ExportSimgridXml(const topo::Cluster& cluster, const PlatformOptions& options) {
  CheckOptions(options);
  std::ostringstream x;
  x << "<?xml version='1.0'?>\n"
    << "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
    << "<!-- Generated by convscale cluster export-simgrid from cluster \""
    << XmlEscape(cluster.name()) << "\". Units: bytes/s, seconds, FLOP/s. -->\n"
    << "<platform version=\"4.1\">\n  <config>\n";
  for (const auto& c : NetworkConfig()) {
    const auto colon = c.find(':');
    x << "    <prop id=\"" << c.substr(0, colon) << "\" value=\"" << c.substr(colon + 1)
      << "\"/>\n";
  }
  x << "  </config>\n  <zone id=\"" << XmlEscape(cluster.name()) << "\" routing=\"Full\">\n";
  const int n = cluster.num_endpoints();
  for (int e = 0; e < n; ++e) {
    const topo::Endpoint& ep = cluster.endpoint(e);
    x << "    <host id=\"" << XmlEscape(ep.name) << "\" speed=\""
      << Num(EndpointFlopRate(ep, options.precision)) << "f\"/>\n";
  }
  for (const topo::Link& l : cluster.links()) {
    x << "    <link id=\"" << XmlEscape(l.name) << "\" bandwidth=\""
      << Num(EffectiveBandwidth(l, options)) << "Bps\" latency=\"" << Num(l.latency_s)
      << "s\" sharing_policy=\"" << (l.shared ? "SHARED" : "SPLITDUPLEX") << "\"/>\n";
  }
  const auto& links = cluster.links();
  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) {
      if (a == b) continue;
      x << "    <route src=\"" << XmlEscape(cluster.endpoint(a).name) << "\" dst=\""
        << XmlEscape(cluster.endpoint(b).name) << "\" symmetrical=\"NO\">";
      for (const topo::Hop& h : cluster.route(a, b).hops) {
        const topo::Link& l = links[h.link];
        x << "<link_ctn id=\"" << XmlEscape(l.name) << "\"";
        if (!l.shared) x << " direction=\"" << (h.forward ? "UP" : "DOWN") << "\"";
        x << "/>";
      }
      x << "</route>\n";
    }
  }
  x << "  </zone>\n</platform>\n";
  return x.str();
}

}  // namespace convscale::sim
