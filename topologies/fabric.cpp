// The fabrics between nodes and their routes. Each fabric routes structurally (no search), so a
// route costs O(levels) or O(dimensions) however large the cluster.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "model/util/error.h"
#include "topologies/graph.h"

namespace convscale::topo::detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// The most switches or routers a fabric may have: vertex ids stay ints and a description that
// asks for more (a 2^20 x 2^20 torus, ten fat-tree levels of 10^5 uplinks) is a located
// InputError, not an overflow or a failed allocation.
constexpr int64_t kMaxFabricSwitches = int64_t{1} << 22;

// A count that may not fit 64 bits, as digits ("1e+45" beyond 2^53).
std::string FormatCount(double n) {
  if (n < 9007199254740992.0) return std::to_string(static_cast<int64_t>(n));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", n);
  return buf;
}

std::vector<int> TerminalLinks(const std::vector<int>& terminals, const std::vector<int>& first,
                               const LinkSpec& s, GraphData& g) {
  std::vector<int> out;
  for (size_t t = 0; t < terminals.size(); ++t)
    out.push_back(
        g.AddLink("fabric/nic/" + g.vertex_names[terminals[t]], terminals[t], first[t], s, "nic"));
  return out;
}

// Every terminal on one non-blocking switch.
class SwitchFabric : public Fabric {
 public:
  SwitchFabric(const std::vector<int>& terminals, const LinkSpec& s, GraphData& g) {
    if (terminals.empty()) return;
    const int sw = g.AddVertex("fabric/switch");
    term_ = TerminalLinks(terminals, std::vector<int>(terminals.size(), sw), s, g);
  }
  void Route(int s, int d, std::vector<Hop>& out) const override {
    out.push_back({term_[s], true});
    out.push_back({term_[d], false});
  }
  std::string Summary() const override { return "one switch"; }
  std::optional<double> ClosedFormSwitchBisection() const override { return kInf; }

 private:
  std::vector<int> term_;
};

