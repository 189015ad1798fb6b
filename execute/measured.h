// The measured summary and timeline of an executed plan: the summary schema of `estimate --json`
// and `simulate` (model/cost/summary.h), with source "execute", marked "measured": true, plus
// per-iteration times (median and spread, nccl-tests style), per-phase times, each rank's
// measured peak memory beside the plan's prediction, and the loss.
//
// Memory: a rank's memory_peak_bytes and memory breakdown are what its backend's allocator
// reserved (ComputeBackend::PeakMemoryBytes, MemoryBytes), the quantity and the categories the
// memory model predicts; the prediction sits beside them (memory_predicted_bytes,
// memory_predicted) and so does the process's own figure (memory_process_bytes).
//
// Definitions (docs/executor.md):
//  - iteration time of measured iteration i: the last task end over all ranks of iteration i minus
//    that of iteration i-1 (steady state; warm-up iterations give the first reference), on the
//    clock aligned across ranks. iteration_time_s is the median.
//  - every other timing and byte figure (compute, communication, exposed communication, bubble,
//    critical rank, comm_bytes_total) is the median over the measured iterations of what the one
//    reducer (model/cost/timeline.h) makes of that iteration's task intervals, with the
//    definitions the estimator and the simulator use; a communication task counts from the time
//    every party has posted it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "execute/runtime.h"
#include "model/plan/plan.h"
#include "model/util/json.h"

namespace convscale::exec {

// What one rank measured (serialised to rank 0 as JSON).
struct RankRecord {
  int rank = 0;
  std::string host;
  int64_t memory_peak_bytes = 0;                // ComputeBackend::PeakMemoryBytes
  std::map<std::string, int64_t> memory_bytes;  // ComputeBackend::MemoryBytes
  int64_t memory_process_bytes = 0;             // ComputeBackend::ProcessMemoryBytes
  std::vector<IterationResult> iterations;      // warm-up first
};
Json ToJson(const RankRecord& r);
RankRecord RankRecordFromJson(const Json& j);

struct RunInfo {
  std::string backend;       // "cpu/onednn"
  std::string device;        // "oneDNN 2.6.3 (avx512_core)"
  std::string communicator;  // Communicator::method()
  std::string data;          // DataSource::name()
  int warmup = 0;
  double clock_uncertainty_s = 0;  // largest over ranks
  std::string trace_file;          // "" when no trace was written
  std::vector<int> node_of_rank;   // each rank's node (hierarchical collectives' bytes)
  Json extra = Json::object();     // epochs, accuracy, ...
};

// Builds the summary from every rank's record (index = rank).
Json BuildMeasuredSummary(const plan::Plan& plan, const std::vector<RankRecord>& ranks,
                          const RunInfo& info);
// Chrome trace (Perfetto, chrome://tracing; cost::ChromeTrace): one process per rank, compute on
// thread 0, communication on threads 1..; measured iterations only (after info.warmup);
// microseconds from the first one's start.
std::string BuildChromeTrace(const plan::Plan& plan, const std::vector<RankRecord>& ranks,
                             const RunInfo& info);

// Median, minimum, maximum, mean and sample standard deviation of `v` (non-empty).
struct Spread {
  double median = 0, min = 0, max = 0, mean = 0, stddev = 0;
};
Spread Summarise(std::vector<double> v);

}  // namespace convscale::exec
