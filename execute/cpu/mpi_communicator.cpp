// The MPI Communicator and the MPI start-up (execute/launch.h).
//
// Collectives run the plan's algorithm as point-to-point steps (schedules.h) over MPI_Isend/
// MPI_Irecv on a duplicate of MPI_COMM_WORLD reserved for collectives (messages between two ranks
// are non-overtaking and every rank issues collectives in the same order, so one tag per step
// suffices). With --mpi-collectives the MPI library runs them instead (MPI_Allreduce ...), forced
// to the matching Open MPI coll_tuned algorithm. Point-to-point tasks use MPI_COMM_WORLD with
// the plan's tag.
//
// Waiting polls MPI_Test with short sleeps (two cores are shared by several ranks and oneDNN) and
// gives up after the peer timeout, naming the peer.
#include <mpi.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "execute/cpu/schedules.h"
#include "execute/elements.h"
#include "execute/launch.h"
#include "model/util/error.h"

namespace convscale::exec {
namespace {

double MonotonicNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string MpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, size_t(len));
}

int g_world_rank = -1;

void Check(int code, const char* call) {
  if (code != MPI_SUCCESS)
    throw RuntimeError("rank " + std::to_string(g_world_rank) + ": " + call +
                       " failed: " + MpiError(code));
}

// Open MPI coll_tuned algorithm ids (ompi/mca/coll/tuned/coll_tuned_*_decision.c, 4.1).
struct TunedIds {
  int allreduce, reduce_scatter, allgather, bcast, reduce;
};
bool TunedFor(const std::string& algorithm, TunedIds& ids) {
  if (algorithm == "ring")
    ids = {4, 3, 4, 2, 2};
  else if (algorithm == "halving-doubling")
    ids = {6, 2, 3, 6, 5};
  else if (algorithm == "tree")
    ids = {3, 2, 2, 5, 4};
  else if (algorithm == "direct")
    ids = {1, 1, 1, 1, 1};
  else
    return false;
  return true;
}

