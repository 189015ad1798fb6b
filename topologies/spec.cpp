// Parsing and checking cluster descriptions (format: topologies/README.md).
#include "topologies/spec.h"

#include <set>
#include <stdexcept>

#include "model/util/error.h"

namespace convscale::topo {

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFP32:
      return "fp32";
    case Precision::kTF32:
      return "tf32";
    case Precision::kFP16:
      return "fp16";
    case Precision::kBF16:
      return "bf16";
  }
  return "fp32";
}

Precision DefaultComputePrecision(const DeviceType& d) {
  constexpr double kMatrixUnitRatio = 4;  // tensor cores: 8-16x fp32; packed half: 2x
  const double fp32 = d.peak_flops[static_cast<int>(Precision::kFP32)];
  if (d.kind != "gpu" || !(fp32 > 0)) return Precision::kFP32;
  for (Precision p : {Precision::kBF16, Precision::kFP16})
    if (d.peak_flops[static_cast<int>(p)] >= kMatrixUnitRatio * fp32) return p;
  return Precision::kFP32;
}

Precision ParsePrecision(const std::string& s) {
  static const std::vector<std::string> names = {"fp32", "tf32", "fp16", "bf16"};
  for (size_t i = 0; i < names.size(); ++i)
    if (s == names[i]) return static_cast<Precision>(i);
  throw std::invalid_argument("unknown precision \"" + s + "\" (fp32, tf32, fp16 or bf16)" +
                              DidYouMean(s, names));
}

