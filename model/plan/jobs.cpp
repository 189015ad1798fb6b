#include "model/plan/jobs.h"

#include <algorithm>

#include "model/util/error.h"

namespace convscale::plan {

int JobDevices(const Job& job) {
  const int have = job.cluster->num_devices();
  int used = 0;
  for (size_t r = 0; r < job.plan->ranks.size(); ++r) {
    const int e = job.plan->ranks[r].endpoint;
    if (e < 0 || e >= have)
      throw InputError(job.name + ": /ranks/" + std::to_string(r) + ": runs on " +
                       (e >= 0 && e < job.cluster->num_endpoints()
                            ? job.cluster->endpoint(e).name
                            : "endpoint " + std::to_string(e)) +
                       ", not on a device; only jobs whose ranks all run on devices can share a "
                       "cluster with another job");
    used = std::max(used, e + 1);
  }
  return used;
}

Plan PlaceJobs(const std::vector<Job>& jobs, const topo::Cluster& shared,
               std::vector<PlacedJob>* placed) {
  if (jobs.empty()) throw InputError("jobs: none to place");
  const Plan& first = *jobs[0].plan;
  Plan out;
  out.context = first.context;
  out.global_batch = first.global_batch;
  out.precision = first.precision;
  out.optimizer = first.optimizer;
  out.cluster_endpoints = shared.num_endpoints();
  int device = 0;
  int64_t collective_base = 0;
  if (placed != nullptr) placed->clear();
  for (const Job& job : jobs) {
    const Plan& p = *job.plan;
    if (p.context.cluster != first.context.cluster)
      throw InputError(job.name + ": /context/cluster: lowered for cluster \"" + p.context.cluster +
                       "\", " + jobs[0].name + " for \"" + first.context.cluster +
                       "\"; jobs must share one cluster description");
    if (p.precision != first.precision)
      throw InputError(job.name + ": /precision: computes in " + p.precision + ", " + jobs[0].name +
                       " in " + first.precision +
                       "; jobs simulated together must share the compute precision");
    if (p.async)
      throw InputError(job.name +
                       ": /async: an asynchronous parameter server cannot share a "
                       "simulation with another job");
    const int devices = JobDevices(job);
    if (device + devices > shared.num_devices())
      throw InputError(job.name + ": needs devices " + std::to_string(device) + ".." +
                       std::to_string(device + devices - 1) + " but cluster \"" + shared.name() +
                       "\" has " + std::to_string(shared.num_devices()));
    const int rank_base = static_cast<int>(out.ranks.size());
    const int group_base = static_cast<int>(out.groups.size());
    int64_t max_collective = -1;
    // Ranks sharing one task list keep sharing its moved copy.
    std::vector<std::pair<TaskList, TaskList>> moved;
    for (const Rank& rk : p.ranks) {
      Rank n = rk;
      n.endpoint = rk.endpoint + device;
      auto it = std::find_if(moved.begin(), moved.end(),
                             [&](const auto& m) { return m.first.SharesWith(rk.tasks); });
      if (it != moved.end()) {
        n.tasks = it->second;
      } else {
        TaskList t = rk.tasks;
        for (Task& k : t) {
          if (k.group >= 0) k.group += group_base;
          if (k.peer >= 0) k.peer += rank_base;
          if (k.collective_id >= 0) {
            max_collective = std::max(max_collective, k.collective_id);
            k.collective_id += collective_base;
          }
        }
        moved.emplace_back(rk.tasks, t);
        n.tasks = t;
      }
      out.ranks.push_back(std::move(n));
    }
    for (const Group& g : p.groups) {
      Group n = g;
      for (int& r : n.ranks) r += rank_base;
      out.groups.push_back(std::move(n));
    }
    if (placed != nullptr)
      placed->push_back(
          {job.name, rank_base, static_cast<int>(p.ranks.size()), device, devices, p.global_batch});
    device += devices;
    collective_base += max_collective + 1;
  }
  Validate(out, "jobs");
  return out;
}

}  // namespace convscale::plan
