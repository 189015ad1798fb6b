// Kernels the libraries do not provide. Grid-stride loops; one block per row for the loss.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "execute/cuda/check.h"
#include "execute/cuda/kernels.h"

namespace convscale::cuda {
namespace {

constexpr int kThreads = 256;

int Blocks(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 4096 ? (b < 1 ? 1 : b) : 4096);
}

__device__ __forceinline__ float ToF(float x) {
  return x;
}
__device__ __forceinline__ float ToF(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
__device__ __forceinline__ float ToF(__half x) {
  return __half2float(x);
}
template <class T>
__device__ __forceinline__ T FromF(float x);
template <>
__device__ __forceinline__ float FromF<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromF<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half FromF<__half>(float x) {
  return __float2half_rn(x);
}

// One block per sample: max, sum of exp, loss, gradient. Numerically stable (subtracts the max).
template <class T>
__global__ void SoftmaxXentKernel(const T* logits, const int32_t* labels, int64_t classes,
                                  float grad_scale, float* loss_sum, T* dlogits) {
  __shared__ float red[kThreads];
  const int64_t row = blockIdx.x;
  const T* x = logits + row * classes;
  T* dx = dlogits + row * classes;
  float m = -INFINITY;
  for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) m = fmaxf(m, ToF(x[c]));
  red[threadIdx.x] = m;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + w]);
    __syncthreads();
  }
  m = red[0];
  __syncthreads();
  float s = 0;
  for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) s += expf(ToF(x[c]) - m);
  red[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w];
    __syncthreads();
  }
  s = red[0];
  const int32_t label = labels[row];
  for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) {
    const float p = expf(ToF(x[c]) - m) / s;
    dx[c] = FromF<T>((p - (c == label ? 1.f : 0.f)) * grad_scale);
  }
  if (threadIdx.x == 0) atomicAdd(loss_sum, logf(s) + m - ToF(x[label]));
}

// Element-wise kernels move 16-byte packs (4 fp32 or 8 bf16/fp16 values) when every pointer is
// 16-byte aligned, which memory-bound kernels need to reach the device's bandwidth; the tail (and
// unaligned buffers) go element by element.
template <class T>
struct alignas(16) Pack {
  static constexpr int kN = 16 / sizeof(T);
  T v[kN];
};

bool Aligned16(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// out[i] = f(a[i], b[i], out[i]) in fp32 for i < n. A null input reads as 0; out is read only
// when f.reads_out (accumulations with beta != 0).
template <class T, class F>
__global__ void ElementwiseKernel(T* out, const T* a, const T* b, int64_t n, bool vec, F f) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t tid = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  int64_t done = 0;
  if (vec) {
    constexpr int V = Pack<T>::kN;
    const int64_t packs = n / V;
    for (int64_t p = tid; p < packs; p += stride) {
      const Pack<T> x = a ? reinterpret_cast<const Pack<T>*>(a)[p] : Pack<T>{};
      const Pack<T> y = b ? reinterpret_cast<const Pack<T>*>(b)[p] : Pack<T>{};
      Pack<T> o = f.reads_out ? reinterpret_cast<const Pack<T>*>(out)[p] : Pack<T>{};
#pragma unroll
      for (int k = 0; k < V; ++k) o.v[k] = FromF<T>(f(ToF(x.v[k]), ToF(y.v[k]), ToF(o.v[k])));
      reinterpret_cast<Pack<T>*>(out)[p] = o;
    }
    done = packs * V;
  }
  for (int64_t i = done + tid; i < n; i += stride)
    out[i] = FromF<T>(f(a ? ToF(a[i]) : 0.f, b ? ToF(b[i]) : 0.f, f.reads_out ? ToF(out[i]) : 0.f));
}

struct AddOp {
  bool reads_out = false;
  __device__ float operator()(float a, float b, float) const { return a + b; }
};
struct ReluOp {
  bool reads_out = false;
  __device__ float operator()(float x, float, float) const { return x > 0.f ? x : 0.f; }
};
// dx = beta dx + (y > 0 ? dy : 0)
struct ReluGradOp {
  float beta = 0;
  bool reads_out = false;
  __device__ float operator()(float y, float dy, float dx) const {
    return (y > 0.f ? dy : 0.f) + (reads_out ? beta * dx : 0.f);
  }
};
// dst = beta dst + src
struct AxpbyOp {
  float beta = 0;
  bool reads_out = false;
  __device__ float operator()(float src, float, float dst) const {
    return (reads_out ? beta * dst : 0.f) + src;
  }
};

template <class D, class S>
__global__ void AxpbyKernel(D* dst, const S* src, int64_t n, float beta) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = FromF<D>((beta == 0.f ? 0.f : beta * ToF(dst[i])) + ToF(src[i]));
}

__global__ void ScaleKernel(float* x, int64_t n, float a) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    x[i] *= a;
}