// An extended generalized fat-tree XGFT(h; m1..mh; w1..wh) with w1 = 1 (Ohring et al. 1995):
// a level-i switch has m_i children and w_{i+1} parents. Level-i nodes are labelled by the
// digits (a_{i+1..h}; b_1..b_i); index = A * W_i + B with A the subtree number and B the parent
// choices so far. Terminal t has digits a_1..a_h of t in the mixed radix m. The top level grows
// to fit the terminals (m_h = ceil(T / M_{h-1})); levels the terminals do not need are dropped;
// switches with no terminal below them are not built.
//
// Routing is D-mod-K (Zahavi et al. 2010): up to the lowest common level k, choosing at level i
// the parent b_{i+1} = floor(d / (w_2 ... w_i)) mod w_{i+1} for destination d, then down along
// the only path. Different destinations under one leaf leave through different uplinks.
class FatTree : public Fabric {
 public:
  FatTree(const FabricSpec& spec, const std::vector<int>& terminals, const LinkSpec& s,
          GraphData& g, const std::string& file)
      : T_(static_cast<int64_t>(terminals.size())) {
    if (T_ == 0) return;
    h_ = static_cast<int>(spec.levels.size());
    m_.assign(h_ + 1, 1);
    w_.assign(h_ + 1, 1);
    for (int j = 1; j <= h_; ++j) m_[j] = spec.levels[j - 1].down;
    for (int j = 2; j <= h_; ++j) w_[j] = spec.levels[j - 2].up;
    // Products saturate at T_ (levels beyond it are dropped below, so nothing needs more).
    auto prefix = [&](const std::vector<int64_t>& v, int upto) {
      int64_t p = 1;
      for (int j = 1; j <= upto && p < T_; ++j) p *= v[j];
      return p;
    };
    while (h_ > 1 && prefix(m_, h_ - 1) >= T_) --h_;
    m_[h_] = (T_ + prefix(m_, h_ - 1) - 1) / prefix(m_, h_ - 1);
    m_.resize(h_ + 1);
    w_.resize(h_ + 1);
    // Switch count, in doubles first: the uplink products may exceed 64 bits.
    double switches = 0, w = 1, m = 1;
    for (int i = 1; i <= h_; ++i) {
      w *= static_cast<double>(w_[i]);
      m *= static_cast<double>(m_[i]);
      switches += std::ceil(static_cast<double>(T_) / m) * w;
    }
    if (switches > static_cast<double>(kMaxFabricSwitches))
      throw InputError(file, spec.pointer,
                       "this fat-tree needs " + FormatCount(switches) +
                           " switches, more than a fabric may have (" +
                           std::to_string(kMaxFabricSwitches) + ")");
    M_.assign(h_ + 1, 1);
    W_.assign(h_ + 1, 1);
    for (int i = 1; i <= h_; ++i) {
      M_[i] = M_[i - 1] * m_[i];
      W_[i] = W_[i - 1] * w_[i];
    }
    // Switch vertices.
    std::vector<std::vector<int>> vid(h_ + 1);
    for (int i = 1; i <= h_; ++i) {
      const int64_t count = (M_[h_] / M_[i]) * W_[i];
      vid[i].assign(count, -1);
      for (int64_t A = 0; A < M_[h_] / M_[i]; ++A) {
        if (A * M_[i] >= T_) break;
        for (int64_t B = 0; B < W_[i]; ++B)
          vid[i][A * W_[i] + B] =
              g.AddVertex("fabric/l" + std::to_string(i) + "/s" + std::to_string(A * W_[i] + B));
      }
    }
    // Terminal links, then uplinks level by level.
    up_.assign(h_, {});
    std::vector<int> leaf(T_);
    for (int64_t t = 0; t < T_; ++t) leaf[t] = vid[1][t / m_[1]];
    up_[0] = TerminalLinks(terminals, leaf, s, g);
    for (int i = 1; i < h_; ++i) {
      const LinkSpec& ls = spec.levels[i - 1].uplink;
      const int64_t wi = w_[i + 1];
      up_[i].assign(vid[i].size() * wi, -1);
      for (int64_t A = 0; A < M_[h_] / M_[i]; ++A) {
        if (A * M_[i] >= T_) break;
        for (int64_t B = 0; B < W_[i]; ++B) {
          const int64_t idx = A * W_[i] + B;
          for (int64_t c = 0; c < wi; ++c) {
            const int64_t parent = (A / m_[i + 1]) * W_[i + 1] + B + c * W_[i];
            up_[i][idx * wi + c] =
                g.AddLink("fabric/l" + std::to_string(i) + "/s" + std::to_string(idx) + "/up" +
                              std::to_string(c),
                          vid[i][idx], vid[i + 1][parent], ls, "fabric-l" + std::to_string(i));
          }
        }
      }
    }
    for (int i = 1; i < h_; ++i)
      tier_capacity_.push_back(static_cast<double>(std::count_if(up_[i].begin(), up_[i].end(),
                                                                 [](int l) { return l >= 0; })) *
                               spec.levels[i - 1].uplink.bandwidth_Bps);
  }

  void Route(int s, int d, std::vector<Hop>& out) const override {
    int k = 1;
    while (s / M_[k] != d / M_[k]) ++k;
    int64_t A = s, B = 0, key = d;
    for (int i = 0; i < k; ++i) {
      const int64_t wi = w_[i + 1];
      const int64_t c = key % wi;
      key /= wi;
      out.push_back({up_[i][(A * W_[i] + B) * wi + c], true});
      A /= m_[i + 1];
      B += c * W_[i];
    }
    const size_t at = out.size();
    for (int i = k - 1; i >= 0; --i) {
      const int64_t wi = w_[i + 1];
      const int64_t Ai = d / M_[i];
      const int64_t c = B / W_[i];
      B %= W_[i];
      out.push_back({up_[i][(Ai * W_[i] + B) * wi + c], false});
    }
    (void)at;
  }

