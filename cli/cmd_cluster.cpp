// clusters, cluster show NAME|FILE [--gpus N] [--nodes N] [--servers N] [--json] [-o FILE].
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "model/util/context.h"
#include "model/util/units.h"
#include "topologies/analysis.h"
#include "topologies/cluster.h"

namespace convscale::cli {
namespace {

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string Bandwidths(double lo, double hi) {
  if (lo == hi) return units::FormatBandwidth(lo);
  return units::FormatBandwidth(lo) + " .. " + units::FormatBandwidth(hi);
}

std::string ShowText(const topo::Cluster& c, const topo::ClusterSummary& s) {
  std::ostringstream o;
  o << s.name << "\n";
  o << "  devices          " << s.devices << " x " << s.device_type << " (" << s.devices_per_node
    << " per node), " << s.nodes << (s.nodes == 1 ? " node" : " nodes") << "\n";
  o << "  fabric           " << s.fabric << "\n";
  o << "  graph            " << s.endpoints << " endpoints, " << s.vertices << " vertices, "
    << c.links().size() << " links\n";
  o << "  links by level\n";
  o << "    " << Pad("level", 16) << Pad("links", 8) << Pad("bandwidth", 24) << "latency\n";
  for (const auto& l : s.levels)
    o << "    " << Pad(l.level, 16) << Pad(std::to_string(l.links), 8)
      << Pad(Bandwidths(l.min_bandwidth_Bps, l.max_bandwidth_Bps), 24)
      << units::FormatTime(l.latency_s) << "\n";
  o << "  bisection        " << units::FormatBandwidth(s.bisection_bandwidth_Bps) << "\n";
  if (s.min_pair_a >= 0) {
    o << "  slowest pair     " << c.endpoint(s.min_pair_a).name << " -> "
      << c.endpoint(s.min_pair_b).name << ": " << units::FormatBandwidth(s.min_pair_bandwidth_Bps)
      << "\n";
    o << "  farthest pair    " << c.endpoint(s.max_latency_a).name << " -> "
      << c.endpoint(s.max_latency_b).name << ": " << units::FormatTime(s.max_pair_latency_s)
      << "\n";
  }
  o << "  diameter         " << s.diameter << " hops"
    << (s.all_pairs ? "" : " (pairs from the first, middle and last nodes)") << "\n";
  if (s.price_per_device_hour > 0)
    o << "  price            " << s.price_per_device_hour << " per device-hour\n";
  return o.str();
}

Json ShowJson(const topo::Cluster& c, const topo::ClusterSummary& s) {
  Json j = Json::object();
  j["context"] = MakeContext("cluster", 1);
  j["name"] = s.name;
  j["devices"] = s.devices;
  j["nodes"] = s.nodes;
  j["devices_per_node"] = s.devices_per_node;
  j["device_type"] = s.device_type;
  j["endpoints"] = s.endpoints;
  j["fabric"] = s.fabric;
  j["bisection_bandwidth_Bps"] = s.bisection_bandwidth_Bps;
  j["min_pair_bandwidth_Bps"] = s.min_pair_bandwidth_Bps;
  j["max_pair_latency_s"] = s.max_pair_latency_s;
  j["diameter_hops"] = s.diameter;
  j["all_pairs"] = s.all_pairs;
  if (s.min_pair_a >= 0) {
    j["min_pair"] = {c.endpoint(s.min_pair_a).name, c.endpoint(s.min_pair_b).name};
    j["max_latency_pair"] = {c.endpoint(s.max_latency_a).name, c.endpoint(s.max_latency_b).name};
  }
  Json levels = Json::array();
  for (const auto& l : s.levels)
    levels.push_back({{"level", l.level},
                      {"links", l.links},
                      {"min_bandwidth_Bps", l.min_bandwidth_Bps},
                      {"max_bandwidth_Bps", l.max_bandwidth_Bps},
                      {"latency_s", l.latency_s}});
  j["levels"] = levels;
  if (s.price_per_device_hour > 0) j["price_per_device_hour"] = s.price_per_device_hour;
  return j;
}

}  // namespace

void AddClusterCommands(CLI::App& app, Action& action) {
  auto* clusters = app.add_subcommand("clusters", "List the built-in clusters");
  clusters->callback([&action] {
    action = [] {
      std::cout << Pad("NAME", 24) << Pad("DEVICES/NODE", 14) << Pad("DEVICE", 18) << Pad("NIC", 18)
                << "FABRIC\n";
      for (const auto& name : topo::BuiltinClusterNames()) {
        auto c = topo::LoadCluster(name, {});
        const auto& s = topo::Summarize(*c);
        std::string nic = "-";
        for (const auto& l : s.levels)
          if (l.level == "nic")
            nic = std::to_string(l.links / std::max(1, s.nodes)) + " x " +
                  units::FormatBandwidth(l.min_bandwidth_Bps);
        std::cout << Pad(name, 24) << Pad(std::to_string(s.devices_per_node), 14)
                  << Pad(s.device_type, 18) << Pad(nic, 18) << s.fabric << "\n";
      }
      return 0;
    };
  });

  auto* cluster = app.add_subcommand("cluster", "Show a cluster description");
  cluster->require_subcommand(1);
  auto* show = cluster->add_subcommand(
      "show", "Print devices, links per level, bisection bandwidth, slowest pair and diameter");
  static std::string name, out;
  static int gpus = 0, nodes = 0, servers = 0;
  static bool json = false;
  show->add_option("cluster", name, "built-in cluster name or cluster JSON file")->required();
  show->add_option("--gpus", gpus, "number of devices (fills nodes in order)")
      ->check(CLI::PositiveNumber);
  show->add_option("--nodes", nodes, "number of nodes")->check(CLI::PositiveNumber);
  show->add_option("--servers", servers, "dedicated parameter-server hosts")
      ->check(CLI::NonNegativeNumber);
  show->add_flag("--json", json, "print JSON instead of a table");
  show->add_option("-o,--output", out, "write to this file instead of stdout");
  show->callback([&action] {
    action = [] {
      topo::ClusterOptions o;
      o.gpus = gpus;
      o.nodes = nodes;
      o.server_hosts = servers;
      auto c = topo::LoadCluster(name, o);
      const auto& s = topo::Summarize(*c);
      Emit(out, json ? ShowJson(*c, s).dump(2) + "\n" : ShowText(*c, s));
      return 0;
    };
  });
}

}  // namespace convscale::cli