template <class T>
__global__ void SgdKernel(float* w, const float* g, float* v, int64_t n, float lr, float mu,
                          float wd, T* lowp) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float gi = g[i] + wd * w[i];
    const float vi = mu * v[i] + gi;
    v[i] = vi;
    const float wi = w[i] - lr * vi;
    w[i] = wi;
    if (lowp) lowp[i] = FromF<T>(wi);
  }
}

template <class T>
__global__ void AdamKernel(float* w, const float* g, float* m, float* v, int64_t n, float lr,
                           float b1, float b2, float eps, float wd, float c1, float c2, T* lowp) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float gi = g[i] + wd * w[i];
    const float mi = b1 * m[i] + (1.f - b1) * gi;
    const float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float wi = w[i] - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    w[i] = wi;
    if (lowp) lowp[i] = FromF<T>(wi);
  }
}

// Calls f with a null pointer of the element type of t (the kernels' template argument).
template <class F>
void Dispatch(DType t, F&& f) {
  switch (t) {
    case DType::kF32:
      f(static_cast<float*>(nullptr));
      break;
    case DType::kBF16:
      f(static_cast<__nv_bfloat16*>(nullptr));
      break;
    case DType::kF16:
      f(static_cast<__half*>(nullptr));
      break;
  }
}

template <class F>
void Elementwise(DType t, void* out, const void* a, const void* b, int64_t n, F f, cudaStream_t s) {
  if (n == 0) return;
  const bool vec = Aligned16({out, a, b});
  Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    ElementwiseKernel<T, F><<<Blocks(n / Pack<T>::kN + 1), kThreads, 0, s>>>(
        static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), n, vec, f);
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

int SizeOf(DType t) {
  return t == DType::kF32 ? 4 : 2;
}
const char* Name(DType t) {
  switch (t) {
    case DType::kF32:
      return "fp32";
    case DType::kBF16:
      return "bf16";
    case DType::kF16:
      return "fp16";
  }
  return "?";
}

void SoftmaxCrossEntropy(DType t, const void* logits, const int32_t* labels, int64_t n,
                         int64_t classes, float grad_scale, float* loss_sum, void* dlogits,
                         cudaStream_t s) {
  if (n == 0) return;
  Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    SoftmaxXentKernel<T><<<static_cast<unsigned>(n), kThreads, 0, s>>>(
        static_cast<const T*>(logits), labels, classes, grad_scale, loss_sum,
        static_cast<T*>(dlogits));
  });
  CUDA_CHECK_LAUNCH();
}

void Axpby(DType dst_t, void* dst, DType src_t, const void* src, int64_t n, float beta,
           cudaStream_t s) {
  if (n == 0) return;
  if (dst_t == src_t) {
    Elementwise(dst_t, dst, src, nullptr, n, AxpbyOp{beta, beta != 0.f}, s);
    return;
  }
  Dispatch(dst_t, [&](auto* dtag) {
    using D = std::remove_pointer_t<decltype(dtag)>;
    Dispatch(src_t, [&](auto* stag) {
      using S = std::remove_pointer_t<decltype(stag)>;
      AxpbyKernel<D, S><<<Blocks(n), kThreads, 0, s>>>(static_cast<D*>(dst),
                                                       static_cast<const S*>(src), n, beta);
    });
  });
  CUDA_CHECK_LAUNCH();
}

void Add(DType t, void* y, const void* a, const void* b, int64_t n, cudaStream_t s) {
  Elementwise(t, y, a, b, n, AddOp{}, s);
}

void ReluForward(DType t, void* y, const void* x, int64_t n, cudaStream_t s) {
  Elementwise(t, y, x, nullptr, n, ReluOp{}, s);
}

void ReluBackward(DType t, void* dx, const void* y, const void* dy, int64_t n, float beta,
                  cudaStream_t s) {
  Elementwise(t, dx, y, dy, n, ReluGradOp{beta, beta != 0.f}, s);
}

void Scale(float* x, int64_t n, float a, cudaStream_t s) {
  if (n == 0) return;
  ScaleKernel<<<Blocks(n), kThreads, 0, s>>>(x, n, a);
  CUDA_CHECK_LAUNCH();
}

void SgdMomentumUpdate(float* w, const float* g, float* v, int64_t n, float lr, float momentum,
                       float weight_decay, DType t, void* lowp, cudaStream_t s) {
  if (n == 0) return;
  Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    SgdKernel<T><<<Blocks(n), kThreads, 0, s>>>(w, g, v, n, lr, momentum, weight_decay,
                                                static_cast<T*>(lowp));
  });
  CUDA_CHECK_LAUNCH();
}

void AdamUpdate(float* w, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weight_decay, int64_t step, DType t, void* lowp,
                cudaStream_t s) {
  if (n == 0) return;
  const float c1 = 1.f - std::pow(beta1, static_cast<float>(step));
  const float c2 = 1.f - std::pow(beta2, static_cast<float>(step));
  Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    AdamKernel<T><<<Blocks(n), kThreads, 0, s>>>(w, g, m, v, n, lr, beta1, beta2, eps, weight_decay,
                                                 c1, c2, static_cast<T*>(lowp));
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace convscale::cuda