  std::string Summary() const override {
    if (T_ == 0) return "fat-tree (no terminals)";
    std::string s = "fat-tree, " + std::to_string(h_) + (h_ == 1 ? " level" : " levels") + ":";
    for (int i = 1; i <= h_; ++i) {
      s += " l" + std::to_string(i) + " " + std::to_string(m_[i]) + " down";
      if (i < h_) s += "/" + std::to_string(w_[i + 1]) + " up";
      s += i < h_ ? "," : "";
    }
    return s;
  }

  // In a full tree whose top switches have an even number of children, cutting the top in half
  // cuts half the links of every tier; the least tier is the bisection.
  std::optional<double> ClosedFormSwitchBisection() const override {
    if (T_ == 0 || h_ == 1) return kInf;
    if (T_ != M_[h_] || m_[h_] % 2 != 0) return std::nullopt;
    double best = kInf;
    for (double c : tier_capacity_) best = std::min(best, c / 2);
    return best;
  }

 private:
  int64_t T_ = 0;
  int h_ = 0;
  std::vector<int64_t> m_, w_, M_, W_;
  std::vector<std::vector<int>> up_;   // up_[i][node index * w_{i+1} + choice] (level 0: terminals)
  std::vector<double> tier_capacity_;  // total switch-to-switch capacity per tier 1..h-1
};

// A 1-, 2- or 3-dimensional torus of routers with wrap-around links; terminal t sits on router
// t / terminals_per_router; routers are numbered with the first dimension fastest. Routing is
// dimension order, each dimension the short way round (the positive way on a tie).
class Torus : public Fabric {
 public:
  Torus(const FabricSpec& spec, const std::vector<int>& terminals, const LinkSpec& s, GraphData& g,
        const std::string& file)
      : dims_(spec.dims), tpr_(spec.terminals_per_router), bw_(spec.link.bandwidth_Bps) {
    R_ = 1;
    for (int d : dims_) R_ *= d;  // at most 3 dimensions of at most 2^20: fits 64 bits
    if (R_ > kMaxFabricSwitches) {
      std::string shape;
      for (int d : dims_) shape += (shape.empty() ? "" : "x") + std::to_string(d);
      throw InputError(file, spec.pointer,
                       "the torus " + shape + " has " + std::to_string(R_) +
                           " routers, more than a fabric may have (" +
                           std::to_string(kMaxFabricSwitches) + ")");
    }
    T_ = static_cast<int64_t>(terminals.size());
    if (T_ > R_ * tpr_) {
      std::string shape;
      for (int d : dims_) shape += (shape.empty() ? "" : "x") + std::to_string(d);
      throw InputError(file, spec.pointer,
                       "the torus " + shape + " with " + std::to_string(tpr_) +
                           " terminals per router holds " + std::to_string(R_ * tpr_) +
                           " terminals; this cluster needs " + std::to_string(T_));
    }
    stride_.assign(dims_.size(), 1);
    for (size_t j = 1; j < dims_.size(); ++j) stride_[j] = stride_[j - 1] * dims_[j - 1];
    std::vector<int> vid(R_);
    for (int64_t r = 0; r < R_; ++r) vid[r] = g.AddVertex("fabric/torus/r" + std::to_string(r));
    plus_.assign(R_ * dims_.size(), -1);
    for (int64_t r = 0; r < R_; ++r)
      for (size_t j = 0; j < dims_.size(); ++j) {
        if (dims_[j] < 2 || (dims_[j] == 2 && Coord(r, j) == 1)) continue;
        plus_[r * dims_.size() + j] =
            g.AddLink("fabric/torus/r" + std::to_string(r) + "/d" + std::to_string(j) + "+", vid[r],
                      vid[Step(r, j, +1)], spec.link, "fabric-torus");
      }
    std::vector<int> first(T_);
    for (int64_t t = 0; t < T_; ++t) first[t] = vid[t / tpr_];
    term_ = TerminalLinks(terminals, first, s, g);
  }

