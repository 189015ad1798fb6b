// Kernels the libraries do not provide. Grid-stride loops; one block per row for the loss.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

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
