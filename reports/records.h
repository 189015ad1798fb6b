// The neutral records every report writer is fed (google/benchmark style: one record, many
// writers). Records hold numbers and names only; nothing here knows how a number was produced
// (closed-form estimate, SimGrid, a real run) except the `predicted_by` / `source` labels.
//
// Units: seconds, bytes, samples/s, US dollars. Ratios are fractions (0.83), never percent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/util/json.h"

namespace convscale::reports {

// Version of the report JSON/CSV schema (the context block's schema_version).
inline constexpr int kSchemaVersion = 1;

// What the model and cluster are, as far as explanations and headings need it.
struct Facts {
  std::string model;    // as the user named it ("vgg16", or a file name)
  std::string cluster;  // as the user named it ("dgx-a100-hdr200", or a file name)
  std::string device;   // "A100-SXM4-80GB"
  int gpus = 0;         // devices the selection was made for (0 in a sweep)
  int devices_per_node = 0;
  int64_t global_batch = 0;
  int64_t per_device_batch = 0;
  std::string compute_precision;  // "bf16": what every candidate computes in
  std::string grad_precision;     // "fp32": gradients on the wire, unless a candidate names its own
  // The losses every candidate models (plan::Describe): "loaded-node efficiency 0.97, ..." or
  // "none modelled"; "" in reports written before losses were stated.
  std::string losses;
  double parameters = 0;                     // trainable parameters of the model
  double fc_parameter_fraction = 0;          // share of the parameters in fully connected layers
  double inter_node_bandwidth_Bps = 0;       // per-node network bandwidth (0: single node)
  std::string network;                       // "200 Gbit/s InfiniBand (HDR)": for sentences
  double single_device_throughput = 0;       // samples/s of one device: the speedup baseline
  std::optional<double> gpu_hour_price_usd;  // for throughput per dollar
};

// One way to train: a strategy with its options, and what one iteration costs.
struct Candidate {
  std::string strategy;           // "dp", "ps", "mp", "hybrid"
  Json options = Json::object();  // the options that distinguish it, resolved
  std::string label;              // short human name ("dp ring fp16 25MB")
  // "estimate", "simulate", or "bound" (not simulated, and its estimate was faster than its
  // lower bound: the figures are the bound's, the fastest it can be)
  std::string predicted_by;
  double iteration_time_s = 0;
  double compute_time_s = 0;       // compute on the critical path
  double exposed_comm_time_s = 0;  // communication not hidden behind compute
  double bubble_time_s = 0;        // pipeline fill and drain
  double comm_time_s = 0;          // all communication, hidden or not
  double throughput_samples_per_s = 0;
  double speedup = 0;             // over one device
  double scaling_efficiency = 0;  // speedup / gpus
  double comm_bytes_total = 0;    // bytes all ranks send over links per iteration
  double memory_peak_bytes = 0;   // the most loaded device
  double memory_capacity_bytes = 0;
  bool fits = true;
  std::optional<double> estimate_iteration_time_s;  // set when simulated: the estimate beside it
  // Its plan's lower bound (cost::LowerBound), seconds: set when simulated (the simulated
  // iteration is never shorter) or ruled out by it without simulating (`not_simulated` then says
  // why it cannot rank first).
  std::optional<double> lower_bound_s;
  std::string not_simulated;
  // Known by its plan's outline only (plan::PsOutline): neither lowered in full nor simulated,
  // its figures are the outline's lower bound and `not_simulated` says why it cannot rank first.
  bool outline_only = false;
  std::string reason;  // why it wins or loses (Explain fills it)
  std::string error;   // set when the strategy cannot run here; numbers are then meaningless
};

// Strategy selection for one model on one cluster at one size. Candidates are ranked: those that
// run and fit first, by throughput (descending), then those that do not fit, then failures.
struct SelectionReport {
  Facts facts;
  std::vector<Candidate> candidates;
};

// One point of a what-if sweep.
struct SweepPoint {
  std::string strategy;  // a series: one strategy (its best options at that size)
  std::string variant;   // "baseline" or the what-if change ("network.bandwidth=2x")
  int gpus = 0;
  double iteration_time_s = 0;
  double throughput_samples_per_s = 0;
  double speedup = 0;             // over one device of the baseline
  double scaling_efficiency = 0;  // speedup / gpus
  bool fits = true;
  std::string predicted_by;
  std::string label;  // the options that won at this point
  std::optional<double> samples_per_dollar;
  double comm_time_s = 0;          // all communication, hidden or not
  double exposed_comm_time_s = 0;  // communication not hidden behind compute
  double memory_peak_bytes = 0;    // the most loaded device
  std::string status = "ok";       // "ok", "does-not-fit" or "failed" (numbers then 0)
  std::string reason;              // why, when status is not "ok"
};

// "How many GPUs before adding more stops paying", per series. Definition (docs/reports.md):
// stepping from N_a to N_b GPUs, the marginal efficiency is the throughput the added devices
// bring, over what they would bring running alone at the single-device rate:
//     m = (X(N_b) - X(N_a)) / ((N_b - N_a) * X(1)).
// The knee is the largest N reached while every step up to it had m >= threshold (50%). A
// series whose every step pays has `stops_paying` false.
struct Knee {
  std::string strategy;
  std::string variant;
  int gpus = 0;               // the last count that paid
  bool stops_paying = false;  // a later step fell below the threshold
  int next_gpus = 0;          // the step that failed (when stops_paying)
  double next_marginal_efficiency = 0;
  double next_throughput_change = 0;  // (X(next) - X(gpus)) / X(gpus): negative when it falls
};

struct SweepReport {
  Facts facts;
  double threshold = 0.5;
  std::vector<SweepPoint> points;  // sorted by strategy, variant, gpus
  // The changed cluster descriptions of the network and gpu variants as (file name, JSON text),
  // so every point can be rerun: WriteReportDir writes them to the folder's clusters/ with the
  // other files. They are not part of the report JSON.
  std::vector<std::pair<std::string, std::string>> variant_clusters;
};

// One compared quantity: a phase of the iteration, or a point of a scaling curve.
struct ComparisonRow {
  std::string item;  // "iteration", "compute", "exposed communication", "8 GPUs throughput"
  std::string unit;  // "s", "samples/s", "B"
  double predicted = 0;
  double measured = 0;
  int gpus = 0;  // for scaling points
  // (predicted - measured) / measured * 100; empty when measured is 0.
  std::optional<double> error_pct() const;
};

struct ComparisonReport {
  std::string title;
  std::string predicted_file, measured_file;
  std::string predicted_trace, measured_trace;    // Chrome trace paths ("" when absent)
  std::string predicted_source, measured_source;  // "simulate", "estimate", "measured"
  Json predicted_context = Json::object(), measured_context = Json::object();
  std::vector<ComparisonRow> phases;
  std::vector<ComparisonRow> points;  // throughput per GPU count (scaling curve); may be empty
};

// A report folder: any number of each kind of record, written by every writer.
struct Report {
  std::string title;
  Json context = Json::object();  // MakeContext(...) plus the inputs
  std::vector<SelectionReport> selections;
  std::vector<SweepReport> sweeps;
  std::vector<ComparisonReport> comparisons;
};

}  // namespace convscale::reports
