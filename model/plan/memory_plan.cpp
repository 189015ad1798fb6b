// The memory planner (see memory_plan.h): tensor lifetimes from a rank's compute order, the peak
// of the bytes alive at once, and greedy-by-size offsets in one arena.
#include "model/plan/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

namespace convscale::plan {

using graph::LayerType;

const char* Name(TensorKind k) {
  switch (k) {
    case TensorKind::kOutput:
      return "output";
    case TensorKind::kOutputGrad:
      return "output grad";
    case TensorKind::kSaved:
      return "saved";
  }
  return "?";
}

namespace {

int64_t Align(double bytes) {
  const int64_t b = static_cast<int64_t>(std::ceil(bytes));
  return (b + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

// Whether the backward of a layer of this type reads its inputs / its own output.
bool BackwardReadsInput(LayerType t) {
  switch (t) {
    case LayerType::kConv2d:
    case LayerType::kLinear:
    case LayerType::kBatchNorm:
    case LayerType::kMaxPool:
    case LayerType::kAvgPool:
    case LayerType::kAdaptiveAvgPool:
      return true;
    default:
      return false;
  }
}
bool BackwardReadsOutput(LayerType t) {
  switch (t) {
    case LayerType::kReLU:
    case LayerType::kReLU6:
    case LayerType::kSigmoid:
    case LayerType::kTanh:
    case LayerType::kSoftmax:
    case LayerType::kMaxPool:
    case LayerType::kAvgPool:
    case LayerType::kAdaptiveAvgPool:
      return true;
    default:
      return false;
  }
}
// Per-sample bytes only the layer keeps (the network's count, graph/network.cpp).
double SavedPerSample(const graph::Layer& l, int elem_bytes) {
  double in = 0;
  for (const auto& s : l.in_shapes) in += static_cast<double>(s.elements());
  switch (l.type) {
    case LayerType::kMaxPool:
      return 8.0 * static_cast<double>(l.out.elements());  // int64 indices of the maxima
    case LayerType::kDropout:
      return in;  // one byte of mask per element
    case LayerType::kLoss:
      return in * elem_bytes;  // the probabilities
    default:
      return 0;
  }
}

}  // namespace

const PlannedTensor* MemoryPlan::Find(int layer, int mb, TensorKind kind) const {
  if (layer < 0 || (!owner_.empty() && size_t(layer) >= owner_.size())) return nullptr;
  const int o = Owner(layer);
  auto key = [](const PlannedTensor& t) { return std::make_tuple(t.layer, t.micro_batch, t.kind); };
  const auto want = std::make_tuple(o, mb, kind);
  auto it = std::lower_bound(tensors.begin(), tensors.end(), want,
                             [&](const PlannedTensor& t, const auto& w) { return key(t) < w; });
  if (it == tensors.end() || key(*it) != want) return nullptr;
  return &*it;
}

Boundary BoundaryOf(const Task& t, const graph::Network& net, int64_t micro_batch, int elem_bytes) {
  Boundary b;
  if (t.layer >= 0) {
    b = {t.layer, t.phase == Phase::kBackwardData || t.phase == Phase::kBackwardWeight};
  } else if (t.tag >= 0) {
    const int64_t L = int64_t(net.size()), q = t.tag / 2;
    if (q / L == t.micro_batch) b = {int(q % L), t.tag % 2 == 1};
  }
  if (b.layer <= 0 || b.layer >= int(net.size())) return {};
  const double expect = double(net.layer(b.layer).out.elements()) * elem_bytes;
  if (t.comm_bytes > 0 && std::fabs(t.comm_bytes - expect * double(micro_batch)) > 0.5) return {};
  return b;
}

namespace {

// Places `tensors` in the given order, each in the smallest gap between the placed tensors alive
// during its steps that holds it, else above them all (best fit); returns the arena size.
int64_t PlaceInOrder(std::vector<PlannedTensor>& tensors, const std::vector<size_t>& order) {
  std::vector<size_t> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of placed overlapping tensors
  int64_t arena = 0;
  for (size_t i : order) {
    PlannedTensor& t = tensors[i];
    busy.clear();
    for (size_t j : placed) {
      const PlannedTensor& p = tensors[j];
      if (p.first_step <= t.last_step && t.first_step <= p.last_step)
        busy.push_back({p.offset, p.offset + p.bytes});
    }
    std::sort(busy.begin(), busy.end());
    int64_t at = -1, best = -1, end = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo - end >= t.bytes && (best < 0 || lo - end < best)) {
        best = lo - end;
        at = end;
      }
      end = std::max(end, hi);
    }
    if (at < 0) at = end;
    t.offset = at;
    arena = std::max(arena, at + t.bytes);
    placed.push_back(i);
  }
  return arena;
}

}  // namespace

int64_t AssignOffsets(std::vector<PlannedTensor>& tensors) {
  // Two orders: by arrival (first step; ties: larger first), as a caching allocator sees the
  // tensors, and by size (largest first; ties: earlier first), as static planners place them.
  // The smaller arena wins (arrival on a tie).
  std::vector<size_t> by_arrival(tensors.size());
  for (size_t i = 0; i < by_arrival.size(); ++i) by_arrival[i] = i;
  std::vector<size_t> by_size = by_arrival;
  std::sort(by_arrival.begin(), by_arrival.end(), [&](size_t a, size_t b) {
    const PlannedTensor &x = tensors[a], &y = tensors[b];
    if (x.first_step != y.first_step) return x.first_step < y.first_step;
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    return a < b;
  });
  std::sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) {
    const PlannedTensor &x = tensors[a], &y = tensors[b];
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.first_step != y.first_step) return x.first_step < y.first_step;
    return a < b;
  });
  std::vector<PlannedTensor> sized = tensors;
  const int64_t arrival = PlaceInOrder(tensors, by_arrival);
  const int64_t size = PlaceInOrder(sized, by_size);
  if (size < arrival) {
    tensors = std::move(sized);
    return size;
  }
  return arrival;
}

