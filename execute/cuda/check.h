// Error checks for CUDA, cuDNN, cuBLAS and NCCL calls. Every failing call becomes a
// convscale::RuntimeError (exit 1 in `main`) whose message names the call, file:line and the
// library's own error string, for example:
//   cudaGetDeviceCount(&n) at execute/cuda/device.cpp:31: CUDA error 35
//   (cudaErrorInsufficientDriver): CUDA driver version is insufficient for CUDA runtime version
// The macros are usable from .cpp and .cu files; the formatting lives in check.cpp.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include <string>

namespace convscale::cuda {

// "CUDA error 35 (cudaErrorInsufficientDriver): CUDA driver version is insufficient ..."
std::string ErrorString(cudaError_t e);
std::string ErrorString(cudnnStatus_t s);
std::string ErrorString(cublasStatus_t s);
std::string ErrorString(ncclResult_t r);

// Throws RuntimeError("CALL at FILE:LINE: ERROR"). FILE is shortened to its path from the
// repository root (execute/cuda/...) so messages do not depend on the build machine.
[[noreturn]] void ThrowCallError(const char* call, const char* file, int line,
                                 const std::string& error);

}  // namespace convscale::cuda

#define CONVSCALE_CHECK_LIB_(ok_value, call)                                                \
  do {                                                                                      \
    auto convscale_status_ = (call);                                                        \
    if (convscale_status_ != (ok_value))                                                    \
      ::convscale::cuda::ThrowCallError(#call, __FILE__, __LINE__,                          \
                                        ::convscale::cuda::ErrorString(convscale_status_)); \
  } while (0)

#define CUDA_CHECK(call) CONVSCALE_CHECK_LIB_(cudaSuccess, call)
#define CUDNN_CHECK(call) CONVSCALE_CHECK_LIB_(CUDNN_STATUS_SUCCESS, call)
#define CUBLAS_CHECK(call) CONVSCALE_CHECK_LIB_(CUBLAS_STATUS_SUCCESS, call)
#define NCCL_CHECK(call) CONVSCALE_CHECK_LIB_(ncclSuccess, call)
// After a kernel launch: launch-configuration errors surface through cudaGetLastError.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