  void Route(int s, int d, std::vector<Hop>& out) const override {
    out.push_back({term_[s], true});
    int64_t cur = s / tpr_;
    const int64_t dst = d / tpr_;
    for (size_t j = 0; j < dims_.size(); ++j) {
      const int k = dims_[j];
      int delta = ((Coord(dst, j) - Coord(cur, j)) % k + k) % k;
      const bool positive = delta <= k - delta;
      int steps = positive ? delta : k - delta;
      for (; steps > 0; --steps) {
        if (positive) {
          out.push_back(PlusHop(cur, j));
          cur = Step(cur, j, +1);
        } else {
          const int64_t prev = Step(cur, j, -1);
          Hop h = PlusHop(prev, j);
          h.forward = !h.forward;
          out.push_back(h);
          cur = prev;
        }
      }
    }
    out.push_back({term_[d], false});
  }

  std::string Summary() const override {
    std::string shape;
    for (int d : dims_) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    return std::to_string(dims_.size()) + "D torus " + shape + ", " + std::to_string(tpr_) +
           " terminal(s) per router";
  }

  // Cutting an even dimension of size k in half crosses 2 R / k links (R / 2 for k = 2).
  std::optional<double> ClosedFormSwitchBisection() const override {
    if (T_ != R_ * tpr_) return std::nullopt;
    std::optional<double> best;
    for (int k : dims_) {
      if (k % 2 != 0) continue;
      const double links = k == 2 ? R_ / 2.0 : 2.0 * R_ / k;
      if (!best || links * bw_ < *best) best = links * bw_;
    }
    return best;
  }

 private:
  int Coord(int64_t r, size_t j) const { return static_cast<int>((r / stride_[j]) % dims_[j]); }
  int64_t Step(int64_t r, size_t j, int dir) const {
    const int c = Coord(r, j);
    const int n = ((c + dir) % dims_[j] + dims_[j]) % dims_[j];
    return r + (n - c) * stride_[j];
  }
  // The link that moves +1 along dimension j from router r, and its direction.
  Hop PlusHop(int64_t r, size_t j) const {
    if (dims_[j] == 2 && Coord(r, j) == 1) return {plus_[Step(r, j, +1) * dims_.size() + j], false};
    return {plus_[r * dims_.size() + j], true};
  }

  std::vector<int> dims_;
  int64_t tpr_;
  double bw_;
  int64_t R_ = 1, T_ = 0;
  std::vector<int64_t> stride_;
  std::vector<int> plus_;
  std::vector<int> term_;
};

