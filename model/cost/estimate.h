// The closed-form cost model and the estimator (docs/plan-format.md, "Cost model").
//
// Compute: roofline per task, max(FLOPs / (peak[precision] x efficiency x speed_factor),
// bytes / (memory bandwidth x speed_factor)) + the device's per-kernel overhead; a task with no
// FLOPs and no bytes (a view such as flatten) costs nothing. With a profile, a layer's measured
// time for the phase replaces the roofline (scaled linearly in samples).
// Communication: alpha-beta per algorithm (collectives.h ClosedFormTime) with alpha the largest
// route latency and B the bottleneck bandwidth of the algorithm's concurrent flows on the
// cluster's routes, each link's bandwidth divided among the flows that cross it in the same
// direction. Point-to-point: route latency + bytes / route bandwidth.
// The estimator walks the task graph with the interpreters' rule (a task starts when its
// dependencies are done; a collective starts when every member is ready; a send and its receive
// run together when both are ready) with these durations. Contention between tasks: in a plan
// with point-to-point transfers, every transfer and collective also queues, first come first
// served, on each link direction it crosses for bytes / bandwidth seconds, so an iteration is
// never shorter than the bytes through its busiest link over that link's bandwidth (a parameter
// server's NIC, a node NIC its devices share). A plan of collectives alone (data parallel) runs
// them one after another on each rank, and their closed forms already share links among their
// own flows.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/cost/summary.h"
#include "model/graph/network.h"
#include "model/plan/plan.h"
#include "model/plan/strategy.h"
#include "topologies/cluster.h"

