// The memory planner: which activation and activation-gradient buffers one rank needs, when each
// is alive, and where each lives in one arena. The memory model (lowering) and the executors'
// backends (CPU and CUDA) call the same function, so the prediction and the allocation count the
// same tensors.
//
// Steps. A rank's compute tasks run one at a time in task-id order: the lowering chains every
// compute task to the previous one (docs/ARCHITECTURE.md, "one compute stream ... are
// dependencies too"). Step i is the i-th compute task. A tensor is alive from the first step that
// writes it to the last step that reads it, inclusive; once its last reader is done its bytes are
// free for the next tensor, as PyTorch's caching allocator reuses a freed block. A rank whose
// compute tasks are not chained (a hand-written plan) gets no reuse: every tensor is pinned.
//
// Tensors, per layer and micro-batch (a flatten layer is a view: its output and output gradient
// are its input's, so a tensor is named by its owner, the first non-flatten ancestor):
//   output        written by the layer's forward, read by its consumers' forward tasks and by
//                 the backward tasks that keep it: a convolution, linear, batch-norm or pooling
//                 layer reads its input; ReLU, ReLU6, sigmoid, tanh, softmax and pooling read
//                 their own output (cuDNN's pooling backward reads both).
//   output grad   written (accumulated) by the consumers' backward-data tasks, read by the
//                 layer's own backward-data and backward-weight tasks. The first writer
//                 overwrites instead of adding, so the buffer needs no zeroing.
//   saved         what only the layer keeps for backward, sized as the network's own count:
//   max-pool
//                 indices (8 bytes per output element), a dropout mask (1 byte per element), the
//                 loss's probabilities; written by forward, read by backward.
// Pinned (alive for the whole iteration, never shared): the input images (filled before the
// iteration), and every tensor a send or receive carries (stage-boundary activations and their
// gradients: communication reads and writes them beside the compute steps).
//
// Units: bytes. Every tensor's size is rounded up to kTensorAlignment.
#pragma once

#include <cstdint>
#include <vector>

#include "model/graph/network.h"
#include "model/plan/plan.h"

namespace convscale::plan {

constexpr int64_t kTensorAlignment = 64;  // bytes; cache-line and AVX-512 alignment

enum class TensorKind { kOutput, kOutputGrad, kSaved };
const char* Name(TensorKind k);

struct PlannedTensor {
  int layer = -1;  // owner layer (never a flatten)
  int micro_batch = 0;
  TensorKind kind = TensorKind::kOutput;
  int64_t bytes = 0;                  // rounded up to kTensorAlignment
  int first_step = 0, last_step = 0;  // inclusive; pinned: 0 .. steps - 1
  bool pinned = false;
  int64_t offset = -1;  // in the arena (-1 until offsets are assigned)
};

struct MemoryPlan {
  std::vector<PlannedTensor> tensors;  // sorted by (layer, micro_batch, kind)
  int steps = 0;                       // compute tasks of the rank
  bool reuse = true;                   // false: compute tasks not chained, every tensor pinned
  // Max over steps of the bytes of the tensors alive at that step: what any allocator that frees
  // a buffer after its last reader must hold at once (the memory model's activation figure).
  int64_t peak_live_bytes = 0;
  // Bytes of the arena the offsets span (AssignOffsets); >= peak_live_bytes.
  int64_t arena_bytes = 0;

  // The tensor of `layer` (a flatten maps to its owner) for `mb`, or nullptr when the rank has
  // none.
  const PlannedTensor* Find(int layer, int mb, TensorKind kind) const;
  int Owner(int layer) const { return owner_.empty() ? layer : owner_[size_t(layer)]; }

  std::vector<int> owner_;  // layer -> owner layer (flatten views)
};

// The stage-boundary tensor a send or receive without parameter layers carries: the task's
// layer and phase when set, else decoded from the tag the lowering gives crossing tensors
// (docs/plan-format.md: (m * layers + producer) * 2, +1 for the gradient). {-1, false} when it
// is neither (then the message is a payload of comm_bytes). `micro_batch`: samples per
// micro-batch; `elem_bytes`: bytes per activation element.
struct Boundary {
  int layer = -1;
  bool grad = false;
};
Boundary BoundaryOf(const Task& t, const graph::Network& net, int64_t micro_batch,
                    int elem_bytes = 4);

// The tensors of `rank` for `micro_batch` samples per micro-batch and `elem_bytes` per activation
// element (4 for fp32, 2 for fp16/bf16), their steps and the peak; offsets when
// `assign_offsets` (AssignOffsets). `net` must be the plan's model, inferred.
MemoryPlan PlanRankMemory(const graph::Network& net, const Rank& rank, int64_t micro_batch,
                          int elem_bytes, bool assign_offsets);

// Offsets for `tensors` (their steps and bytes): each tensor in turn goes into the smallest gap
// between the placed tensors alive during its steps that holds it, else above them all (best
// fit), in two orders, by arrival (first step, as a caching allocator sees them) and by size
// (largest first, as static planners place them); the smaller arena is kept. Returns the arena
// size. Quadratic in the tensors (the executor plans one rank once).
int64_t AssignOffsets(std::vector<PlannedTensor>& tensors);

}  // namespace convscale::plan
