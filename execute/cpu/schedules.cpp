// Offset-carrying collective schedules (see schedules.h).
#include "execute/cpu/schedules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

#ifdef CONVSCALE_HAVE_PLAN_SCHEDULE
#include "model/plan/collectives.h"
#endif

namespace convscale::exec::cpu {
namespace {

using plan::Algorithm;
using plan::Collective;

int Mod(int a, int n) {
  return ((a % n) + n) % n;
}

// Element range of chunk c of n over [lo, lo + count).
struct Range {
  size_t offset = 0, count = 0;
};
Range Chunk(size_t lo, size_t count, int n, int c) {
  const size_t base = count / size_t(n);
  const size_t len = c == n - 1 ? count - base * size_t(n - 1) : base;
  return {lo + base * size_t(c), len};
}
// Blocks [b0, b1) of n over [lo, lo + count).
Range Blocks(size_t lo, size_t count, int n, int b0, int b1) {
  const Range a = Chunk(lo, count, n, b0), z = Chunk(lo, count, n, b1 - 1);
  return {a.offset, z.offset + z.count - a.offset};
}

void Add(std::vector<OpStep>& steps, size_t step, Op op) {
  if (steps.size() <= step) steps.resize(step + 1);
  if (op.count > 0) steps[step].ops.push_back(op);
}

// Ring reduce-scatter over `ring` (member indices; `pos` is mine) on [lo, lo+count): position p
// ends with chunk p summed. Appends steps starting at `first`.
void RingReduceScatter(std::vector<OpStep>& st, size_t first, const std::vector<int>& ring, int pos,
                       size_t lo, size_t count) {
  const int n = int(ring.size());
  for (int s = 0; s < n - 1; ++s) {
    const Range out = Chunk(lo, count, n, Mod(pos - s - 1, n));
    const Range in = Chunk(lo, count, n, Mod(pos - s - 2, n));
    Add(st, first + size_t(s), {ring[size_t(Mod(pos + 1, n))], true, out.offset, out.count, false});
    Add(st, first + size_t(s), {ring[size_t(Mod(pos - 1, n))], false, in.offset, in.count, true});
  }
  if (st.size() < first + size_t(n - 1)) st.resize(first + size_t(n - 1));
}
void RingAllGather(std::vector<OpStep>& st, size_t first, const std::vector<int>& ring, int pos,
                   size_t lo, size_t count) {
  const int n = int(ring.size());
  for (int s = 0; s < n - 1; ++s) {
    const Range out = Chunk(lo, count, n, Mod(pos - s, n));
    const Range in = Chunk(lo, count, n, Mod(pos - s - 1, n));
    Add(st, first + size_t(s), {ring[size_t(Mod(pos + 1, n))], true, out.offset, out.count, false});
    Add(st, first + size_t(s), {ring[size_t(Mod(pos - 1, n))], false, in.offset, in.count, false});
  }
  if (st.size() < first + size_t(n - 1)) st.resize(first + size_t(n - 1));
}

bool PowerOfTwo(int n) {
  return n > 0 && (n & (n - 1)) == 0;
}

void HalvingReduceScatter(std::vector<OpStep>& st, int n, int me, size_t count) {
  int b0 = 0, b1 = n;
  size_t step = 0;
  for (int d = n / 2; d >= 1; d /= 2, ++step) {
    const int mid = (b0 + b1) / 2;
    const bool low = (me & d) == 0;
    const Range keep = low ? Blocks(0, count, n, b0, mid) : Blocks(0, count, n, mid, b1);
    const Range give = low ? Blocks(0, count, n, mid, b1) : Blocks(0, count, n, b0, mid);
    Add(st, step, {me ^ d, true, give.offset, give.count, false});
    Add(st, step, {me ^ d, false, keep.offset, keep.count, true});
    if (low)
      b1 = mid;
    else
      b0 = mid;
  }
  st.resize(std::max(st.size(), step));
}
void DoublingAllGather(std::vector<OpStep>& st, size_t first, int n, int me, size_t count) {
  size_t step = first;
  for (int d = 1; d < n; d *= 2, ++step) {
    const int mine0 = me & ~(d - 1), theirs0 = (me ^ d) & ~(d - 1);
    const Range mine = Blocks(0, count, n, mine0, mine0 + d);
    const Range theirs = Blocks(0, count, n, theirs0, theirs0 + d);
    Add(st, step, {me ^ d, true, mine.offset, mine.count, false});
    Add(st, step, {me ^ d, false, theirs.offset, theirs.count, false});
  }
  st.resize(std::max(st.size(), step));
}

// NCCL's binary tree over 0..n-1 (src/graph/trees.cc, ncclGetBtree): the parent, -1 for the root.
int BtreeParent(int n, int rank) {
  if (rank == 0) return -1;
  int bit = 1;
  while (bit < n && !(bit & rank)) bit <<= 1;
  int up = (rank ^ bit) | (bit << 1);
  if (up >= n) up = rank ^ bit;
  return up;
}
// ncclGetDtree: tree 2 mirrors tree 1 (n even) or shifts it by one (n odd).
std::vector<std::vector<int>> DoubleTree(int n) {
  std::vector<std::vector<int>> parent(2, std::vector<int>(static_cast<size_t>(n), -1));
  for (int r = 0; r < n; ++r) parent[0][size_t(r)] = BtreeParent(n, r);
  for (int r = 0; r < n; ++r) {
    const int v = (n % 2 == 0) ? n - 1 - r : (r - 1 + n) % n;
    const int pv = BtreeParent(n, v);
    parent[1][size_t(r)] = pv < 0 ? -1 : ((n % 2 == 0) ? n - 1 - pv : (pv + 1) % n);
  }
  return parent;
}
int TreeDepth(const std::vector<int>& parent, int r) {
  int d = 0;
  while (parent[size_t(r)] >= 0) {
    r = parent[size_t(r)];
    ++d;
  }
  return d;
}

int Depth(int v) {
  int d = 0;
  while (v > 0) {
    v = (v - 1) / 2;
    ++d;
  }
  return d;
}

// Binary tree over labels 0..n-1 (label 0 the root; parent (v-1)/2). `member(label)` maps to
// member indices. Reduce: deepest level first; broadcast: the reverse. Steps start at `first`.
template <class MemberOf>
void TreeReduce(std::vector<OpStep>& st, size_t first, int n, int my_label, MemberOf member,
                Range r) {
  const int height = Depth(n - 1);
  for (int level = height; level >= 1; --level) {
    const size_t step = first + size_t(height - level);
    if (Depth(my_label) == level)
      Add(st, step, {member((my_label - 1) / 2), true, r.offset, r.count, false});
    for (int c : {2 * my_label + 1, 2 * my_label + 2})
      if (c < n && Depth(c) == level) Add(st, step, {member(c), false, r.offset, r.count, true});
  }
  st.resize(std::max(st.size(), first + size_t(height)));
}
template <class MemberOf>
void TreeBroadcast(std::vector<OpStep>& st, size_t first, int n, int my_label, MemberOf member,
                   Range r) {
  const int height = Depth(n - 1);
  for (int level = 1; level <= height; ++level) {
    const size_t step = first + size_t(level - 1);
    if (Depth(my_label) == level)
      Add(st, step, {member((my_label - 1) / 2), false, r.offset, r.count, false});
    for (int c : {2 * my_label + 1, 2 * my_label + 2})
      if (c < n && Depth(c) == level) Add(st, step, {member(c), true, r.offset, r.count, false});
  }
  st.resize(std::max(st.size(), first + size_t(height)));
}

}  // namespace

std::vector<OpStep> MemberSteps(Collective c, Algorithm a, int n, int me, size_t count, int root,
                                const std::vector<int>& node_of) {
  std::vector<OpStep> st;
  if (n <= 1) return st;
  if (me < 0 || me >= n || root < 0 || root >= n)
    throw std::invalid_argument("member or root outside the group");
  std::vector<int> ring(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ring[size_t(i)] = i;
  const std::string what =
      std::string(plan::Name(a)) + " " + plan::Name(c) + " on " + std::to_string(n) + " ranks";

  switch (a) {
    case Algorithm::kRing:
      if (c == Collective::kAllReduce) {
        RingReduceScatter(st, 0, ring, me, 0, count);
        RingAllGather(st, size_t(n - 1), ring, me, 0, count);
      } else if (c == Collective::kReduceScatter) {
        RingReduceScatter(st, 0, ring, me, 0, count);
      } else if (c == Collective::kAllGather) {
        RingAllGather(st, 0, ring, me, 0, count);
      } else {
        // Chain: broadcast flows root -> root+1 -> ...; reduce flows root+1 -> ... -> root.
        const int p = Mod(me - root, n);  // position along the chain from the root
        if (c == Collective::kBroadcast) {
          if (p > 0) Add(st, size_t(p - 1), {Mod(me - 1, n), false, 0, count, false});
          if (p < n - 1) Add(st, size_t(p), {Mod(me + 1, n), true, 0, count, false});
        } else {
          const int q = Mod(p - 1, n);  // root+1 is q = 0, root is q = n-1
          if (q > 0) Add(st, size_t(q - 1), {Mod(me - 1, n), false, 0, count, true});
          if (q < n - 1) Add(st, size_t(q), {Mod(me + 1, n), true, 0, count, false});
        }
        st.resize(size_t(n - 1));
      }
      return st;
    case Algorithm::kHalvingDoubling:
      if (!PowerOfTwo(n))
        throw std::invalid_argument(what + ": halving-doubling needs a power-of-two group");
      if (c == Collective::kAllReduce) {
        HalvingReduceScatter(st, n, me, count);
        DoublingAllGather(st, st.size(), n, me, count);
      } else if (c == Collective::kReduceScatter) {
        HalvingReduceScatter(st, n, me, count);
      } else if (c == Collective::kAllGather) {
        DoublingAllGather(st, 0, n, me, count);
      } else {
        throw std::invalid_argument(what + " does not exist");
      }
      return st;
    case Algorithm::kTree: {
      if (c == Collective::kAllReduce) {
        // NCCL's double binary tree (as plan::BuildSchedule): each tree reduces half the buffer
        // level by level (deepest first) to its root and broadcasts it back down.
        const auto parent = DoubleTree(n);
        std::vector<std::vector<int>> depth(2, std::vector<int>(static_cast<size_t>(n)));
        int height = 0;
        for (int t = 0; t < 2; ++t)
          for (int r = 0; r < n; ++r)
            height =
                std::max(height, depth[size_t(t)][size_t(r)] = TreeDepth(parent[size_t(t)], r));
        const Range half[2] = {Chunk(0, count, 2, 0), Chunk(0, count, 2, 1)};
        for (int level = height; level >= 1; --level) {
          const size_t step = size_t(height - level);
          for (int t = 0; t < 2; ++t)
            for (int r = 0; r < n; ++r) {
              if (depth[size_t(t)][size_t(r)] != level) continue;
              const int p = parent[size_t(t)][size_t(r)];
              if (r == me) Add(st, step, {p, true, half[t].offset, half[t].count, false});
              if (p == me) Add(st, step, {r, false, half[t].offset, half[t].count, true});
            }
        }
        for (int level = 1; level <= height; ++level) {
          const size_t step = size_t(height + level - 1);
          for (int t = 0; t < 2; ++t)
            for (int r = 0; r < n; ++r) {
              if (depth[size_t(t)][size_t(r)] != level) continue;
              const int p = parent[size_t(t)][size_t(r)];
              if (p == me) Add(st, step, {r, true, half[t].offset, half[t].count, false});
              if (r == me) Add(st, step, {p, false, half[t].offset, half[t].count, false});
            }
        }
        st.resize(size_t(2 * height));
      } else if (c == Collective::kBroadcast || c == Collective::kReduce) {
        auto member = [n, root](int l) { return Mod(l + root, n); };
        const int label = Mod(me - root, n);
        if (c == Collective::kBroadcast)
          TreeBroadcast(st, 0, n, label, member, {0, count});
        else
          TreeReduce(st, 0, n, label, member, {0, count});
      } else {
        throw std::invalid_argument(what + " does not exist");
      }
      return st;
    }
    case Algorithm::kHierarchical: {
      if (c != Collective::kAllReduce) throw std::invalid_argument(what + " does not exist");
      std::vector<int> node = node_of;
      if (node.size() != size_t(n)) node = ring;  // no node map: every member its own node
      std::map<int, std::vector<int>> members;    // node -> members in group order
      for (int i = 0; i < n; ++i) members[node[size_t(i)]].push_back(i);
      const size_t local = members.begin()->second.size();
      for (const auto& [k, v] : members)
        if (v.size() != local)
          throw std::invalid_argument(what +
                                      ": hierarchical needs the same number of ranks on "
                                      "every node");
      const std::vector<int>& mine = members[node[size_t(me)]];
      const int lpos = int(std::find(mine.begin(), mine.end(), me) - mine.begin());
      std::vector<int> across;  // same local index on every node, in node order
      int apos = 0;
      for (const auto& [k, v] : members) {
        if (v[size_t(lpos)] == me) apos = int(across.size());
        across.push_back(v[size_t(lpos)]);
      }
      const int l = int(local), m = int(across.size());
      if (l > 1) RingReduceScatter(st, 0, mine, lpos, 0, count);
      const size_t s1 = st.size();
      const Range piece = Chunk(0, count, l, lpos);
      if (m > 1) {
        RingReduceScatter(st, s1, across, apos, piece.offset, piece.count);
        RingAllGather(st, s1 + size_t(m - 1), across, apos, piece.offset, piece.count);
      }
      const size_t s2 = st.size();
      if (l > 1) RingAllGather(st, s2, mine, lpos, 0, count);
      return st;
    }
    case Algorithm::kDirect: {
      if (c == Collective::kAllReduce || c == Collective::kReduceScatter) {
        for (int j = 0; j < n; ++j) {
          if (j == me) continue;
          const Range cj = Chunk(0, count, n, j), ci = Chunk(0, count, n, me);
          Add(st, 0, {j, true, cj.offset, cj.count, false});
          Add(st, 0, {j, false, ci.offset, ci.count, true});
        }
      }
      if (c == Collective::kAllReduce || c == Collective::kAllGather) {
        const size_t s = c == Collective::kAllReduce ? 1 : 0;
        for (int j = 0; j < n; ++j) {
          if (j == me) continue;
          const Range cj = Chunk(0, count, n, j), ci = Chunk(0, count, n, me);
          Add(st, s, {j, true, ci.offset, ci.count, false});
          Add(st, s, {j, false, cj.offset, cj.count, false});
        }
      }
      if (c == Collective::kBroadcast || c == Collective::kReduce) {
        const bool bcast = c == Collective::kBroadcast;
        if (me == root) {
          for (int j = 0; j < n; ++j)
            if (j != root) Add(st, 0, {j, bcast, 0, count, !bcast});
        } else {
          Add(st, 0, {root, !bcast, 0, count, false});
        }
      }
      return st;
    }
  }
  throw std::invalid_argument(what + " does not exist");
}

std::string MatchesPlanSchedule(Collective c, Algorithm a, int n, size_t count, int element_bytes,
                                int root, const std::vector<int>& node_of) {
#ifdef CONVSCALE_HAVE_PLAN_SCHEDULE
  // Transfers per step as (src, dst) -> bytes, from every member's sends.
  std::vector<std::map<std::pair<int, int>, double>> ours;
  for (int me = 0; me < n; ++me) {
    const auto steps = MemberSteps(c, a, n, me, count, root, node_of);
    if (ours.size() < steps.size()) ours.resize(steps.size());
    for (size_t s = 0; s < steps.size(); ++s)
      for (const Op& op : steps[s].ops)
        if (op.send) ours[s][{me, op.peer}] += double(op.count) * element_bytes;
  }
  const plan::Schedule theirs =
      plan::BuildSchedule(c, a, n, double(count) * element_bytes, node_of);
  std::vector<std::map<std::pair<int, int>, double>> plan_steps;
  for (const plan::Step& s : theirs.steps) {
    plan_steps.emplace_back();
    for (const plan::Transfer& t : s.transfers)
      if (t.bytes > 0) plan_steps.back()[{t.src, t.dst}] += t.bytes;
  }
  // Steps without transfers do not change what is sent; compare the non-empty ones in order.
  auto strip = [](std::vector<std::map<std::pair<int, int>, double>>& v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](const auto& m) { return m.empty(); }), v.end());
  };
  strip(ours);
  strip(plan_steps);
  const std::string what =
      std::string(plan::Name(a)) + " " + plan::Name(c) + " on " + std::to_string(n) + " ranks";
  if (ours.size() != plan_steps.size())
    return what + ": the executor runs " + std::to_string(ours.size()) +
           " steps, the plan's schedule has " + std::to_string(plan_steps.size());
  for (size_t s = 0; s < ours.size(); ++s) {
    for (const auto& [k, b] : plan_steps[s]) {
      auto it = ours[s].find(k);
      const double got = it == ours[s].end() ? 0 : it->second;
      if (std::fabs(got - b) > double(element_bytes) * n)
        return what + ": step " + std::to_string(s) + ": member " + std::to_string(k.first) +
               " -> " + std::to_string(k.second) + ": the plan sends " + std::to_string(b) +
               " bytes, the executor " + std::to_string(got);
    }
    for (const auto& [k, b] : ours[s])
      if (!plan_steps[s].count(k))
        return what + ": step " + std::to_string(s) + ": the executor sends member " +
               std::to_string(k.first) + " -> " + std::to_string(k.second) + ", the plan does not";
  }
  return "";
#else
  (void)c, (void)a, (void)n, (void)count, (void)element_bytes, (void)root, (void)node_of;
  return "";
#endif
}

}  // namespace convscale::exec::cpu
