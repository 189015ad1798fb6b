// exec::Communicator on NCCL, bootstrapped over MPI.
//
// Communicators: one over the world for point-to-point messages, and one per plan group for
// collectives, created the first time the group is used: its member 0 makes an NCCL unique id and
// sends it to the other members with MPI (only members take part, so lazy creation cannot
// deadlock ranks outside the group). Collectives and messages run on separate streams, apart
// from the compute stream, so communication overlaps backward.
//
// The plan's algorithm: NCCL chooses ring or tree per call unless NCCL_ALGO is set before the
// first communicator is created, and it reads the variable once. MakeNcclCommunicator sets it
// (Ring or Tree) and method() records the value, and any collective whose plan algorithm NCCL
// could not honour (halving-doubling, direct, hierarchical, or a second algorithm in one run).
//
// Point-to-point: NCCL matches sends and receives per peer in issue order and has no tags, so the
// runtime's (peer, tag) pairs must be posted in the same order on both sides, as the plan's
// per-rank program order gives them.
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "execute/cuda/check.h"
#include "execute/cuda/cuda_backend.h"
#include "execute/cuda/device.h"
#include "model/util/error.h"

#ifdef CONVSCALE_CUDA_WITH_MPI
#include <mpi.h>
#endif

namespace convscale::cuda {

std::string NcclAlgoFor(plan::Algorithm a) {
  switch (a) {
    case plan::Algorithm::kRing:
      return "Ring";
    case plan::Algorithm::kTree:
      return "Tree";
    default:
      return "";
  }
}

#ifdef CONVSCALE_CUDA_WITH_MPI
namespace {

#define MPI_CHECK(call)                                                                   \
  do {                                                                                    \
    const int convscale_mpi_rc_ = (call);                                                 \
    if (convscale_mpi_rc_ != MPI_SUCCESS) {                                               \
      char convscale_mpi_msg_[MPI_MAX_ERROR_STRING];                                      \
      int convscale_mpi_len_ = 0;                                                         \
      MPI_Error_string(convscale_mpi_rc_, convscale_mpi_msg_, &convscale_mpi_len_);       \
      ::convscale::cuda::ThrowCallError(#call, __FILE__, __LINE__,                        \
                                        std::string("MPI error: ") + convscale_mpi_msg_); \
    }                                                                                     \
  } while (0)

constexpr int kIdTag = 7301;     // MPI tag of unique-id messages for group communicators
constexpr int kClockTag = 7302;  // MPI tag of clock ping-pong
constexpr int kClockRounds = 20;

ncclDataType_t NcclType(exec::DataType t) {
  switch (t) {
    case exec::DataType::kBF16:
      return ncclBfloat16;
    case exec::DataType::kF16:
      return ncclFloat16;
    default:
      return ncclFloat32;
  }
}

double HostClock() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class NcclCommunicator final : public exec::Communicator {
 public:
  NcclCommunicator(int local_rank, const std::string& algo_env);
  ~NcclCommunicator() override;

  std::string name() const override { return "nccl"; }
  std::string method() const override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void Collective(plan::Collective c, plan::Algorithm a, exec::Buffer buf, exec::DataType type,
                  const exec::CommGroup& group, int root, int64_t tag) override;
  exec::Request Send(exec::Buffer buf, int peer, int64_t tag) override;
  exec::Request Recv(exec::Buffer buf, int peer, int64_t tag) override;
  bool Test(exec::Request& r) override;
  void Wait(exec::Request& r) override;
  void Barrier() override;
  double Now() const override { return HostClock() + offset_s_; }
  double clock_offset_s() const override { return offset_s_; }
  double clock_uncertainty_s() const override { return uncertainty_s_; }
  std::vector<double> AllGatherDoubles(const std::vector<double>& mine) override;
  std::vector<std::string> GatherStrings(const std::string& mine) override;

 private:
  ncclComm_t GroupComm(const exec::CommGroup& group, int* member);
  // Waits for `stream`, failing with the NCCL asynchronous error of `comm` if one occurs.
  void WaitStream(cudaStream_t stream, ncclComm_t comm, const std::string& what);
  exec::Request PostP2P(exec::Buffer buf, int peer, bool send);
  void SyncClock();

  int rank_ = 0, size_ = 1;
  DeviceInfo device_;
  std::string algo_env_;
  ncclComm_t world_ = nullptr;
  std::map<std::vector<int>, ncclComm_t> groups_;  // by member list
  cudaStream_t coll_stream_ = nullptr, p2p_stream_ = nullptr;
  std::mutex p2p_mu_, mpi_mu_;
  std::map<int64_t, cudaEvent_t> pending_;
  int64_t next_request_ = 0;
  std::set<std::string> unenforced_;  // plan algorithms NCCL_ALGO did not honour
  double offset_s_ = 0, uncertainty_s_ = 0;
};

NcclCommunicator::NcclCommunicator(int local_rank, const std::string& algo_env)
    : algo_env_(algo_env) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) throw RuntimeError("nccl communicator: MPI is not initialised");
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  device_ = UseDevice(local_rank < 0 ? LocalRank() : local_rank);
  // NCCL reads NCCL_ALGO when its first communicator is created; a user's setting wins.
  if (const char* user = std::getenv("NCCL_ALGO")) {
    algo_env_ = user;
  } else if (!algo_env_.empty()) {
    setenv("NCCL_ALGO", algo_env_.c_str(), 1);
  }
  ncclUniqueId id{};
  if (rank_ == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
  NCCL_CHECK(ncclCommInitRank(&world_, size_, id, rank_));
  CUDA_CHECK(cudaStreamCreateWithFlags(&coll_stream_, cudaStreamNonBlocking));
  CUDA_CHECK(cudaStreamCreateWithFlags(&p2p_stream_, cudaStreamNonBlocking));
  SyncClock();
}

NcclCommunicator::~NcclCommunicator() {
  for (auto& [id, ev] : pending_) cudaEventDestroy(ev);
  for (auto& [members, comm] : groups_) ncclCommDestroy(comm);
  if (world_) ncclCommDestroy(world_);
  if (coll_stream_) cudaStreamDestroy(coll_stream_);
  if (p2p_stream_) cudaStreamDestroy(p2p_stream_);
}

std::string NcclCommunicator::method() const {
  int version = 0;
  ncclGetVersion(&version);
  std::string m = "NCCL " + std::to_string(version) + " on its own streams, NCCL_ALGO=" +
                  (algo_env_.empty() ? "(NCCL's choice)" : algo_env_);
  if (!unenforced_.empty()) {
    m += "; plan algorithms not enforced:";
    for (const auto& a : unenforced_) m += " " + a;
  }
  return m;
}

// Ping-pong against rank 0: rank r sends, rank 0 answers with its clock; the round with the
// shortest round trip gives offset = t0 - (t_send + t_recv) / 2, uncertainty = rtt / 2.
void NcclCommunicator::SyncClock() {
  for (int r = 1; r < size_; ++r) {
    double best_rtt = 1e30, best_offset = 0;
    for (int i = 0; i < kClockRounds; ++i) {
      if (rank_ == 0) {
        double dummy = 0;
        MPI_CHECK(MPI_Recv(&dummy, 1, MPI_DOUBLE, r, kClockTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        const double t0 = HostClock();
        MPI_CHECK(MPI_Send(&t0, 1, MPI_DOUBLE, r, kClockTag, MPI_COMM_WORLD));
      } else if (rank_ == r) {
        const double t1 = HostClock();
        double t0 = 0;
        MPI_CHECK(MPI_Send(&t1, 1, MPI_DOUBLE, 0, kClockTag, MPI_COMM_WORLD));
        MPI_CHECK(MPI_Recv(&t0, 1, MPI_DOUBLE, 0, kClockTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        const double t2 = HostClock();
        if (t2 - t1 < best_rtt) {
          best_rtt = t2 - t1;
          best_offset = t0 - (t1 + t2) / 2;
        }
      }
    }
    if (rank_ == r) {
      offset_s_ = best_offset;
      uncertainty_s_ = best_rtt / 2;
    }
  }
}

ncclComm_t NcclCommunicator::GroupComm(const exec::CommGroup& group, int* member) {
  const auto it = std::find(group.ranks.begin(), group.ranks.end(), rank_);
  if (it == group.ranks.end())
    throw RuntimeError("nccl communicator: rank " + std::to_string(rank_) +
                       " is not a member of group " + std::to_string(group.index));
  *member = static_cast<int>(it - group.ranks.begin());
  if (auto g = groups_.find(group.ranks); g != groups_.end()) return g->second;
  const int n = static_cast<int>(group.ranks.size());
  ncclUniqueId id{};
  {
    std::lock_guard<std::mutex> lock(mpi_mu_);
    if (*member == 0) {
      NCCL_CHECK(ncclGetUniqueId(&id));
      for (int i = 1; i < n; ++i)
        MPI_CHECK(MPI_Send(&id, sizeof id, MPI_BYTE, group.ranks[i], kIdTag, MPI_COMM_WORLD));
    } else {
      MPI_CHECK(MPI_Recv(&id, sizeof id, MPI_BYTE, group.ranks[0], kIdTag, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE));
    }
  }
  ncclComm_t comm = nullptr;
  NCCL_CHECK(ncclCommInitRank(&comm, n, id, *member));
  groups_[group.ranks] = comm;
  return comm;
}

void NcclCommunicator::WaitStream(cudaStream_t stream, ncclComm_t comm, const std::string& what) {
  for (;;) {
    const cudaError_t e = cudaStreamQuery(stream);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady)
      throw RuntimeError("nccl communicator: " + what + ": " + ErrorString(e));
    ncclResult_t async = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(comm, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      ncclCommAbort(comm);
      throw RuntimeError("nccl communicator: " + what + ": " + ErrorString(async));
    }
    std::this_thread::yield();
  }
}

void NcclCommunicator::Collective(plan::Collective c, plan::Algorithm a, exec::Buffer buf,
                                  exec::DataType type, const exec::CommGroup& group, int root,
                                  int64_t tag) {
  if (c == plan::Collective::kReduceScatter && a == plan::Algorithm::kTree)
    throw std::invalid_argument("tree reduce-scatter does not exist");
  const std::string want = NcclAlgoFor(a);
  if (want.empty() || (!algo_env_.empty() && want != algo_env_)) unenforced_.insert(plan::Name(a));
  int member = 0;
  ncclComm_t comm = GroupComm(group, &member);
  const int n = static_cast<int>(group.ranks.size());
  const size_t es = static_cast<size_t>(exec::SizeOf(type));
  const size_t count = buf.bytes / es;
  const ncclDataType_t t = NcclType(type);
  char* p = static_cast<char*>(buf.data);
  const size_t q = count / static_cast<size_t>(n), tail = count - q * static_cast<size_t>(n);
  NCCL_CHECK(ncclGroupStart());
  switch (c) {
    case plan::Collective::kAllReduce:
      NCCL_CHECK(ncclAllReduce(p, p, count, t, ncclSum, comm, coll_stream_));
      break;
    case plan::Collective::kReduceScatter:
      // In place: member i's chunk is at i * q; the remainder belongs to the last member.
      if (q)
        NCCL_CHECK(ncclReduceScatter(p, p + member * q * es, q, t, ncclSum, comm, coll_stream_));
      if (tail)
        NCCL_CHECK(ncclReduce(p + n * q * es, p + n * q * es, tail, t, ncclSum, n - 1, comm,
                              coll_stream_));
      break;
    case plan::Collective::kAllGather:
      if (q) NCCL_CHECK(ncclAllGather(p + member * q * es, p, q, t, comm, coll_stream_));
      if (tail)
        NCCL_CHECK(
            ncclBroadcast(p + n * q * es, p + n * q * es, tail, t, n - 1, comm, coll_stream_));
      break;
    case plan::Collective::kBroadcast:
      NCCL_CHECK(ncclBroadcast(p, p, count, t, root, comm, coll_stream_));
      break;
    case plan::Collective::kReduce:
      NCCL_CHECK(ncclReduce(p, p, count, t, ncclSum, root, comm, coll_stream_));
      break;
  }
  NCCL_CHECK(ncclGroupEnd());
  WaitStream(coll_stream_, comm,
             std::string(plan::Name(c)) + " " + std::to_string(tag) + " on group " +
                 std::to_string(group.index));
}

exec::Request NcclCommunicator::PostP2P(exec::Buffer buf, int peer, bool send) {
  std::lock_guard<std::mutex> lock(p2p_mu_);
  if (send)
    NCCL_CHECK(ncclSend(buf.data, buf.bytes, ncclUint8, peer, world_, p2p_stream_));
  else
    NCCL_CHECK(ncclRecv(buf.data, buf.bytes, ncclUint8, peer, world_, p2p_stream_));
  cudaEvent_t ev = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventRecord(ev, p2p_stream_));
  const int64_t id = next_request_++;
  pending_[id] = ev;
  return exec::Request{id};
}

exec::Request NcclCommunicator::Send(exec::Buffer buf, int peer, int64_t tag) {
  return PostP2P(buf, peer, true);
}

exec::Request NcclCommunicator::Recv(exec::Buffer buf, int peer, int64_t tag) {
  return PostP2P(buf, peer, false);
}

bool NcclCommunicator::Test(exec::Request& r) {
  std::lock_guard<std::mutex> lock(p2p_mu_);
  auto it = pending_.find(r.id);
  if (it == pending_.end()) return true;
  const cudaError_t e = cudaEventQuery(it->second);
  if (e == cudaErrorNotReady) {
    ncclResult_t async = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(world_, &async));
    if (async != ncclSuccess && async != ncclInProgress)
      throw RuntimeError("nccl communicator: send/recv: " + ErrorString(async));
    return false;
  }
  cudaEventDestroy(it->second);
  pending_.erase(it);
  r.id = -1;
  if (e != cudaSuccess) throw RuntimeError("nccl communicator: send/recv: " + ErrorString(e));
  return true;
}

void NcclCommunicator::Wait(exec::Request& r) {
  while (!Test(r)) std::this_thread::yield();
}

void NcclCommunicator::Barrier() {
  std::lock_guard<std::mutex> lock(mpi_mu_);
  MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

std::vector<double> NcclCommunicator::AllGatherDoubles(const std::vector<double>& mine) {
  std::vector<double> all(mine.size() * static_cast<size_t>(size_));
  std::lock_guard<std::mutex> lock(mpi_mu_);
  MPI_CHECK(MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(),
                          static_cast<int>(mine.size()), MPI_DOUBLE, MPI_COMM_WORLD));
  return all;
}

std::vector<std::string> NcclCommunicator::GatherStrings(const std::string& mine) {
  std::lock_guard<std::mutex> lock(mpi_mu_);
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  MPI_CHECK(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD));
  int total = 0;
  for (int i = 0; i < size_; ++i) {
    offsets[i] = total;
    total += lens[i];
  }
  std::string all(static_cast<size_t>(rank_ == 0 ? total : 0), '\0');
  MPI_CHECK(MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(),
                        MPI_CHAR, 0, MPI_COMM_WORLD));
  std::vector<std::string> out;
  if (rank_ != 0) return out;
  for (int i = 0; i < size_; ++i) out.push_back(all.substr(offsets[i], lens[i]));
  return out;
}

}  // namespace

std::unique_ptr<exec::Communicator> MakeNcclCommunicator(int local_rank,
                                                         const std::string& algorithm_env) {
  return std::make_unique<NcclCommunicator>(local_rank, algorithm_env);
}

#else  // no MPI: NCCL cannot be bootstrapped across processes

std::unique_ptr<exec::Communicator> MakeNcclCommunicator(int, const std::string&) {
  throw RuntimeError(
      "nccl communicator: this build has no MPI (configure with CONVSCALE_WITH_MPI=ON and an MPI "
      "installation); NCCL needs MPI to exchange its unique id");
}

#endif

}  // namespace convscale::cuda