MPI_Datatype MpiType(DataType t) {
  return t == DataType::kF32 ? MPI_FLOAT : MPI_UINT16_T;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(const LaunchOptions& options) : options_(options) {
    Check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    Check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    Check(MPI_Comm_dup(MPI_COMM_WORLD, &coll_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(coll_, MPI_ERRORS_RETURN);
    EstimateClockOffset();
  }
  ~MpiCommunicator() override {
    for (auto& [k, c] : subcomms_)
      if (c != MPI_COMM_NULL) MPI_Comm_free(&c);
    MPI_Comm_free(&coll_);
  }

  std::string name() const override {
    return options_.library_collectives ? "mpi/library" : "mpi/p2p-schedule";
  }
  std::string method() const override {
    if (!options_.library_collectives)
      return "the plan's point-to-point schedule over MPI_Isend/MPI_Irecv";
    TunedIds ids{};
    if (!TunedFor(options_.forced_algorithm, ids))
      return "MPI library collectives (Open MPI's default algorithm choice)";
    return "MPI library collectives forced to coll_tuned algorithms (allreduce " +
           std::to_string(ids.allreduce) + ", reduce_scatter " +
           std::to_string(ids.reduce_scatter) + ", allgather " + std::to_string(ids.allgather) +
           ", bcast " + std::to_string(ids.bcast) + ", reduce " + std::to_string(ids.reduce) +
           ") for " + options_.forced_algorithm;
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void Collective(plan::Collective c, plan::Algorithm a, Buffer buf, DataType type,
                  const CommGroup& group, int root, int64_t tag) override {
    const int n = int(group.ranks.size());
    int me = -1;
    for (int i = 0; i < n; ++i)
      if (group.ranks[size_t(i)] == rank_) me = i;
    if (me < 0)
      throw RuntimeError("rank " + std::to_string(rank_) + " is not a member of group " +
                         std::to_string(group.index));
    const size_t esize = size_t(SizeOf(type));
    const size_t count = buf.bytes / esize;
    if (n == 1) return;
    if (options_.library_collectives) return Library(c, buf, type, group, root, count);

    const auto key = std::make_tuple(int(c), int(a), n, count, root, esize);
    if (!checked_.count(key)) {
      if (root == 0) {
        const std::string diff =
            cpu::MatchesPlanSchedule(c, a, n, count, int(esize), root, group.node_of);
        if (!diff.empty())
          throw RuntimeError("the executor's collective schedule differs from the plan's: " + diff);
      }
      checked_.insert(key);
    }
    const auto steps = cpu::MemberSteps(c, a, n, me, count, root, group.node_of);
    char* base = static_cast<char*>(buf.data);
    std::vector<MPI_Request> reqs;
    std::vector<int> peers;
    std::vector<std::vector<char>> temps;
    for (size_t s = 0; s < steps.size(); ++s) {
      reqs.clear();
      peers.clear();
      temps.clear();
      temps.reserve(steps[s].ops.size());
      const int step_tag = int(s % 30000);
      std::vector<std::pair<const cpu::Op*, char*>> reductions;
      for (const cpu::Op& op : steps[s].ops) {
        const int peer = group.ranks[size_t(op.peer)];
        char* p = base + op.offset * esize;
        MPI_Request r;
        if (op.send) {
          Check(MPI_Isend(p, int(op.count), MpiType(type), peer, step_tag, coll_, &r), "MPI_Isend");
        } else {
          if (op.reduce) {
            temps.emplace_back(op.count * esize);
            p = temps.back().data();
            reductions.push_back({&op, p});
          }
          Check(MPI_Irecv(p, int(op.count), MpiType(type), peer, step_tag, coll_, &r), "MPI_Irecv");
        }
        reqs.push_back(r);
        peers.push_back(peer);
      }
      WaitAll(reqs, peers,
              std::string(plan::Name(c)) + " (collective " + std::to_string(tag) + ", step " +
                  std::to_string(s) + ")");
      for (auto& [op, p] : reductions) SumElements(base + op->offset * esize, p, type, op->count);
    }
  }

  Request Send(Buffer buf, int peer, int64_t tag) override { return Post(buf, peer, tag, true); }
  Request Recv(Buffer buf, int peer, int64_t tag) override { return Post(buf, peer, tag, false); }
  bool Test(Request& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(r.id);
    if (it == pending_.end()) return true;
    int flag = 0;
    Check(MPI_Test(&it->second.req, &flag, MPI_STATUS_IGNORE), "MPI_Test");
    if (flag) {
      pending_.erase(it);
      r.id = -1;
      return true;
    }
    if (options_.peer_timeout_s > 0 && MonotonicNow() - it->second.posted > options_.peer_timeout_s)
      throw RuntimeError("rank " + std::to_string(rank_) + ": no " +
                         (it->second.send ? "delivery to" : "message from") + " rank " +
                         std::to_string(it->second.peer) + " for " +
                         std::to_string(int(options_.peer_timeout_s)) + " s (tag " +
                         std::to_string(it->second.tag) + "): rank " +
                         std::to_string(it->second.peer) + " is lost or stuck");
    return false;
  }
  void Wait(Request& r) override {
    int spins = 0;
    while (!Test(r)) Pause(spins);
  }
  void Barrier() override {
    MPI_Request r;
    Check(MPI_Ibarrier(coll_, &r), "MPI_Ibarrier");
    std::vector<MPI_Request> reqs{r};
    std::vector<int> peers{-1};
    WaitAll(reqs, peers, "barrier");
  }

  double Now() const override { return MonotonicNow() - offset_; }
  double clock_offset_s() const override { return offset_; }
  double clock_uncertainty_s() const override { return uncertainty_; }

  std::vector<double> AllGatherDoubles(const std::vector<double>& mine) override {
    std::vector<double> all(mine.size() * size_t(size_));
    Check(MPI_Allgather(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), int(mine.size()),
                        MPI_DOUBLE, coll_),
          "MPI_Allgather");
    return all;
  }
  std::vector<std::string> GatherStrings(const std::string& mine) override {
    int len = int(mine.size());
    std::vector<int> lens(static_cast<size_t>(size_));
    Check(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, coll_), "MPI_Gather");
    std::vector<int> displs(static_cast<size_t>(size_), 0);
    int total = 0;
    for (int i = 0; i < size_; ++i) {
      displs[size_t(i)] = total;
      total += lens[size_t(i)];
    }
    std::string all(size_t(rank_ == 0 ? total : 0), '\0');
    Check(MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR,
                      0, coll_),
          "MPI_Gatherv");
    std::vector<std::string> out;
    if (rank_ == 0)
      for (int i = 0; i < size_; ++i)
        out.push_back(all.substr(size_t(displs[size_t(i)]), size_t(lens[size_t(i)])));
    return out;
  }

 private:
  struct Pending {
    MPI_Request req;
    int peer;
    int64_t tag;
    bool send;
    double posted;
  };

  // Between two polls of a pending request: yield for the first 100 polls, then sleep, 10 us
  // doubling up to 100 us. Open MPI's TCP transport makes progress only inside MPI calls, but the
  // kernel's socket buffers keep a link busy for far longer than 100 us, so a sleeping waiter
  // loses no bandwidth; it leaves the cores to ranks that compute and to the kernel's network
  // processing, which matters when ranks share cores (the emulated cluster: 4 hosts on 2 cores;
  // busy polling there made a 4-rank ring all-reduce 45-60% slower than the link allows).
  static void Pause(int& spins) {
    if (++spins < 100) {
      sched_yield();
      return;
    }
    const long ns = std::min(100000L, 10000L << std::min(4, (spins - 100) / 8));
    timespec ts{0, ns};
    nanosleep(&ts, nullptr);
  }

  Request Post(Buffer buf, int peer, int64_t tag, bool send) {
    if (peer < 0 || peer >= size_)
      throw RuntimeError("peer rank " + std::to_string(peer) + " is outside 0.." +
                         std::to_string(size_ - 1));
    int ub_flag = 0;
    int* ub = nullptr;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &ub_flag);
    const int64_t max_tag = ub_flag && ub ? *ub : 32767;
    const int mpi_tag = int(tag % (max_tag + 1));
    MPI_Request r;
    if (send)
      Check(MPI_Isend(buf.data, int(buf.bytes), MPI_BYTE, peer, mpi_tag, MPI_COMM_WORLD, &r),
            "MPI_Isend");
    else
      Check(MPI_Irecv(buf.data, int(buf.bytes), MPI_BYTE, peer, mpi_tag, MPI_COMM_WORLD, &r),
            "MPI_Irecv");
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t id = next_id_++;
    pending_[id] = {r, peer, tag, send, MonotonicNow()};
    return {id};
  }

  void WaitAll(std::vector<MPI_Request>& reqs, const std::vector<int>& peers,
               const std::string& what) {
    const double start = MonotonicNow();
    std::vector<bool> done(reqs.size(), false);
    size_t left = reqs.size();
    int spins = 0;
    while (left > 0) {
      for (size_t i = 0; i < reqs.size(); ++i) {
        if (done[i]) continue;
        int flag = 0;
        Check(MPI_Test(&reqs[i], &flag, MPI_STATUS_IGNORE), "MPI_Test");
        if (flag) {
          done[i] = true;
          --left;
        }
      }
      if (!left) break;
      if (options_.peer_timeout_s > 0 && MonotonicNow() - start > options_.peer_timeout_s) {
        std::string who;
        for (size_t i = 0; i < reqs.size(); ++i)
          if (!done[i] && peers[i] >= 0)
            who += (who.empty() ? "" : ", ") + std::to_string(peers[i]);
        throw RuntimeError("rank " + std::to_string(rank_) + ": " + what + " waited " +
                           std::to_string(int(options_.peer_timeout_s)) + " s for rank" +
                           (who.empty() ? "s (barrier)" : " " + who) +
                           ": lost or stuck (peer timeout)");
      }
      Pause(spins);
    }
  }

  MPI_Comm SubComm(const CommGroup& g) {
    auto it = subcomms_.find(g.index);
    if (it != subcomms_.end()) return it->second;
    MPI_Group world, sub;
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    MPI_Group_incl(world, int(g.ranks.size()), g.ranks.data(), &sub);
    MPI_Comm c = MPI_COMM_NULL;
    Check(MPI_Comm_create_group(MPI_COMM_WORLD, sub, int(100 + g.index), &c),
          "MPI_Comm_create_group");
    MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    MPI_Group_free(&sub);
    MPI_Group_free(&world);
    subcomms_[g.index] = c;
    return c;
  }

  void Library(plan::Collective c, Buffer buf, DataType type, const CommGroup& g, int root,
               size_t count) {
    if (type != DataType::kF32)
      throw InputError("--mpi-collectives supports fp32 communication only; the plan asks for " +
                       std::string(Name(type)));
    MPI_Comm comm = SubComm(g);
    const int n = int(g.ranks.size());
    float* p = static_cast<float*>(buf.data);
    std::vector<int> counts(static_cast<size_t>(n)), displs(static_cast<size_t>(n));
    const int base = int(count / size_t(n));
    for (int i = 0; i < n; ++i) {
      counts[size_t(i)] = i == n - 1 ? int(count) - base * (n - 1) : base;
      displs[size_t(i)] = base * i;
    }
    int me = 0;
    MPI_Comm_rank(comm, &me);
    switch (c) {
      case plan::Collective::kAllReduce:
        Check(MPI_Allreduce(MPI_IN_PLACE, p, int(count), MPI_FLOAT, MPI_SUM, comm),
              "MPI_Allreduce");
        break;
      case plan::Collective::kReduceScatter: {
        std::vector<float> out(size_t(counts[size_t(me)]));
        Check(MPI_Reduce_scatter(p, out.data(), counts.data(), MPI_FLOAT, MPI_SUM, comm),
              "MPI_Reduce_scatter");
        std::copy(out.begin(), out.end(), p + displs[size_t(me)]);
        break;
      }
      case plan::Collective::kAllGather:
        Check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, p, counts.data(), displs.data(),
                             MPI_FLOAT, comm),
              "MPI_Allgatherv");
        break;
      case plan::Collective::kBroadcast:
        Check(MPI_Bcast(p, int(count), MPI_FLOAT, root, comm), "MPI_Bcast");
        break;
      case plan::Collective::kReduce:
        Check(MPI_Reduce(me == root ? MPI_IN_PLACE : p, p, int(count), MPI_FLOAT, MPI_SUM, root,
                         comm),
              "MPI_Reduce");
        break;
    }
  }

  // Ping-pong against rank 0 (10 rounds per rank, the round with the shortest round trip wins):
  // offset = remote clock - (send + receive) / 2 on rank 0's clock.
  void EstimateClockOffset() {
    constexpr int kRounds = 10;
    MPI_Barrier(coll_);
    if (rank_ == 0) {
      for (int r = 1; r < size_; ++r) {
        double best_rtt = 1e30, best_offset = 0;
        for (int i = 0; i < kRounds; ++i) {
          const double t0 = MonotonicNow();
          double remote = 0;
          MPI_Send(&t0, 1, MPI_DOUBLE, r, 7, coll_);
          MPI_Recv(&remote, 1, MPI_DOUBLE, r, 7, coll_, MPI_STATUS_IGNORE);
          const double t1 = MonotonicNow();
          if (t1 - t0 < best_rtt) {
            best_rtt = t1 - t0;
            best_offset = remote - (t0 + t1) / 2;
          }
        }
        double result[2] = {best_offset, best_rtt / 2};
        MPI_Send(result, 2, MPI_DOUBLE, r, 8, coll_);
      }
    } else {
      for (int i = 0; i < kRounds; ++i) {
        double t0 = 0;
        MPI_Recv(&t0, 1, MPI_DOUBLE, 0, 7, coll_, MPI_STATUS_IGNORE);
        const double now = MonotonicNow();
        MPI_Send(&now, 1, MPI_DOUBLE, 0, 7, coll_);
      }
      double result[2];
      MPI_Recv(result, 2, MPI_DOUBLE, 0, 8, coll_, MPI_STATUS_IGNORE);
      offset_ = result[0];
      uncertainty_ = result[1];
    }
    MPI_Barrier(coll_);
  }

  LaunchOptions options_;
  int rank_ = 0, size_ = 1;
  MPI_Comm coll_ = MPI_COMM_NULL;
  std::map<int, MPI_Comm> subcomms_;
  std::set<std::tuple<int, int, int, size_t, int, size_t>> checked_;
  std::mutex mu_;
  std::map<int64_t, Pending> pending_;
  int64_t next_id_ = 0;
  double offset_ = 0, uncertainty_ = 0;
};

}  // namespace

