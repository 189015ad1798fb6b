#include "simulate/dag.h"

#include <algorithm>

namespace convscale::sim {

DagBuilder::DagBuilder(int ranks) {
  dag_.iter_start.resize(ranks);
  dag_.iter_end.resize(ranks);
  dag_.server.assign(ranks, 0);
  for (int r = 0; r < ranks; ++r) {
    Node n;
    n.rank = r;
    dag_.iter_start[r] = Add(n);
    dag_.iter_end[r] = Add(n);
  }
}

int32_t DagBuilder::Add(const Node& n) {
  dag_.nodes.push_back(n);
  return static_cast<int32_t>(dag_.nodes.size() - 1);
}

Dag DagBuilder::Finish() {
  const size_t n = dag_.nodes.size();
  std::vector<uint8_t> has_pred(n, 0), has_succ(n, 0);
  for (const auto& [a, b] : edges_) {
    has_succ[a] = 1;
    has_pred[b] = 1;
  }
  const int ranks = dag_.num_ranks();
  std::vector<uint8_t> is_start(n, 0), is_end(n, 0);
  for (int r = 0; r < ranks; ++r) {
    is_start[dag_.iter_start[r]] = 1;
    is_end[dag_.iter_end[r]] = 1;
  }
  for (size_t i = 0; i < n; ++i) {
    const int r = dag_.nodes[i].rank;
    if (is_start[i] || is_end[i]) continue;
    if (!has_pred[i]) edges_.emplace_back(dag_.iter_start[r], static_cast<int32_t>(i));
    if (!has_succ[i]) edges_.emplace_back(static_cast<int32_t>(i), dag_.iter_end[r]);
  }
  // A rank with no tasks still ends its iteration.
  std::vector<uint8_t> start_used(n, 0);
  for (const auto& e : edges_) start_used[e.first] = 1;
  std::vector<uint8_t> end_reached(n, 0);
  for (const auto& e : edges_) end_reached[e.second] = 1;
  for (int r = 0; r < ranks; ++r)
    if (!start_used[dag_.iter_start[r]] || !end_reached[dag_.iter_end[r]])
      edges_.emplace_back(dag_.iter_start[r], dag_.iter_end[r]);
  // CSR by a counting sort on the source: successors keep their insertion order (deterministic).
  dag_.succ_offset.assign(n + 1, 0);
  dag_.indeg.assign(n, 0);
  for (const auto& [a, b] : edges_) {
    ++dag_.succ_offset[a + 1];
    ++dag_.indeg[b];
  }
  for (size_t i = 0; i < n; ++i) dag_.succ_offset[i + 1] += dag_.succ_offset[i];
  dag_.succ.resize(edges_.size());
  std::vector<int64_t> fill(dag_.succ_offset.begin(), dag_.succ_offset.end() - 1);
  for (const auto& [a, b] : edges_) dag_.succ[fill[a]++] = b;
  edges_.clear();
  edges_.shrink_to_fit();
  return std::move(dag_);
}

}  // namespace convscale::sim
