// The SimGrid platform of a cluster: hosts, links and routes equal the cluster's, hop by hop, for
// both the lazily routed in-memory platform and the exported XML loaded back into SimGrid.
// Each check runs in a child process (SimGrid 3.32 allows one engine per process).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <simgrid/s4u.hpp>

#include "model/util/error.h"
#include "simulate/platform.h"
#include "tests/simulate/fake_cluster.h"

namespace convscale::sim {
namespace {

using testing::FakeCluster;
namespace sg4 = simgrid::s4u;

// Compares every route of `hosts` with the cluster's; exits 0 when all match, else with a code
// naming the first check that failed (2 link count, 3 link attributes, 4 routes, 5 host speed,
// 6 missing host).
[[noreturn]] void CheckRoutesAndExit(const topo::Cluster& c, const std::vector<sg4::Host*>& hosts) {
  int bad = 0;
  for (int a = 0; a < c.num_endpoints(); ++a) {
    for (int b = 0; b < c.num_endpoints(); ++b) {
      if (a == b) continue;
      std::vector<sg4::Link*> links;
      double lat = 0;
      hosts[a]->route_to(hosts[b], links, &lat);
      const topo::Route& want = c.route(a, b);
      std::string got, exp;
      for (const sg4::Link* l : links) got += l->get_name() + " ";
      for (const topo::Hop& h : want.hops)
        exp += SimgridLinkName(c.links()[h.link], h.forward) + " ";
      if (got != exp || std::abs(lat - want.latency_s) > 1e-15) {
        std::fprintf(stderr, "route %d->%d: got [%s] %g s, want [%s] %g s\n", a, b, got.c_str(),
                     lat, exp.c_str(), want.latency_s);
        ++bad;
      }
    }
  }
  if (bad > 0) ::_exit(4);
  for (int a = 0; a < c.num_endpoints(); ++a) {
    const double want = EndpointFlopRate(c.endpoint(a), topo::Precision::kFP32);
    if (hosts[a]->get_speed() != want) ::_exit(5);
  }
  std::fflush(stderr);
  ::_exit(bad == 0 ? 0 : 1);
}

[[noreturn]] void BuildAndCheck(const topo::Cluster& c) {
  int argc = 1;
  char arg0[] = "test";
  char* argv[] = {arg0, nullptr};
  sg4::Engine e(&argc, argv);
  ConfigureEngine(e);
  Platform p(c, {});
  std::vector<sg4::Host*> hosts;
  for (int i = 0; i < c.num_endpoints(); ++i) hosts.push_back(p.host(i));
  // Two SimGrid links per split-duplex link, plus SimGrid's own loopback.
  if (e.get_link_count() != 2 * c.links().size() + 1) ::_exit(2);
  CheckRoutesAndExit(c, hosts);
}

[[noreturn]] void LoadXmlAndCheck(const topo::Cluster& c, const std::string& path) {
  int argc = 1;
  char arg0[] = "test";
  char* argv[] = {arg0, nullptr};
  sg4::Engine e(&argc, argv);
  e.load_platform(path);
  std::vector<sg4::Host*> hosts;
  for (int i = 0; i < c.num_endpoints(); ++i) {
    sg4::Host* h = e.host_by_name_or_null(c.endpoint(i).name);
    if (h == nullptr) ::_exit(6);
    hosts.push_back(h);
  }
  if (e.get_host_count() != static_cast<size_t>(c.num_endpoints()) ||
      e.get_link_count() != 2 * c.links().size() + 1)
    ::_exit(2);
  for (const topo::Link& l : c.links()) {
    const sg4::Link* up = e.link_by_name_or_null(l.name + "_UP");
    if (up == nullptr || up->get_bandwidth() != l.bandwidth_Bps || up->get_latency() != l.latency_s)
      ::_exit(3);
  }
  CheckRoutesAndExit(c, hosts);
}

TEST(PlatformTest, LazyRoutesEqualClusterRoutesOnAStar) {
  auto c = FakeCluster::Star(5, 12.5e9, 1e-6);
  EXPECT_EXIT(BuildAndCheck(*c), ::testing::ExitedWithCode(0), "");
}

TEST(PlatformTest, LazyRoutesEqualClusterRoutesOnATree) {
  auto c = FakeCluster::Tree(3, 2, 100e9, 12.5e9, 1e-6);
  EXPECT_EXIT(BuildAndCheck(*c), ::testing::ExitedWithCode(0), "");
}

TEST(PlatformTest, ExportedXmlLoadsBackWithTheSameHostsLinksAndRoutes) {
  auto c = FakeCluster::Tree(2, 3, 300e9, 25e9, 0.5e-6, 7e12);
  const std::string xml = ExportSimgridXml(*c);
  EXPECT_NE(xml.find("<prop id=\"network/model\" value=\"CM02\"/>"), std::string::npos);
  EXPECT_NE(xml.find("<link id=\"fabric/up1\" bandwidth=\"25000000000Bps\" "
                     "latency=\"4.9999999999999998e-07s\" "
                     "sharing_policy=\"SPLITDUPLEX\"/>"),
            std::string::npos)
      << xml;
  char path[] = "/tmp/convscale-platform-XXXXXX.xml";
  const int fd = ::mkstemps(path, 4);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, xml.data(), xml.size()), static_cast<ssize_t>(xml.size()));
  ::close(fd);
  EXPECT_EXIT(LoadXmlAndCheck(*c, path), ::testing::ExitedWithCode(0), "");
  std::remove(path);
}

TEST(PlatformTest, BackgroundLoadOutsideAFractionIsAnInputError) {
  auto c = FakeCluster::Star(2, 1e9, 1e-6);
  PlatformOptions o;
  o.background_load = 1.5;
  try {
    ExportSimgridXml(*c, o);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--background-load: 1.5 is not a fraction in [0, 1)");
  }
}

}  // namespace
}  // namespace convscale::sim