namespace convscale::cost {

// Measured per-layer times (docs/plan-format.md, "Profile"), written by `convscale profile`.
struct LayerProfile {
  double forward_s = 0, backward_data_s = 0, backward_weight_s = 0;
};
struct Profile {
  std::string model, device, precision;
  int64_t batch = 0;  // samples the times were measured at
  std::map<std::string, LayerProfile> layers;
  double update_s = 0;  // optimizer step of the whole model
  double params = 0;    // parameters the update_s covers
};
Profile LoadProfile(const std::string& path);
Profile ProfileFromJson(const Json& j, const std::string& file);
Json ToJson(const Profile& p);

struct Calibration {
  double efficiency = 0;          // > 0: replaces every device type's efficiency
  double kernel_overhead_s = -1;  // >= 0: replaces every device type's per-kernel overhead
  // Multiplies every roofline compute time: below 1 when a measured one-device throughput beats
  // the roofline at full efficiency (cuDNN's Winograd and FFT convolutions do fewer multiplies
  // than the direct count the roofline assumes).
  double compute_scale = 1;
  const Profile* profile = nullptr;
};

// Seconds of one compute task on an endpoint. `layer_name` is used to look up the profile.
double ComputeTime(const plan::Task& t, const topo::Endpoint& e, const std::string& precision,
                   const Calibration& cal, const std::string& layer_name = "");

// Alpha (s) and bottleneck bandwidth (B/s) of a collective algorithm over endpoints in group
// order (see the file comment). For kHierarchical use HierarchicalTerms.
struct AlphaBeta {
  double alpha_s = 0;
  double bandwidth_Bps = 0;
};
AlphaBeta CollectiveTerms(const topo::Cluster& cl, const std::vector<int>& endpoints,
                          plan::Algorithm a);
// Intra-node ring (all nodes at once) and inter-node rings (one per local index, all at once).
struct HierarchicalTerms {
  AlphaBeta intra, inter;
  int local_size = 1, nodes = 1;
};
HierarchicalTerms Hierarchical(const topo::Cluster& cl, const std::vector<int>& endpoints);

// Collective time on the cluster: the closed form with the terms above.
double CollectiveTime(const topo::Cluster& cl, const std::vector<int>& endpoints,
                      plan::Collective c, plan::Algorithm a, double bytes);

// A prepared estimator: groups ranks with identical programs (data-parallel replicas) into
// classes and walks one representative of each, so that re-running it is cheap.
class Estimator {
 public:
  Estimator(const plan::Plan& plan, const topo::Cluster& cluster, const Calibration& cal = {});
  // With the rank classes given: same_as[r] is the representative of rank r (same_as[r] == r for
  // representatives), as plan::detail::LowerForEstimate returns them; only representatives'
  // tasks are read.
  Estimator(const plan::Plan& plan, const topo::Cluster& cluster, const Calibration& cal,
            const std::vector<int>& same_as);
  ~Estimator();
  Estimator(const Estimator&) = delete;
  Estimator& operator=(const Estimator&) = delete;
  // Evaluates the plan. `single_device_time_s` (> 0) is the reference for speedup.
  Summary Run(double single_device_time_s = 0) const;
  // Recomputes compute durations for another calibration (same plan and cluster).
  void Recalibrate(const Calibration& cal);
  // Prepares for another plan on the same cluster (`same_as` as above, or null to find the
  // classes), keeping this estimator's storage and the collectives' alpha-beta terms, which
  // depend on the cluster only. The plan must outlive the next Run.
  void Reset(const plan::Plan& plan, const std::vector<int>* same_as);
  int classes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Summary Estimate(const plan::Plan& plan, const topo::Cluster& cluster, const Calibration& cal = {},
                 double single_device_time_s = 0);

// Lower + Estimate in one step for a strategy search: the same Summary as
// Estimate(plan::Lower(net, cluster, o), ...), number for number, but dp replicas are lowered and
// walked once per class of identical devices (plan::detail::LowerForEstimate). The memory check
// is not made (call CheckMemory on a full plan when needed).
Summary EstimateStrategy(const graph::Network& net, const topo::Cluster& cluster,
                         const plan::StrategyOptions& o, const Calibration& cal = {},
                         double single_device_time_s = 0);

// A strategy search over one network on one cluster (`select`, `whatif`, the benchmark): each
// Estimate(o) equals EstimateStrategy(net, cluster, o, cal, ...) number for number, but what
// does not depend on the options is kept between calls (the per-layer costs of each compute
// precision, the collectives' alpha-beta terms per group of endpoints) and so is the storage of
// the last compact plan and its estimator, which the next call overwrites. The network and the
// cluster must outlive it. Not thread-safe: one per thread.
class StrategyEstimator {
 public:
  StrategyEstimator(const graph::Network& net, const topo::Cluster& cluster,
                    const Calibration& cal = {});
  ~StrategyEstimator();
  StrategyEstimator(const StrategyEstimator&) = delete;
  StrategyEstimator& operator=(const StrategyEstimator&) = delete;
  Summary Estimate(const plan::StrategyOptions& o, double single_device_time_s = 0);
  // The plan behind the last Estimate, valid until the next call: every rank's header and
  // memory; tasks only on the ranks the estimator walked, without names unless a profile is used.
  const plan::Plan& last_plan() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A lower bound on the plan's iteration time under the cost model, whichever interpreter runs
// it: no rank computes faster than its compute tasks one after another (each rank's compute
// stream is serial), and no link direction moves an iteration's bytes faster than its bandwidth
// (every send, every collective's schedule, summed over the link directions its routes cross; a
// shared link pools both directions). Latency, dependencies and contention only add to it. Select
// and whatif rule out, without simulating, a candidate whose bound is already slower than the
// best simulated one.
struct IterationBound {
  double seconds = 0;    // max(compute_s, link_s)
  double compute_s = 0;  // the busiest rank's compute
  int rank = -1;
  double link_s = 0;  // the busiest link direction's bytes / bandwidth
  double link_bytes = 0;
  int link = -1;  // index into Cluster::links()
  bool forward = true;
  // "compute of rank 3 (node0/gpu3)" or "link node2/nic0 (up): 448 MB at 25 GB/s".
  std::string Describe(const plan::Plan& plan, const topo::Cluster& cluster) const;
};
IterationBound LowerBound(const plan::Plan& plan, const topo::Cluster& cluster,
                          const Calibration& cal = {});
// The same bound from a parameter-server plan's outline (plan::OutlineParameterServer), without
// lowering the whole plan: equal to the whole plan's bound on a cluster of one kind of device.
IterationBound LowerBound(const plan::PsOutline& outline, const topo::Cluster& cluster,
                          const Calibration& cal = {});

// Seconds of one training iteration of the network on one device (endpoint 0) at `batch` samples:
// the reference for speedup.
double SingleDeviceTime(const graph::Network& net, const topo::Cluster& cluster,
                        const plan::StrategyOptions& o, int64_t batch, const Calibration& cal);

// The calibration that makes one device reach `samples_per_s` on the network at `batch` samples
// (--single-gpu-throughput): `base` with the efficiency found. A measurement the roofline cannot
// reach even at efficiency 1 is used as given: efficiency 1 and a compute_scale below 1 that
// makes one device's iteration batch / samples_per_s; `note` then says so (it is cleared
// otherwise). InputError only for a throughput that is not a positive number.
Calibration CalibrateEfficiency(const graph::Network& net, const topo::Cluster& cluster,
                                const plan::StrategyOptions& o, int64_t batch, double samples_per_s,
                                const Calibration& base, std::string& note);

// A note when `profile` makes one device faster than the roofline at full efficiency (the
// profile is used as given), else "".
std::string ProfileAboveRooflineNote(const graph::Network& net, const topo::Cluster& cluster,
                                     const plan::StrategyOptions& o, int64_t batch,
                                     const Calibration& with_profile);

// The memory check: every device endpoint must hold the ranks placed on it. Throws InputError
// "endpoint node0/gpu3 needs 93.1 GiB but has 80.0 GiB (weights ..., ...)".
void CheckMemory(const plan::Plan& plan, const topo::Cluster& cluster);

}  // namespace convscale::cost
