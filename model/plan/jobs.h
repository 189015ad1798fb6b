// Several jobs on one cluster: their plans placed side by side on its devices, so one
// simulation shows how they slow each other down on the fabric they share (docs/simulator.md,
// "Two jobs on one fabric").
#pragma once

#include <string>
#include <vector>

#include "model/plan/plan.h"
#include "topologies/cluster.h"

namespace convscale::plan {

// One job to place: its plan, the cluster it was lowered for, and a name for messages and
// outputs (its file name).
struct Job {
  const Plan* plan = nullptr;
  const topo::Cluster* cluster = nullptr;
  std::string name;
};

// Where a job's ranks went in the joint plan.
struct PlacedJob {
  std::string name;
  int first_rank = 0;  // its ranks are first_rank .. first_rank + ranks - 1 of the joint plan
  int ranks = 0;
  int first_device = 0;  // device endpoints of `shared` it runs on, in device order
  int devices = 0;
  int64_t global_batch = 0;
};

// The devices (endpoints 0 .. num_devices() - 1) every job uses, counted from 0: how many
// devices the shared cluster needs. Throws InputError, naming the job, when a rank runs on a
// host CPU or a server (only device ranks can be moved to other devices).
int JobDevices(const Job& job);

// One plan running every job at once on `shared`: job j's device d becomes device
// (devices of jobs 0..j-1) + d; its ranks, groups and collective ids follow those of the jobs
// before it. The jobs must have been lowered for the same cluster description (by name), with
// one compute precision, synchronously (InputError otherwise, naming the job). The joint plan's
// context and global batch are job 0's.
Plan PlaceJobs(const std::vector<Job>& jobs, const topo::Cluster& shared,
               std::vector<PlacedJob>* placed);

}  // namespace convscale::plan