namespace detail {
namespace {

// Parallel NVLink links between two devices: NVLink 4 gives a GPU 18 links in all. The bound
// keeps link counts (and bandwidth = count x per-link rate) far from integer overflow.
constexpr int64_t kMaxLinksPerEdge = 64;

std::vector<std::string> Keys(const std::map<std::string, DeviceType>& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

LinkSpec ParseLink(const JsonObject& o) {
  o.CheckKeys({"bandwidth", "latency"});
  LinkSpec l;
  l.bandwidth_Bps = o.Bandwidth("bandwidth");
  l.latency_s = o.Time("latency");
  return l;
}

// A link given by "bandwidth" and "latency" keys inside a bigger object.
LinkSpec ParseLinkIn(const JsonObject& o) {
  LinkSpec l;
  l.bandwidth_Bps = o.Bandwidth("bandwidth");
  l.latency_s = o.Time("latency");
  return l;
}

DeviceType ParseDeviceType(const std::string& name, const JsonObject& o) {
  o.CheckKeys(
      {"kind", "peak", "memory", "memory_bandwidth", "efficiency", "kernel_overhead", "source"});
  DeviceType d;
  d.name = name;
  d.kind = o.String("kind", "gpu");
  if (d.kind != "gpu" && d.kind != "cpu")
    throw o.Error("kind", "unknown device kind \"" + d.kind + "\" (gpu or cpu)" +
                              DidYouMean(d.kind, {"gpu", "cpu"}));
  const JsonObject peak = o.Object("peak");
  peak.CheckKeys({"fp32", "tf32", "fp16", "bf16"});
  d.peak_flops[0] = peak.FlopRate("fp32");
  const char* others[] = {"tf32", "fp16", "bf16"};
  for (int i = 0; i < 3; ++i)
    if (peak.Has(others[i])) d.peak_flops[i + 1] = peak.FlopRate(others[i], false);
  d.memory_bytes = o.Bytes("memory");
  d.memory_bandwidth_Bps = o.Bandwidth("memory_bandwidth");
  if (o.Has("efficiency")) {
    d.efficiency = o.Number("efficiency");
    if (!(d.efficiency > 0 && d.efficiency <= 1))
      throw o.Error("efficiency", "must be in (0, 1], found " + o.Get("efficiency").dump());
  }
  if (o.Has("kernel_overhead")) d.kernel_overhead_s = o.Time("kernel_overhead");
  return d;
}

void CheckDeviceIndex(const JsonObject& o, const char* key, size_t i, int64_t dev, int devices,
                      const std::string& node_type) {
  if (dev >= devices)
    throw InputError(o.File(), PointerJoin(o.PointerOf(key), i),
                     "device " + std::to_string(dev) + " does not exist: node type \"" + node_type +
                         "\" has " + std::to_string(devices) + " devices");
}

NodeTypeSpec ParseNodeType(const std::string& name, const JsonObject& o,
                           const std::map<std::string, DeviceType>& device_types) {
  o.CheckKeys({"device_type", "devices", "host", "nvlink", "nvswitch", "pcie", "nics", "source"});
  NodeTypeSpec n;
  n.name = name;
  n.pointer = o.Pointer();
  n.device_type = o.String("device_type");
  if (!device_types.count(n.device_type))
    throw o.Error("device_type", "unknown device type \"" + n.device_type + "\"" +
                                     DidYouMean(n.device_type, Keys(device_types)));
  n.devices = static_cast<int>(o.Int("devices", 1, 4096));

  const JsonObject host = o.Object("host");
  host.CheckKeys({"flops", "memory", "bandwidth", "latency"});
  n.host_flops = host.FlopRate("flops");
  n.host_memory_bytes = host.Bytes("memory");
  n.host_link = ParseLinkIn(host);

  if (o.Has("nvlink")) {
    const JsonObject nv = o.Object("nvlink");
    nv.CheckKeys({"bandwidth", "latency", "topology", "edges"});
    n.has_nvlink = true;
    n.nvlink_pointer = nv.Pointer();
    n.nvlink = ParseLinkIn(nv);
    if (nv.Has("topology") == nv.Has("edges"))
      throw nv.Error("give exactly one of \"topology\" and \"edges\"");
    if (nv.Has("topology")) {
      const std::string t = nv.String("topology");
      const std::vector<std::string> known = {"dgx1-hybrid-cube-mesh", "dgx1v-hybrid-cube-mesh"};
      if (t != known[0] && t != known[1])
        throw nv.Error("topology", "unknown NVLink topology \"" + t + "\"" + DidYouMean(t, known));
      if (n.devices != 8)
        throw nv.Error("topology", "\"" + t + "\" joins 8 devices; node type \"" + name +
                                       "\" has " + std::to_string(n.devices));
      n.nvlink_edges = HybridCubeMesh(t == known[1]);
    } else {
      const Json& edges = nv.Array("edges");
      std::set<std::pair<int, int>> seen;
      for (size_t i = 0; i < edges.size(); ++i) {
        const std::string p = PointerJoin(nv.PointerOf("edges"), i);
        const Json& e = edges[i];
        if (!e.is_array() || e.size() < 2 || e.size() > 3)
          throw InputError(o.File(), p, "expected [a, b] or [a, b, links], found " + e.dump());
        std::array<int, 3> edge{0, 0, 1};
        for (size_t k = 0; k < e.size(); ++k) {
          if (!e[k].is_number_integer() || e[k].get<int64_t>() < (k == 2 ? 1 : 0))
            throw InputError(o.File(), PointerJoin(p, k),
                             std::string(k == 2 ? "link count must be an integer >= 1"
                                                : "device index must be an integer >= 0") +
                                 ", found " + e[k].dump());
          if (k == 2 && e[k].get<int64_t>() > kMaxLinksPerEdge)
            throw InputError(o.File(), PointerJoin(p, k),
                             "link count " + e[k].dump() +
                                 " is more than one NVLink edge may have (" +
                                 std::to_string(kMaxLinksPerEdge) + ")");
          if (k < 2 && e[k].get<int64_t>() >= n.devices)
            throw InputError(o.File(), PointerJoin(p, k),
                             "device " + e[k].dump() + " does not exist: node type \"" + name +
                                 "\" has " + std::to_string(n.devices) + " devices");
          edge[k] = static_cast<int>(e[k].get<int64_t>());
        }
        if (edge[0] == edge[1])
          throw InputError(o.File(), p, "an NVLink edge joins two different devices");
        auto key = std::minmax(edge[0], edge[1]);
        if (!seen.insert(key).second)
          throw InputError(
              o.File(), p,
              "edge " + e.dump() + " is listed twice; give parallel links as [a, b, links]");
        n.nvlink_edges.push_back(edge);
      }
    }
  }
  if (o.Has("nvswitch")) {
    n.has_nvswitch = true;
    n.nvswitch = ParseLink(o.Object("nvswitch"));
  }
  if (o.Has("nics")) {
    const JsonObject nics = o.Object("nics");
    nics.CheckKeys({"count", "bandwidth", "latency"});
    n.nics = static_cast<int>(nics.Int("count", 0, 64));
    if (n.nics > 0) n.nic = ParseLinkIn(nics);
  }
  if (o.Has("pcie")) {
    const JsonObject pc = o.Object("pcie");
    pc.CheckKeys({"bandwidth", "latency", "shared", "roots", "root_link", "switches"});
    n.has_pcie = true;
    n.pcie_pointer = pc.Pointer();
    n.pcie = ParseLinkIn(pc);
    n.pcie_shared = pc.Bool("shared", false);
    if (pc.Has("roots")) {
      const Json& roots = pc.Array("roots");
      for (size_t i = 0; i < roots.size(); ++i) {
        if (!roots[i].is_string())
          throw InputError(o.File(), PointerJoin(pc.PointerOf("roots"), i),
                           std::string("expected a string, found ") + JsonTypeName(roots[i]));
        n.pcie_roots.push_back(roots[i].get<std::string>());
      }
      if (n.pcie_roots.empty()) throw pc.Error("roots", "needs at least one root");
    } else {
      n.pcie_roots = {"root"};
    }
    if (n.pcie_roots.size() > 1) {
      if (!pc.Has("root_link"))
        throw pc.Error("missing required key \"root_link\" (the link between the " +
                       std::to_string(n.pcie_roots.size()) + " roots)");
      n.root_link = ParseLink(pc.Object("root_link"));
    }
    std::set<int> placed_devices, placed_nics;
    std::set<std::string> names(n.pcie_roots.begin(), n.pcie_roots.end());
    if (pc.Has("switches")) {
      for (const JsonObject& s : pc.ObjectArray("switches")) {
        s.CheckKeys({"name", "parent", "devices", "nics"});
        PcieSwitchSpec sw;
        sw.pointer = s.Pointer();
        sw.name = s.String("name");
        if (!names.insert(sw.name).second)
          throw s.Error("name", "a PCIe switch or root named \"" + sw.name + "\" already exists");
        sw.parent = s.String("parent");
        if (s.Has("devices")) {
          auto devs = s.IntArray("devices", 0);
          for (size_t i = 0; i < devs.size(); ++i) {
            CheckDeviceIndex(s, "devices", i, devs[i], n.devices, name);
            if (!placed_devices.insert(static_cast<int>(devs[i])).second)
              throw InputError(s.File(), PointerJoin(s.PointerOf("devices"), i),
                               "device " + std::to_string(devs[i]) +
                                   " is already attached to another PCIe switch");
            sw.devices.push_back(static_cast<int>(devs[i]));
          }
        }
        if (s.Has("nics")) {
          auto nics = s.IntArray("nics", 0);
          for (size_t i = 0; i < nics.size(); ++i) {
            if (nics[i] >= n.nics)
              throw InputError(s.File(), PointerJoin(s.PointerOf("nics"), i),
                               "NIC " + std::to_string(nics[i]) + " does not exist: node type \"" +
                                   name + "\" has " + std::to_string(n.nics) +
                                   (n.nics == 1 ? " NIC" : " NICs"));
            if (!placed_nics.insert(static_cast<int>(nics[i])).second)
              throw InputError(
                  s.File(), PointerJoin(s.PointerOf("nics"), i),
                  "NIC " + std::to_string(nics[i]) + " is already attached to another PCIe switch");
            sw.nics.push_back(static_cast<int>(nics[i]));
          }
        }
        n.pcie_switches.push_back(sw);
      }
    }
  }
  return n;
}

FabricSpec ParseFabric(const JsonObject& o) {
  FabricSpec f;
  f.pointer = o.Pointer();
  f.type = o.String("type");
  const std::vector<std::string> types = {"switch", "fat-tree", "torus", "dragonfly"};
  if (f.type == "switch") {
    o.CheckKeys({"type", "source"});
  } else if (f.type == "fat-tree") {
    o.CheckKeys({"type", "levels", "source"});
    auto levels = o.ObjectArray("levels");
    if (levels.empty()) throw o.Error("levels", "a fat-tree needs at least one level");
    for (size_t i = 0; i < levels.size(); ++i) {
      const JsonObject& l = levels[i];
      const bool top = i + 1 == levels.size();
      if (top) {
        for (const char* k : {"up", "bandwidth", "latency"})
          if (l.Has(k))
            throw l.Error(k, std::string("the top level of a fat-tree has no uplinks: it takes ") +
                                 "only \"down\"; give \"" + k + "\" on the level below it");
        l.CheckKeys({"down"});
      } else {
        l.CheckKeys({"down", "up", "bandwidth", "latency"});
      }
      FatTreeLevel lv;
      lv.down = static_cast<int>(l.Int("down", 1, 100000));
      if (!top) {
        lv.up = static_cast<int>(l.Int("up", 1, 100000));
        lv.uplink = ParseLinkIn(l);
      }
      f.levels.push_back(lv);
    }
  } else if (f.type == "torus") {
    o.CheckKeys({"type", "dims", "terminals_per_router", "bandwidth", "latency", "source"});
    auto dims = o.IntArray("dims", 1, 1 << 20);
    if (dims.size() < 1 || dims.size() > 3)
      throw o.Error("dims",
                    "a torus has 1, 2 or 3 dimensions, found " + std::to_string(dims.size()));
    for (auto d : dims) f.dims.push_back(static_cast<int>(d));
    f.terminals_per_router = static_cast<int>(o.Int("terminals_per_router", 1, 1, 1024));
    f.link = ParseLinkIn(o);
  } else if (f.type == "dragonfly") {
    o.CheckKeys({"type", "routers_per_group", "terminals_per_router", "global_links_per_router",
                 "local", "global", "source"});
    f.routers_per_group = static_cast<int>(o.Int("routers_per_group", 1, 1024));
    f.terminals_per_router = static_cast<int>(o.Int("terminals_per_router", 1, 1024));
    f.global_links_per_router = static_cast<int>(o.Int("global_links_per_router", 1, 1024));
    f.local = ParseLink(o.Object("local"));
    f.global = ParseLink(o.Object("global"));
  } else {
    throw o.Error("type", "unknown fabric type \"" + f.type +
                              "\" (switch, fat-tree, torus or dragonfly)" +
                              DidYouMean(f.type, types));
  }
  return f;
}

}  // namespace

const std::vector<std::array<int, 3>>& HybridCubeMesh(bool volta) {
  // Two fully connected quads {0,1,2,3} and {4,5,6,7} plus the cross edges i -- i+4
  // (NVIDIA DGX-1 system architecture whitepaper, figure 3). With V100 each GPU has six links:
  // the edges below marked 2 are doubled (nvidia-smi topo -m on a DGX-1V shows NV2 there).
  static const std::vector<std::array<int, 3>> p100 = {
      {0, 1, 1}, {0, 2, 1}, {0, 3, 1}, {1, 2, 1}, {1, 3, 1}, {2, 3, 1}, {4, 5, 1}, {4, 6, 1},
      {4, 7, 1}, {5, 6, 1}, {5, 7, 1}, {6, 7, 1}, {0, 4, 1}, {1, 5, 1}, {2, 6, 1}, {3, 7, 1}};
  static const std::vector<std::array<int, 3>> v100 = {
      {0, 1, 1}, {0, 2, 1}, {0, 3, 2}, {1, 2, 2}, {1, 3, 1}, {2, 3, 2}, {4, 5, 1}, {4, 6, 1},
      {4, 7, 2}, {5, 6, 2}, {5, 7, 1}, {6, 7, 2}, {0, 4, 2}, {1, 5, 2}, {2, 6, 1}, {3, 7, 1}};
  return volta ? v100 : p100;
}

ClusterSpec ParseClusterSpec(const Json& j, const std::string& file) {
  CheckDocumentKind(j, file, "cluster");
  JsonObject o(j, file, "");
  o.CheckKeys({"format", "version", "name", "description", "device_types", "node_types",
               "node_type", "nodes", "gpus", "node_overrides", "fabric", "price_per_device_hour",
               "source"});
  const std::string format = o.String("format");
  if (format != "convscale-cluster")
    throw o.Error("format", "expected \"convscale-cluster\", found \"" + format + "\"");
  const int64_t version = o.Int("version");
  if (version != 1)
    throw o.Error("version", "unsupported version " + std::to_string(version) +
                                 " (this convscale reads version 1)");
  ClusterSpec c;
  c.file = file;
  c.source = j;
  c.name = o.String("name");
  c.description = o.String("description", "");
  {
    const JsonObject dts = o.Object("device_types");
    for (const auto& [name, v] : dts.Raw().items())
      c.device_types[name] =
          ParseDeviceType(name, JsonObject(v, file, dts.PointerOf(name.c_str())));
    if (c.device_types.empty()) throw o.Error("device_types", "needs at least one device type");
  }
  {
    const JsonObject nts = o.Object("node_types");
    for (const auto& [name, v] : nts.Raw().items())
      c.node_types[name] =
          ParseNodeType(name, JsonObject(v, file, nts.PointerOf(name.c_str())), c.device_types);
    if (c.node_types.empty()) throw o.Error("node_types", "needs at least one node type");
  }
  c.node_type = o.String("node_type");
  if (!c.node_types.count(c.node_type)) {
    std::vector<std::string> names;
    for (const auto& [k, v] : c.node_types) names.push_back(k);
    throw o.Error("node_type",
                  "unknown node type \"" + c.node_type + "\"" + DidYouMean(c.node_type, names));
  }
  c.nodes = static_cast<int>(o.Int("nodes", 1, 1, 1 << 20));
  c.gpus = static_cast<int>(o.Int("gpus", 0, 1, 1 << 24));
  if (o.Has("node_overrides")) {
    for (const JsonObject& ov : o.ObjectArray("node_overrides")) {
      ov.CheckKeys({"node", "speed_factor", "device_type"});
      NodeOverride n;
      n.node = static_cast<int>(ov.Int("node", 0, 1 << 20));
      if (ov.Has("speed_factor")) {
        n.speed_factor = ov.Number("speed_factor");
        if (!(n.speed_factor > 0))
          throw ov.Error("speed_factor",
                         "must be greater than zero, found " + ov.Get("speed_factor").dump());
      }
      n.device_type = ov.String("device_type", "");
      if (!n.device_type.empty() && !c.device_types.count(n.device_type))
        throw ov.Error("device_type", "unknown device type \"" + n.device_type + "\"" +
                                          DidYouMean(n.device_type, Keys(c.device_types)));
      c.overrides.push_back(n);
    }
  }
  c.fabric = ParseFabric(o.Object("fabric"));
  if (o.Has("price_per_device_hour")) {
    c.price_per_device_hour = o.Number("price_per_device_hour");
    if (c.price_per_device_hour < 0) throw o.Error("price_per_device_hour", "must not be negative");
  }
  return c;
}

}  // namespace detail
}  // namespace convscale::topo
