// Predicted against measured: builds a ComparisonReport from two summary files of the common
// summary schema (estimate --json, simulate, execute: the keys iteration_time_s, compute_time_s,
// exposed_comm_time_s, bubble_time_s, comm_time_s, throughput_samples_per_s, comm_bytes_total
// (read as comm_bytes in summaries written before that key), with a
// "context" block). A file may also hold a sweep: {"points": [summary, ...]} (or a bare array),
// each point with "gpus"; points are then matched by (strategy, gpus) and compared on throughput.
#pragma once

#include <string>

#include "model/util/json.h"
#include "reports/records.h"

namespace convscale::reports {

// Both documents already parsed; file names are used in messages and links. Throws InputError
// located in the file ("measured.json: /iteration_time_s: missing; ...") when a required key is
// absent or not a number, or when no point of one sweep matches the other.
ComparisonReport BuildComparison(const Json& predicted, const std::string& predicted_file,
                                 const Json& measured, const std::string& measured_file);

// Reads both files (ReadJsonFile) and calls BuildComparison. Finds each side's Chrome trace: the
// summary's "trace" key when present, else "<stem>.trace.json" or "trace.json" beside the file.
ComparisonReport CompareFiles(const std::string& predicted_file, const std::string& measured_file);

}  // namespace convscale::reports
