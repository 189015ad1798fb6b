// The per-collective tables: point-to-point schedules, closed forms, bus-bandwidth factors.
//
// Sources (docs/plan-format.md, "Collectives"): MPICH's algorithm headers for the alpha-beta
// costs (ring, recursive halving/doubling, Rabenseifner), NCCL's double binary tree
// (src/graph/trees.cc), nccl-tests doc/PERFORMANCE.md for the bus-bandwidth factors, Horovod's
// hierarchical all-reduce (intra-node reduce-scatter, inter-node all-reduce, intra-node
// all-gather).
#include "model/plan/collectives.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace convscale::plan {

namespace {

[[noreturn]] void Unsupported(Collective c, Algorithm a) {
  throw std::invalid_argument(std::string("the ") + Name(a) + " algorithm has no " + Name(c) +
                              " (tree: all-reduce only; hierarchical: all-reduce only; "
                              "halving-doubling: all-reduce, reduce-scatter and all-gather)");
}

bool PowerOfTwo(int n) {
  return n > 0 && (n & (n - 1)) == 0;
}
int FloorLog2(int n) {
  int l = 0;
  while ((1 << (l + 1)) <= n) ++l;
  return l;
}
int CeilLog2(int n) {
  int l = 0;
  while ((1 << l) < n) ++l;
  return l;
}

// Appends `src` steps to `dst`, mapping member indices through `map`, merging step k of src into
// step `at + k` of dst (so independent sub-collectives run concurrently).
void Merge(Schedule& dst, const Schedule& src, const std::vector<int>& map, size_t at) {
  if (dst.steps.size() < at + src.steps.size()) dst.steps.resize(at + src.steps.size());
  for (size_t k = 0; k < src.steps.size(); ++k)
    for (Transfer t : src.steps[k].transfers) {
      t.src = map[t.src];
      t.dst = map[t.dst];
      dst.steps[at + k].transfers.push_back(t);
    }
}

// Ring reduce-scatter or all-gather: n-1 steps, member i sends one chunk (bytes/n) to i+1.
void RingPass(Schedule& s, int n, double chunk, bool reduce) {
  for (int k = 0; k < n - 1; ++k) {
    Step st;
    for (int i = 0; i < n; ++i) st.transfers.push_back({i, (i + 1) % n, chunk, reduce});
    s.steps.push_back(std::move(st));
  }
}

// Chain broadcast (root 0 -> 1 -> ... -> n-1) or reduce (n-1 -> ... -> 0), pipelined in n chunks:
// 2(n-1) steps of bytes/n.
void ChainPipelined(Schedule& s, int n, double bytes, bool reduce) {
  const double chunk = bytes / n;
  for (int step = 0; step < 2 * n - 2; ++step) {
    Step st;
    for (int i = 0; i < n - 1; ++i) {
      const int c = step - i;  // chunk that hop i carries in this step
      if (c < 0 || c >= n) continue;
      if (reduce)
        st.transfers.push_back({n - 1 - i, n - 2 - i, chunk, true});
      else
        st.transfers.push_back({i, i + 1, chunk, false});
    }
    s.steps.push_back(std::move(st));
  }
}

// NCCL's binary tree over 0..n-1 (src/graph/trees.cc ncclGetBtree): returns parent (-1 root).
int BtreeParent(int n, int rank) {
  if (rank == 0) return -1;
  int bit = 1;
  while (bit < n && !(bit & rank)) bit <<= 1;
  int up = (rank ^ bit) | (bit << 1);
  if (up >= n) up = rank ^ bit;
  return up;
}

// The two trees of the double binary tree (ncclGetDtree): tree 1 is the binary tree; tree 2
// mirrors it (n even) or shifts it by one (n odd). Returns parent[tree][member].
std::vector<std::vector<int>> DoubleTree(int n) {
  std::vector<std::vector<int>> parent(2, std::vector<int>(n, -1));
  for (int r = 0; r < n; ++r) parent[0][r] = BtreeParent(n, r);
  for (int r = 0; r < n; ++r) {
    const int v = (n % 2 == 0) ? n - 1 - r : (r - 1 + n) % n;  // r's position in tree 2
    const int pv = BtreeParent(n, v);
    parent[1][r] = pv < 0 ? -1 : ((n % 2 == 0) ? n - 1 - pv : (pv + 1) % n);
  }
  return parent;
}

int Depth(const std::vector<int>& parent, int r) {
  int d = 0;
  while (parent[r] >= 0) {
    r = parent[r];
    ++d;
  }
  return d;
}

// Double binary tree all-reduce: each tree reduces half the buffer to its root level by level
// (deepest first) and broadcasts it back down; both trees run concurrently.
void TreeAllReduce(Schedule& s, int n, double bytes) {
  const auto parent = DoubleTree(n);
  int depth = 0;
  std::vector<std::vector<int>> d(2, std::vector<int>(n));
  for (int t = 0; t < 2; ++t)
    for (int r = 0; r < n; ++r) depth = std::max(depth, d[t][r] = Depth(parent[t], r));
  const double half = bytes / 2;
  for (int level = depth; level >= 1; --level) {  // reduce: children at `level` send up
    Step st;
    for (int t = 0; t < 2; ++t)
      for (int r = 0; r < n; ++r)
        if (d[t][r] == level) st.transfers.push_back({r, parent[t][r], half, true});
    s.steps.push_back(std::move(st));
  }
  for (int level = 1; level <= depth; ++level) {  // broadcast: parents send down
    Step st;
    for (int t = 0; t < 2; ++t)
      for (int r = 0; r < n; ++r)
        if (d[t][r] == level) st.transfers.push_back({parent[t][r], r, half, false});
    s.steps.push_back(std::move(st));
  }
}

// Recursive halving reduce-scatter (p a power of two) over members map[0..p-1]: lg p steps; in
// step k partners at distance p/2^(k+1) exchange half of what they still hold.
void Halving(Schedule& s, const std::vector<int>& m, double bytes) {
  const int p = static_cast<int>(m.size());
  double part = bytes / 2;
  for (int dist = p / 2; dist >= 1; dist /= 2, part /= 2) {
    Step st;
    for (int i = 0; i < p; ++i) st.transfers.push_back({m[i], m[i ^ dist], part, true});
    s.steps.push_back(std::move(st));
  }
}

// Recursive doubling all-gather (p a power of two): lg p steps of bytes/p, 2 bytes/p, ...
void Doubling(Schedule& s, const std::vector<int>& m, double bytes) {
  const int p = static_cast<int>(m.size());
  double part = bytes / p;
  for (int dist = 1; dist < p; dist *= 2, part *= 2) {
    Step st;
    for (int i = 0; i < p; ++i) st.transfers.push_back({m[i], m[i ^ dist], part, false});
    s.steps.push_back(std::move(st));
  }
}

// Rabenseifner all-reduce; for n not a power of two, MPICH's pre and post steps: of the first
// 2r members (r = n - p', p' the largest power of two <= n), each even member sends its whole
// buffer to the next odd member, which takes part in the power-of-two algorithm and sends the
// result back at the end.
void HalvingDoublingAllReduce(Schedule& s, int n, double bytes) {
  const int p2 = 1 << FloorLog2(n);
  const int r = n - p2;
  std::vector<int> active;
  for (int i = 0; i < n; ++i)
    if (i >= 2 * r || i % 2 == 1) active.push_back(i);
  if (r > 0) {
    Step pre;
    for (int i = 0; i < 2 * r; i += 2) pre.transfers.push_back({i, i + 1, bytes, true});
    s.steps.push_back(std::move(pre));
  }
  Halving(s, active, bytes);
  Doubling(s, active, bytes);
  if (r > 0) {
    Step post;
    for (int i = 0; i < 2 * r; i += 2) post.transfers.push_back({i + 1, i, bytes, false});
    s.steps.push_back(std::move(post));
  }
}

}  // namespace