MemoryPlan PlanRankMemory(const graph::Network& net, const Rank& rank, int64_t micro_batch,
                          int elem_bytes, bool assign_offsets) {
  MemoryPlan mp;
  const int n = static_cast<int>(net.size());
  mp.owner_.resize(size_t(n));
  for (int v = 0; v < n; ++v) {
    int o = v;
    while (net.layer(o).type == LayerType::kFlatten && !net.layer(o).inputs.empty())
      o = net.layer(o).inputs[0];
    mp.owner_[size_t(v)] = o;
  }
  const double samples = static_cast<double>(std::max<int64_t>(1, micro_batch));
  auto out_bytes = [&](int v) {
    const double e =
        v == 0 ? double(net.input_shape().elements()) : double(net.layer(v).out.elements());
    return Align(e * elem_bytes * samples);
  };

  // Uses per tensor: (owner, mb, kind) -> [first, last] step, pinned.
  struct Use {
    int first = 1 << 30, last = -1;
    bool pinned = false;
  };
  std::map<std::tuple<int, int, TensorKind>, Use> uses;
  auto use = [&](int layer, int mb, TensorKind k, int step) {
    Use& u = uses[{mp.Owner(layer), mb, k}];
    u.first = std::min(u.first, step);
    u.last = std::max(u.last, step);
  };
  auto pin = [&](int layer, int mb, TensorKind k) { uses[{mp.Owner(layer), mb, k}].pinned = true; };

  int step = 0, prev = -1, micro_batches = 1;
  for (const Task& t : rank.tasks) {
    if (t.kind != TaskKind::kCompute) continue;
    if (prev >= 0 && std::find(t.deps.begin(), t.deps.end(), prev) == t.deps.end())
      mp.reuse = false;
    prev = t.id;
    const int s = step++;
    const int v = t.layer, mb = t.micro_batch;
    if (v <= 0 || v >= n) continue;  // update, aggregate, copy
    micro_batches = std::max(micro_batches, mb + 1);
    const graph::Layer& l = net.layer(v);
    const bool view = l.type == LayerType::kFlatten;
    switch (t.phase) {
      case Phase::kForward:
        for (int u : l.inputs) use(u, mb, TensorKind::kOutput, s);
        if (!view) use(v, mb, TensorKind::kOutput, s);
        if (SavedPerSample(l, elem_bytes) > 0) use(v, mb, TensorKind::kSaved, s);
        break;
      case Phase::kBackwardData:
      case Phase::kBackwardWeight:
        if (view) break;
        if (l.type != LayerType::kLoss) use(v, mb, TensorKind::kOutputGrad, s);
        if (BackwardReadsInput(l.type))
          for (int u : l.inputs) use(u, mb, TensorKind::kOutput, s);
        if (BackwardReadsOutput(l.type)) use(v, mb, TensorKind::kOutput, s);
        if (SavedPerSample(l, elem_bytes) > 0) use(v, mb, TensorKind::kSaved, s);
        if (t.phase == Phase::kBackwardData)
          for (int u : l.inputs)
            if (mp.Owner(u) != 0 && net.layer(u).type != LayerType::kInput)
              use(u, mb, TensorKind::kOutputGrad, s);
        break;
      default:
        break;
    }
  }
  mp.steps = step;
  // Pinned: the images, and what messages carry.
  bool reads_images = false;
  for (auto& [key, u] : uses)
    if (std::get<0>(key) == 0) reads_images = true;
  if (reads_images)
    for (int mb = 0; mb < micro_batches; ++mb) pin(0, mb, TensorKind::kOutput);
  for (const Task& t : rank.tasks) {
    if ((t.kind != TaskKind::kSend && t.kind != TaskKind::kRecv) || !t.layers.empty()) continue;
    const Boundary b = BoundaryOf(t, net, micro_batch, elem_bytes);
    if (b.layer < 0) continue;
    pin(b.layer, t.micro_batch, b.grad ? TensorKind::kOutputGrad : TensorKind::kOutput);
  }

  const int last = std::max(0, mp.steps - 1);
  for (const auto& [key, u] : uses) {
    PlannedTensor t;
    std::tie(t.layer, t.micro_batch, t.kind) = key;
    t.bytes = t.kind == TensorKind::kSaved
                  ? Align(SavedPerSample(net.layer(t.layer), elem_bytes) * samples)
                  : out_bytes(t.layer);
    t.pinned = u.pinned || !mp.reuse || u.last < 0;
    t.first_step = t.pinned ? 0 : u.first;
    t.last_step = t.pinned ? last : u.last;
    mp.tensors.push_back(t);
  }
  // Peak: a difference array over steps.
  std::vector<int64_t> delta(size_t(mp.steps) + 2, 0);
  for (const PlannedTensor& t : mp.tensors) {
    delta[size_t(t.first_step)] += t.bytes;
    delta[size_t(t.last_step) + 1] -= t.bytes;
  }
  int64_t live = 0;
  for (size_t i = 0; i + 1 < delta.size(); ++i) {
    live += delta[i];
    mp.peak_live_bytes = std::max(mp.peak_live_bytes, live);
  }
  if (assign_offsets) mp.arena_bytes = AssignOffsets(mp.tensors);
  return mp;
}

}  // namespace convscale::plan
