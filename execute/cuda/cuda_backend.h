// The CUDA backend of the executor: exec::ComputeBackend on cuDNN + cuBLAS + the kernels of
// kernels.cu, and exec::Communicator on NCCL bootstrapped over MPI. This header is the only one
// the rest of the program includes (the CLI calls the factories below); it names no CUDA type.
//
// Choices, stated in every output through device_description():
//  - Layout: NCHW for fp32/tf32, NHWC for bf16/fp16 (the layouts cuDNN's fastest tensor-core
//    kernels use for each type; NHWC half convolutions avoid cuDNN's internal transposes).
//  - Precision: "fp32" (FMA math, no tensor cores), "tf32" (fp32 storage, TF32 tensor-core
//    math in cuDNN and cuBLAS), "bf16" / "fp16" (mixed: activations, compute weights and
//    gradients in 16 bits, fp32 master weights and optimizer state, fp32 accumulation, batch-norm
//    statistics and parameters in fp32 inside cuDNN).
//  - Convolution algorithms: cudnnFind* (measured, like torch.backends.cudnn.benchmark) or the
//    heuristics of cudnnGet*_v7, the fastest whose workspace fits the budget (default: 10% of
//    device memory, at most 4 GiB).
//  - Parameters(), Gradients() and Activation() are in the compute type (fp32 or 16-bit).
#pragma once

#include <memory>
#include <string>

#include "execute/backend.h"

namespace convscale::cuda {

struct CudaOptions {
  bool find_algorithms = true;         // cudnnFind* (true) or cudnnGet*_v7 heuristics (false)
  double workspace_budget_bytes = -1;  // < 0: 10% of device memory, at most 4 GiB
  std::string layout = "auto";         // "auto", "nchw" or "nhwc"
  // Every call waits for its device work before returning and LastCallDeviceSeconds() gives its
  // device time: one call timed in isolation, launch gaps included. Off (what `execute` and
  // `profile` use): calls only queue work, the host runs ahead and keeps the device busy, and
  // BeginTask/EndTask events time each task without gaps.
  bool synchronous = false;
  // Device of this process: BackendConfig::device plus the launcher's local rank
  // (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID), modulo the device count, so one
  // rank per GPU needs no flag.
  bool add_local_rank = true;
};

// The backend on device BackendConfig::device. Construction creates no CUDA state; Setup selects
// the device and throws RuntimeError("no CUDA device: cudaGetDeviceCount: CUDA error 35 ...") when
// none is usable.
std::unique_ptr<exec::ComputeBackend> MakeCudaBackend(CudaOptions options = {});

// NCCL over MPI: MPI must already be initialised (execute/launch does it). Rank 0 creates the
// NCCL unique id and broadcasts it with MPI_Bcast; every rank then selects device
// local_rank % devices and initialises a communicator for the world (send/recv) and, lazily, one
// per plan group (collectives) on their own stream. `algorithm_env` is the NCCL_ALGO value set
// before the first communicator is created: "Ring", "Tree" or "" (NCCL's choice). NCCL reads it
// once per process, so the plan's algorithm is enforced for the whole run; collectives whose plan
// algorithm differs are reported in method(). Throws RuntimeError when NCCL or the device fails.
// local_rank < 0: the launcher's local rank (see CudaOptions::add_local_rank).
std::unique_ptr<exec::Communicator> MakeNcclCommunicator(int local_rank,
                                                         const std::string& algorithm_env);

// The NCCL_ALGO value that enforces a plan algorithm, "" when NCCL has no equivalent
// (ring -> "Ring", tree -> "Tree"; halving-doubling, direct and hierarchical are left to NCCL).
std::string NcclAlgoFor(plan::Algorithm a);

// Device time of the last compute call of a CUDA backend made with CudaOptions::synchronous,
// measured by the CUDA events that bracket every call (seconds); -1 for any other backend.
double LastCallDeviceSeconds(const exec::ComputeBackend& backend);

// "" when a CUDA device is usable, else CUDA's reason (for tests that skip and for messages).
std::string CudaUnavailableReason();

}  // namespace convscale::cuda