// A dragonfly (Kim et al. 2008): groups of a routers joined all-to-all by local links; each
// router has h global links; group i's global port q (router q / h) leads to group q if q < i,
// else q + 1, so every pair of groups shares one global link (at most a*h + 1 groups). Routes are
// minimal: local hop to the router holding the global link, the global link, local hop.
class Dragonfly : public Fabric {
 public:
  Dragonfly(const FabricSpec& spec, const std::vector<int>& terminals, const LinkSpec& s,
            GraphData& g, const std::string& file)
      : a_(spec.routers_per_group),
        p_(spec.terminals_per_router),
        h_(spec.global_links_per_router) {
    const int64_t T = static_cast<int64_t>(terminals.size());
    const int64_t routers = (T + p_ - 1) / p_;
    G_ = static_cast<int>((routers + a_ - 1) / a_);
    if (G_ > a_ * h_ + 1)
      throw InputError(file, spec.pointer,
                       "a dragonfly with " + std::to_string(a_) + " routers per group and " +
                           std::to_string(h_) + " global links per router has at most " +
                           std::to_string(a_ * h_ + 1) + " groups; this cluster needs " +
                           std::to_string(G_));
    std::vector<int> vid(static_cast<size_t>(G_) * a_);
    for (int gi = 0; gi < G_; ++gi)
      for (int r = 0; r < a_; ++r)
        vid[gi * a_ + r] =
            g.AddVertex("fabric/dragonfly/g" + std::to_string(gi) + "/r" + std::to_string(r));
    local_.assign(static_cast<size_t>(G_) * a_ * a_, -1);
    for (int gi = 0; gi < G_; ++gi)
      for (int r1 = 0; r1 < a_; ++r1)
        for (int r2 = r1 + 1; r2 < a_; ++r2) {
          const int l = g.AddLink("fabric/dragonfly/g" + std::to_string(gi) + "/r" +
                                      std::to_string(r1) + "-r" + std::to_string(r2),
                                  vid[gi * a_ + r1], vid[gi * a_ + r2], spec.local, "fabric-local");
          local_[(gi * a_ + r1) * a_ + r2] = l;
          local_[(gi * a_ + r2) * a_ + r1] = l;
        }
    global_.assign(static_cast<size_t>(G_) * G_, -1);
    for (int i = 0; i < G_; ++i)
      for (int j = i + 1; j < G_; ++j) {
        const int l =
            g.AddLink("fabric/dragonfly/global/g" + std::to_string(i) + "-g" + std::to_string(j),
                      vid[i * a_ + Port(i, j) / h_], vid[j * a_ + Port(j, i) / h_], spec.global,
                      "fabric-global");
        global_[i * G_ + j] = l;
        global_[j * G_ + i] = l;
      }
    std::vector<int> first(T);
    for (int64_t t = 0; t < T; ++t) first[t] = vid[t / p_];
    term_ = TerminalLinks(terminals, first, s, g);
  }

  void Route(int s, int d, std::vector<Hop>& out) const override {
    out.push_back({term_[s], true});
    const int rs = s / p_, rd = d / p_;
    const int gs = rs / a_, gd = rd / a_;
    if (gs == gd) {
      if (rs != rd) Local(gs, rs % a_, rd % a_, out);
    } else {
      const int ro = Port(gs, gd) / h_, ri = Port(gd, gs) / h_;
      if (rs % a_ != ro) Local(gs, rs % a_, ro, out);
      out.push_back({global_[gs * G_ + gd], gs < gd});
      if (ri != rd % a_) Local(gd, ri, rd % a_, out);
    }
    out.push_back({term_[d], false});
  }

  std::string Summary() const override {
    return "dragonfly, " + std::to_string(G_) + " group(s) of " + std::to_string(a_) +
           " routers, " + std::to_string(p_) + " terminal(s) and " + std::to_string(h_) +
           " global link(s) per router";
  }
  std::optional<double> ClosedFormSwitchBisection() const override { return std::nullopt; }

 private:
  // Global port of group i that leads to group j.
  int Port(int i, int j) const { return j < i ? j : j - 1; }
  void Local(int gi, int r1, int r2, std::vector<Hop>& out) const {
    out.push_back({local_[(gi * a_ + r1) * a_ + r2], r1 < r2});
  }
  int a_, p_, h_, G_ = 0;
  std::vector<int> local_, global_, term_;
};

}  // namespace

std::unique_ptr<Fabric> BuildFabric(const FabricSpec& spec, const std::vector<int>& terminals,
                                    const LinkSpec& terminal_link, GraphData& g,
                                    const std::string& file) {
  if (spec.type == "fat-tree")
    return std::make_unique<FatTree>(spec, terminals, terminal_link, g, file);
  if (spec.type == "torus") return std::make_unique<Torus>(spec, terminals, terminal_link, g, file);
  if (spec.type == "dragonfly")
    return std::make_unique<Dragonfly>(spec, terminals, terminal_link, g, file);
  return std::make_unique<SwitchFabric>(terminals, terminal_link, g);
}

}  // namespace convscale::topo::detail
