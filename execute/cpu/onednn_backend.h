// The CPU ComputeBackend: oneDNN 2.x primitives on plain NCHW fp32 tensors.
//
// Convolution, pooling, batch norm, element-wise activations and inner product are oneDNN
// primitives (forward_training, backward-data, backward-weights; batch norm computes both of its
// gradients in one backward primitive, so BackwardWeight only accumulates what BackwardData
// kept). Flatten, concat, add, dropout, softmax and the softmax-cross-entropy loss are plain loops.
// Parameters and gradients each live in one arena in forward layer order (weights then bias), so
// a bucket of adjacent layers is one contiguous buffer.
#pragma once

#include <memory>

#include "execute/backend.h"

namespace convscale::exec::cpu {

std::unique_ptr<ComputeBackend> MakeOneDnnBackend();

}  // namespace convscale::exec::cpu
