// Device detection and device memory for the CUDA backend.
//
// Without a usable device (no GPU, no driver, a driver older than the runtime) every entry point
// that needs one throws RuntimeError carrying CUDA's own error string; NoDeviceReason() returns
// the same text for tests to skip with.
#pragma once

#include <cstddef>
#include <string>

namespace convscale::cuda {

struct DeviceInfo {
  int index = 0;
  int count = 0;  // devices visible to this process
  std::string name;
  int sm_major = 0, sm_minor = 0;
  double memory_bytes = 0;  // total device memory
  double memory_bandwidth_Bps = 0;
  int multiprocessors = 0;
};

// "" when at least one CUDA device is usable; otherwise why not, e.g.
// "cudaGetDeviceCount: CUDA error 35 (cudaErrorInsufficientDriver): CUDA driver version is
// insufficient for CUDA runtime version".
std::string NoDeviceReason();

// Selects device `index` (local rank modulo the device count when index < 0 is not given) and
// describes it. Throws RuntimeError("no CUDA device: ...") when none is usable.
DeviceInfo UseDevice(int index);

// The launcher's local rank of this process (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID,
// MPI_LOCALRANKID, MV2_COMM_WORLD_LOCAL_RANK), 0 when started alone.
int LocalRank();

// Device memory this process allocated through DeviceBuffer (bytes): current and peak since the
// last ResetPeak. cuDNN/cuBLAS internal allocations are not included; cudaMemGetInfo-based usage
// is reported separately by DeviceUsedBytes.
double AllocatedBytes();
double PeakAllocatedBytes();
void ResetPeak();
// Total minus free device memory on the current device (bytes), as nvidia-smi shows it.
double DeviceUsedBytes();

// An owned device allocation (cudaMalloc / cudaFree). Move-only. Sizes in bytes.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Grows (never shrinks) to at least `bytes`; contents are not kept.
  void Reserve(size_t bytes);
  void* data() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void Release() noexcept;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace convscale::cuda