Schedule BuildSchedule(Collective c, Algorithm a, int n, double bytes,
                       const std::vector<int>& node_of) {
  if (n < 1) throw std::invalid_argument("a collective needs at least one member");
  Schedule s;
  if (n == 1) return s;
  switch (a) {
    case Algorithm::kRing:
      switch (c) {
        case Collective::kAllReduce:
          RingPass(s, n, bytes / n, true);
          RingPass(s, n, bytes / n, false);
          return s;
        case Collective::kReduceScatter:
          RingPass(s, n, bytes / n, true);
          return s;
        case Collective::kAllGather:
          RingPass(s, n, bytes / n, false);
          return s;
        case Collective::kBroadcast:
          ChainPipelined(s, n, bytes, false);
          return s;
        case Collective::kReduce:
          ChainPipelined(s, n, bytes, true);
          return s;
      }
      break;
    case Algorithm::kTree:
      if (c != Collective::kAllReduce) Unsupported(c, a);
      TreeAllReduce(s, n, bytes);
      return s;
    case Algorithm::kHierarchical: {
      if (c != Collective::kAllReduce) Unsupported(c, a);
      if (static_cast<int>(node_of.size()) != n)
        throw std::invalid_argument("the hierarchical algorithm needs each member's node");
      // Members grouped by node, in group order.
      std::vector<int> nodes;
      std::vector<std::vector<int>> local;
      for (int i = 0; i < n; ++i) {
        auto it = std::find(nodes.begin(), nodes.end(), node_of[i]);
        if (it == nodes.end()) {
          nodes.push_back(node_of[i]);
          local.push_back({});
          it = nodes.end() - 1;
        }
        local[it - nodes.begin()].push_back(i);
      }
      const int g = static_cast<int>(local[0].size());
      for (const auto& l : local)
        if (static_cast<int>(l.size()) != g)
          throw std::invalid_argument(
              "the hierarchical algorithm needs the same number of members on every node");
      const int N = static_cast<int>(nodes.size());
      // 1. reduce-scatter inside each node (concurrently).
      Schedule rs;
      RingPass(rs, g, bytes / g, true);
      for (const auto& l : local) Merge(s, rs, l, 0);
      // 2. all-reduce of each 1/g shard across nodes among members with the same local index.
      Schedule ar;
      RingPass(ar, N, bytes / g / N, true);
      RingPass(ar, N, bytes / g / N, false);
      const size_t at = s.steps.size();
      for (int j = 0; j < g; ++j) {
        std::vector<int> map;
        for (const auto& l : local) map.push_back(l[j]);
        Merge(s, ar, map, at);
      }
      // 3. all-gather inside each node.
      Schedule ag;
      RingPass(ag, g, bytes / g, false);
      const size_t at2 = s.steps.size();
      for (const auto& l : local) Merge(s, ag, l, at2);
      return s;
    }
    case Algorithm::kHalvingDoubling: {
      std::vector<int> all(n);
      for (int i = 0; i < n; ++i) all[i] = i;
      if (c == Collective::kAllReduce) {
        HalvingDoublingAllReduce(s, n, bytes);
        return s;
      }
      if (c != Collective::kReduceScatter && c != Collective::kAllGather) Unsupported(c, a);
      if (!PowerOfTwo(n))
        throw std::invalid_argument(std::string("halving-doubling ") + Name(c) +
                                    " needs a power-of-two number of members, got " +
                                    std::to_string(n));
      if (c == Collective::kReduceScatter)
        Halving(s, all, bytes);
      else
        Doubling(s, all, bytes);
      return s;
    }
    case Algorithm::kDirect: {
      const double chunk = bytes / n;
      auto exchange = [&](bool reduce) {
        Step st;
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < n; ++j)
            if (i != j) st.transfers.push_back({i, j, chunk, reduce});
        s.steps.push_back(std::move(st));
      };
      switch (c) {
        case Collective::kAllReduce:
          exchange(true);
          exchange(false);
          return s;
        case Collective::kReduceScatter:
          exchange(true);
          return s;
        case Collective::kAllGather:
          exchange(false);
          return s;
        case Collective::kBroadcast: {
          Step st;
          for (int j = 1; j < n; ++j) st.transfers.push_back({0, j, bytes, false});
          s.steps.push_back(std::move(st));
          return s;
        }
        case Collective::kReduce: {
          Step st;
          for (int j = 1; j < n; ++j) st.transfers.push_back({j, 0, bytes, true});
          s.steps.push_back(std::move(st));
          return s;
        }
      }
      break;
    }
  }
  Unsupported(c, a);
}

