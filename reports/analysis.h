// What reports derive from the records: ranking, the sentence on why a candidate wins or loses,
// the knee of a scaling curve, and throughput per dollar. Pure functions of the numbers.
#pragma once

#include <string>
#include <vector>

#include "reports/records.h"

namespace convscale::reports {

// Throughputs closer than this fraction tie: a smaller lead is inside what a prediction of a real
// job can promise (estimate or simulation), so it is no evidence that one candidate is faster.
inline constexpr double kTieMargin = 0.03;

// How much machinery a candidate needs, lowest first: data parallel (0), data parallel with fp16
// gradients (1, compression changes the numerics), synchronous parameter server (2), hybrids (3),
// model parallel pipelines (4), asynchronous parameter server (5, stale gradients change
// convergence).
int Complexity(const Candidate& c);

// Sorts candidates: runnable and fitting first, then those that do not fit, then failures (by
// label). Runnable candidates are taken in bands: the fastest left and every candidate within
// kTieMargin of it tie, and a tie goes to the simpler one (Complexity, then throughput, then
// label); the next band starts at the fastest candidate left. So within the margin sync beats
// async and simpler beats more complex. Deterministic.
void Rank(std::vector<Candidate>& candidates);

// Fills every candidate's `reason` from the numbers (after Rank: the first is the winner).
void ExplainAll(const Facts& facts, std::vector<Candidate>& candidates);

// The sentence for one candidate against the winner. Examples:
//   "VGG-16's fully connected layers hold 90% of the parameters: one weird trick keeps them off
//    the network"
//   "exposed communication is 41% of the iteration on 25 Gbit/s Ethernet"
//   "needs 94.1 GiB per device, the A100-SXM4-80GB has 80.0 GiB"
std::string Explain(const Facts& facts, const Candidate& c, const Candidate& best);

// What every figure of a report section assumed, for its header: "compute bf16, gradients fp32
// (fp16 where a row says so), global batch 2048 (32 per device)". Empty facts are left out (a
// sweep has no global batch: "32 per device").
std::string Assumptions(const Facts& f);

// Which predictor made the figures, with how many rows each: "simulate (3), estimate (21)";
// "-" when no row has numbers.
std::string PredictedBy(const std::vector<Candidate>& candidates);
std::string PredictedBy(const std::vector<SweepPoint>& points);

// Knees per (strategy, variant) series, in series order. `points` need not be sorted. A series
// without a 1-GPU point uses facts.single_device_throughput as X(1).
std::vector<Knee> FindKnees(const SweepReport& sweep);

// One sentence per knee: "dp: adding GPUs pays up to 32; going to 64 adds 38% of a GPU's worth
// per added GPU", or, when the step loses throughput, "...; going to 16 lowers throughput by
// 16%".
std::string DescribeKnee(const Knee& k);

// Samples per US dollar: throughput * 3600 / (price per device-hour * devices).
double SamplesPerDollar(double throughput_samples_per_s, int gpus, double gpu_hour_price_usd);

// Sorts points by strategy, variant, gpus.
void SortPoints(std::vector<SweepPoint>& points);

// A short label from a strategy and its options: "dp ring fp16 25MB", "mp 4 stages 8 mb 1f1b".
std::string CandidateLabel(const std::string& strategy, const Json& options);

// Number formatting shared by writers: fixed significant digits, no locale, deterministic.
std::string Num(double v, int significant = 4);
std::string Percent(double fraction, int decimals = 0);  // 0.413 -> "41%"

}  // namespace convscale::reports
