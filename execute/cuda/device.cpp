#include "execute/cuda/device.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <utility>

#include "execute/cuda/check.h"
#include "model/util/error.h"

namespace convscale::cuda {
namespace {

std::atomic<double> g_allocated{0};
std::atomic<double> g_peak{0};

void Count(double delta) {
  const double now = g_allocated.fetch_add(delta) + delta;
  double peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

}  // namespace

std::string NoDeviceReason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls report their own
    return "cudaGetDeviceCount: " + ErrorString(e);
  }
  if (n == 0) return "cudaGetDeviceCount: 0 CUDA devices visible (check CUDA_VISIBLE_DEVICES)";
  return "";
}

DeviceInfo UseDevice(int index) {
  if (std::string why = NoDeviceReason(); !why.empty())
    throw RuntimeError("no CUDA device: " + why);
  DeviceInfo info;
  CUDA_CHECK(cudaGetDeviceCount(&info.count));
  info.index = index < 0 ? 0 : index % info.count;
  CUDA_CHECK(cudaSetDevice(info.index));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, info.index));
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.memory_bytes = static_cast<double>(prop.totalGlobalMem);
  info.multiprocessors = prop.multiProcessorCount;
  int clock_khz = 0, bus_bits = 0;
  // CUDA 13 removed memoryClockRate from cudaDeviceProp; the attributes remain.
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, info.index) == cudaSuccess &&
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, info.index) == cudaSuccess)
    info.memory_bandwidth_Bps = 2.0 * clock_khz * 1e3 * bus_bits / 8.0;  // double data rate
  return info;
}

int LocalRank() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID",
                          "MV2_COMM_WORLD_LOCAL_RANK"})
    if (const char* v = std::getenv(var); v && *v) return std::atoi(v);
  return 0;
}

double AllocatedBytes() {
  return g_allocated.load();
}
double PeakAllocatedBytes() {
  return g_peak.load();
}
void ResetPeak() {
  g_peak.store(g_allocated.load());
}

double DeviceUsedBytes() {
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return static_cast<double>(total_b - free_b);
}

DeviceBuffer::DeviceBuffer(size_t bytes) {
  Reserve(bytes);
}

DeviceBuffer::~DeviceBuffer() {
  Release();
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    Release();
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::Reserve(size_t bytes) {
  if (bytes <= bytes_) return;
  Release();
  CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  bytes_ = bytes;
  Count(static_cast<double>(bytes));
}

void DeviceBuffer::Release() noexcept {
  if (!ptr_) return;
  cudaFree(ptr_);  // errors at teardown are not actionable; never throw from a destructor
  Count(-static_cast<double>(bytes_));
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace convscale::cuda