double BusBwFactor(Collective c, int n) {
  if (n <= 1) return c == Collective::kBroadcast || c == Collective::kReduce ? 1 : 0;
  switch (c) {
    case Collective::kAllReduce:
      return 2.0 * (n - 1) / n;
    case Collective::kReduceScatter:
    case Collective::kAllGather:
      return static_cast<double>(n - 1) / n;
    case Collective::kBroadcast:
    case Collective::kReduce:
      return 1;
  }
  return 1;
}

double ClosedFormTime(Collective c, Algorithm a, int n, double bytes, double alpha_s,
                      double bandwidth_Bps, int local_size) {
  if (n <= 1) return 0;
  const double p = n, S = bytes, beta = 1.0 / bandwidth_Bps, al = alpha_s;
  switch (a) {
    case Algorithm::kRing:
      switch (c) {
        case Collective::kAllReduce:  // 2(p-1) alpha + 2 (p-1)/p n beta
          return 2 * (p - 1) * al + 2 * (p - 1) / p * S * beta;
        case Collective::kReduceScatter:
        case Collective::kAllGather:  // (p-1) alpha + (p-1)/p n beta
          return (p - 1) * al + (p - 1) / p * S * beta;
        case Collective::kBroadcast:
        case Collective::kReduce:  // chain pipelined in p chunks: 2(p-1) (alpha + n/p beta)
          return 2 * (p - 1) * (al + S / p * beta);
      }
      break;
    case Algorithm::kTree:
      if (c != Collective::kAllReduce) Unsupported(c, a);
      // Pipelined double binary tree (NCCL's model form): every rank moves about 2 n; latency of
      // the way up and down: 2 ceil(lg p) alpha.
      return 2 * CeilLog2(n) * al + 2 * S * beta;
    case Algorithm::kHierarchical: {
      if (c != Collective::kAllReduce) Unsupported(c, a);
      const int g = std::max(1, local_size);
      if (n % g != 0)
        throw std::invalid_argument("hierarchical: " + std::to_string(n) +
                                    " members are not a multiple of " + std::to_string(g));
      const double N = n / g;
      // Intra-node reduce-scatter + all-gather, then the inter-node ring all-reduce of n/g.
      return 2 * (g - 1) * al + 2.0 * (g - 1) / g * S * beta + 2 * (N - 1) * al +
             2 * (N - 1) / N * (S / g) * beta;
    }
    case Algorithm::kHalvingDoubling: {
      const double lg = FloorLog2(n);
      switch (c) {
        case Collective::kAllReduce:
          if (PowerOfTwo(n))  // Rabenseifner: 2 lg p alpha + 2 (p-1)/p n beta
            return 2 * lg * al + 2 * (p - 1) / p * S * beta;
          // MPICH, p not a power of two: (2 floor(lg p) + 2) alpha + (2 (p-1)/p + 2) n beta
          return (2 * lg + 2) * al + (2 * (p - 1) / p + 2) * S * beta;
        case Collective::kReduceScatter:
        case Collective::kAllGather:
          if (!PowerOfTwo(n)) BuildSchedule(c, a, n, bytes);  // throws the message
          return lg * al + (p - 1) / p * S * beta;
        default:
          Unsupported(c, a);
      }
      break;
    }
    case Algorithm::kDirect:
      switch (c) {
        case Collective::kAllReduce:  // two all-to-all exchanges; a rank's link sends (p-1)/p n
          return 2 * al + 2 * (p - 1) / p * S * beta;
        case Collective::kReduceScatter:
        case Collective::kAllGather:
          return al + (p - 1) / p * S * beta;
        case Collective::kBroadcast:
        case Collective::kReduce:  // the root's link carries (p-1) n
          return al + (p - 1) * S * beta;
      }
      break;
  }
  Unsupported(c, a);
}

double BytesSentPerRank(Collective c, Algorithm a, int n, double bytes) {
  if (n <= 1) return 0;
  std::vector<int> node_of;
  if (a == Algorithm::kHierarchical) {
    // Without a layout: one member per node (the inter-node ring over all members).
    node_of.resize(n);
    for (int i = 0; i < n; ++i) node_of[i] = i;
  }
  const Schedule s = BuildSchedule(c, a, n, bytes, node_of);
  std::vector<double> sent(n, 0);
  for (const auto& st : s.steps)
    for (const auto& t : st.transfers) sent[t.src] += t.bytes;
  return *std::max_element(sent.begin(), sent.end());
}

double TotalBytesSent(Collective c, Algorithm a, int n, double bytes,
                      const std::vector<int>& node_of) {
  if (n <= 1) return 0;
  const Schedule s = BuildSchedule(c, a, n, bytes, node_of);
  double total = 0;
  for (const auto& st : s.steps)
    for (const auto& t : st.transfers) total += t.bytes;
  return total;
}

}  // namespace convscale::plan
