// Element-wise helpers on host memory shared by the CPU backend and the MPI communicator: sums
// and casts between fp32, fp16 and bf16 (bf16 rounds to nearest even; fp16 uses the compiler's
// _Float16).
#pragma once

#include <cstddef>

#include "execute/backend.h"

namespace convscale::exec {

// dst[i] += src[i] for n elements of type t (16-bit types are summed in fp32 and rounded back).
void SumElements(void* dst, const void* src, DataType t, size_t n);
// dst (n elements of `to`) = src (n elements of `from`).
void CastElements(void* dst, DataType to, const void* src, DataType from, size_t n);

}  // namespace convscale::exec
