// The backend's own CUDA kernels (kernels.cu): softmax + cross-entropy loss, optimizer updates,
// precision casts, and the memory-bound element-wise layers (ReLU, residual add) in 16-byte
// packs. Launchers take raw device pointers and a stream and check the launch;
// element counts are elements, not bytes. Everything else is cuDNN or cuBLAS.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convscale::cuda {

// Element type of activations and compute-precision weights. Master weights, gradients and
// optimizer state are always fp32.
enum class DType { kF32, kBF16, kF16 };
int SizeOf(DType t);
const char* Name(DType t);

// Softmax + cross-entropy of `logits` [n][classes] (row-major, type t) against integer labels.
// Adds the batch's summed loss to *loss_sum (device, fp32) and writes
// dlogits = (softmax - onehot(label)) * grad_scale (type t), grad_scale usually 1/global batch.
void SoftmaxCrossEntropy(DType t, const void* logits, const int32_t* labels, int64_t n,
                         int64_t classes, float grad_scale, float* loss_sum, void* dlogits,
                         cudaStream_t s);

// dst[i] = beta * dst[i] + src[i], each in its own type, summed in fp32 and rounded to nearest
// even. beta = 0 is a cast (dst is not read), beta = 1 an accumulation.
void Axpby(DType dst_t, void* dst, DType src_t, const void* src, int64_t n, float beta,
           cudaStream_t s);
// y = a + b, element-wise in type t (residual additions).
void Add(DType t, void* y, const void* a, const void* b, int64_t n, cudaStream_t s);
// y = max(x, 0); and its gradient dx = beta dx + (y > 0 ? dy : 0) from the output y (beta = 0
// overwrites dx without reading it, beta = 1 accumulates into it).
void ReluForward(DType t, void* y, const void* x, int64_t n, cudaStream_t s);
void ReluBackward(DType t, void* dx, const void* y, const void* dy, int64_t n, float beta,
                  cudaStream_t s);
// x[i] *= a (fp32), e.g. averaging all-reduced gradients.
void Scale(float* x, int64_t n, float a, cudaStream_t s);

// SGD with momentum (PyTorch's form): g' = g + wd w; v = mu v + g'; w -= lr v. When `lowp` is
// not null it receives w cast to type t (the compute copy of the master weights).
void SgdMomentumUpdate(float* w, const float* g, float* v, int64_t n, float lr, float momentum,
                       float weight_decay, DType t, void* lowp, cudaStream_t s);
// Adam (Kingma & Ba), bias-corrected, step >= 1; m and v are the first and second moments.
void AdamUpdate(float* w, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weight_decay, int64_t step, DType t, void* lowp,
                cudaStream_t s);

}  // namespace convscale::cuda