Launch::Launch(const LaunchOptions& options) : options_(options) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) throw RuntimeError("MPI was already initialised in this process");
  if (options.library_collectives) {
    TunedIds ids{};
    if (TunedFor(options.forced_algorithm, ids)) {
      setenv("OMPI_MCA_coll_tuned_use_dynamic_rules", "1", 1);
      setenv("OMPI_MCA_coll_tuned_allreduce_algorithm", std::to_string(ids.allreduce).c_str(), 1);
      setenv("OMPI_MCA_coll_tuned_reduce_scatter_algorithm",
             std::to_string(ids.reduce_scatter).c_str(), 1);
      setenv("OMPI_MCA_coll_tuned_allgather_algorithm", std::to_string(ids.allgather).c_str(), 1);
      setenv("OMPI_MCA_coll_tuned_bcast_algorithm", std::to_string(ids.bcast).c_str(), 1);
      setenv("OMPI_MCA_coll_tuned_reduce_algorithm", std::to_string(ids.reduce).c_str(), 1);
    }
  }
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
    throw RuntimeError("MPI_Init_thread failed");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank);
  if (provided < MPI_THREAD_MULTIPLE) {
    failed_ = 1;
    throw RuntimeError(
        "the MPI library does not provide MPI_THREAD_MULTIPLE (the executor "
        "communicates from two threads)");
  }
}

Launch::~Launch() {
  if (failed_) {
    MPI_Abort(MPI_COMM_WORLD, failed_);
  } else {
    MPI_Finalize();
  }
}

int Launch::rank() const {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int Launch::size() const {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}
std::string Launch::host() const {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return std::string(name, size_t(len));
}
std::unique_ptr<Communicator> Launch::MakeCommunicator() {
  return std::make_unique<MpiCommunicator>(options_);
}
void Launch::Fail(int code) {
  failed_ = code ? code : 1;
}
bool Launch::under_launcher() const {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
}

}  // namespace convscale::exec
