// Process start-up for the executor: the only place MPI is initialised and finalised.
//
// `convscale execute` is started once per rank by `mpirun -np N` (or srun); the rank and the
// number of ranks come from MPI. Launch also installs the error policy: MPI errors return codes
// (MPI_ERRORS_RETURN) that the communicator turns into RuntimeErrors naming the lost peer, and a
// failing rank aborts the job (MPI_Abort) so no other rank waits forever.
#pragma once

#include <memory>
#include <string>

#include "execute/backend.h"

namespace convscale::exec {

struct LaunchOptions {
  // Run collectives with the MPI library (MPI_Allreduce ...) instead of the plan's point-to-point
  // schedule; the library is forced to the plan's algorithm through Open MPI's coll_tuned
  // parameters, set in the environment before MPI_Init.
  bool library_collectives = false;
  std::string forced_algorithm;  // plan algorithm name used to pick coll_tuned ids ("ring", ...)
  // Seconds a rank waits for a peer before it reports the peer lost (see RuntimeOptions).
  double peer_timeout_s = 30;
};

class Launch {
 public:
  // Initialises MPI (MPI_THREAD_MULTIPLE). Throws RuntimeError when MPI cannot start.
  explicit Launch(const LaunchOptions& options);
  ~Launch();  // MPI_Finalize, or MPI_Abort when a failure was reported
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  int rank() const;
  int size() const;
  // The processor (host) name of this rank.
  std::string host() const;
  // The MPI communicator over all ranks (clock offsets are estimated on creation, collectively).
  std::unique_ptr<Communicator> MakeCommunicator();
  // Marks the run failed: the destructor aborts the whole job instead of finalising, so ranks
  // waiting on this one exit too.
  void Fail(int code);
  // Whether MPI was started by a launcher (mpirun/srun) or as a singleton.
  bool under_launcher() const;
  const LaunchOptions& options() const { return options_; }

 private:
  LaunchOptions options_;
  int failed_ = 0;
};

}  // namespace convscale::exec
