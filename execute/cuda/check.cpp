#include "execute/cuda/check.h"

#include <string_view>

#include "model/util/error.h"

namespace convscale::cuda {

std::string ErrorString(cudaError_t e) {
  return "CUDA error " + std::to_string(static_cast<int>(e)) + " (" + cudaGetErrorName(e) +
         "): " + cudaGetErrorString(e);
}

std::string ErrorString(cudnnStatus_t s) {
  std::string out =
      "cuDNN error " + std::to_string(static_cast<int>(s)) + " (" + cudnnGetErrorString(s) + ")";
  // cuDNN 9 keeps a more specific last message (which descriptor, which value).
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof detail);
  if (detail[0]) out += ": " + std::string(detail);
  return out;
}

std::string ErrorString(cublasStatus_t s) {
  return "cuBLAS error " + std::to_string(static_cast<int>(s)) + " (" + cublasGetStatusName(s) +
         "): " + cublasGetStatusString(s);
}

std::string ErrorString(ncclResult_t r) {
  std::string out =
      "NCCL error " + std::to_string(static_cast<int>(r)) + ": " + ncclGetErrorString(r);
  // NCCL keeps the last detailed message (which CUDA call failed underneath, which peer).
  if (const char* detail = ncclGetLastError(nullptr); detail && *detail)
    out += " (" + std::string(detail) + ")";
  return out;
}

void ThrowCallError(const char* call, const char* file, int line, const std::string& error) {
  std::string_view f = file;
  for (std::string_view root : {"/execute/", "/tests/"}) {
    if (auto at = f.rfind(root); at != std::string_view::npos) {
      f = f.substr(at + 1);
      break;
    }
  }
  throw RuntimeError(std::string(call) + " at " + std::string(f) + ":" + std::to_string(line) +
                     ": " + error);
}

}  // namespace convscale::cuda
