// What reports derive from the records: ranking, the sentence on why a candidate wins or loses,
// the knee of a scaling curve, and throughput per dollar. Pure functions of the numbers.
#pragma once

#include <string>
#include <vector>

#include "reports/records.h"

namespace convscale::reports {

// Sorts candidates: runnable and fitting first by throughput (descending, ties by label), then
// those that do not fit (by throughput), then failures (by label). Stable and deterministic.
void Rank(std::vector<Candidate>& candidates);

// Fills every candidate's `reason` from the numbers (after Rank: the first is the winner).
void ExplainAll(const Facts& facts, std::vector<Candidate>& candidates);

// The sentence for one candidate against the winner. Examples:
//   "VGG-16's fully connected layers hold 90% of the parameters: one weird trick keeps them off
//    the network"
//   "exposed communication is 41% of the iteration on 25 Gbit/s Ethernet"
//   "needs 94.1 GiB per device, the A100-SXM4-80GB has 80.0 GiB"
std::string Explain(const Facts& facts, const Candidate& c, const Candidate& best);

// Knees per (strategy, variant) series, in series order. `points` need not be sorted. A series
// without a 1-GPU point uses facts.single_device_throughput as X(1).
std::vector<Knee> FindKnees(const SweepReport& sweep);

// One sentence per knee: "dp: adding GPUs pays up to 32; going to 64 adds 38% of a GPU's worth
// per GPU".
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
