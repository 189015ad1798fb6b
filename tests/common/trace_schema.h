// A checker for the Chrome Trace Event Format as Perfetto's JSON importer reads it (the format
// document "Trace Event Format", Google, and Perfetto's json_trace_parser): what convscale's
// timelines (simulate --trace, execute --trace) must satisfy to open in ui.perfetto.dev and
// chrome://tracing. Returns every problem found, each naming the event index; empty means valid.
//
// Checked: the root is an object with a "traceEvents" array (and "displayTimeUnit" "ms" or "ns"
// when present); every event is an object with a string "ph" among the phases convscale writes
// ("X" complete, "M" metadata); "X" events have a string name, integer pid and tid, numeric ts
// and dur, both finite and non-negative (microseconds), optional string cat and object args;
// "M" events are one of process_name / process_sort_index / thread_name / thread_sort_index with
// the argument each needs; and, as Perfetto requires for slices on one track, the "X" events of
// one (pid, tid) either follow each other or nest completely: no partial overlap.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace convscale::testing {

inline std::vector<std::string> CheckChromeTrace(const nlohmann::json& root) {
  std::vector<std::string> problems;
  auto bad = [&](size_t i, const std::string& what) {
    problems.push_back("event " + std::to_string(i) + ": " + what);
  };
  if (!root.is_object() || !root.contains("traceEvents") || !root["traceEvents"].is_array())
    return {"root: an object with a \"traceEvents\" array is required"};
  if (root.contains("displayTimeUnit") &&
      (!root["displayTimeUnit"].is_string() ||
       (root["displayTimeUnit"] != "ms" && root["displayTimeUnit"] != "ns")))
    problems.push_back("root: displayTimeUnit must be \"ms\" or \"ns\"");

  // (begin, end, index) per track; times in microseconds.
  std::map<std::pair<int64_t, int64_t>, std::vector<std::tuple<double, double, size_t>>> tracks;
  const nlohmann::json& events = root["traceEvents"];
  for (size_t i = 0; i < events.size(); ++i) {
    const nlohmann::json& e = events[i];
    if (!e.is_object()) {
      bad(i, "not an object");
      continue;
    }
    if (!e.contains("ph") || !e["ph"].is_string()) {
      bad(i, "\"ph\" (a string) is required");
      continue;
    }
    const std::string ph = e["ph"];
    if (!e.contains("name") || !e["name"].is_string()) bad(i, "\"name\" (a string) is required");
    if (!e.contains("pid") || !e["pid"].is_number_integer()) bad(i, "\"pid\" must be an integer");
    if (e.contains("args") && !e["args"].is_object()) bad(i, "\"args\" must be an object");
    if (ph == "M") {
      const std::string name = e.value("name", "");
      const bool thread = name == "thread_name" || name == "thread_sort_index";
      if (name != "process_name" && name != "process_sort_index" && !thread) {
        bad(i, "unknown metadata event \"" + name + "\"");
        continue;
      }
      if (thread && (!e.contains("tid") || !e["tid"].is_number_integer()))
        bad(i, name + " needs an integer \"tid\"");
      const bool sort = name.find("sort_index") != std::string::npos;
      const char* arg = sort ? "sort_index" : "name";
      if (!e.contains("args") || !e["args"].is_object() || !e["args"].contains(arg) ||
          (sort ? !e["args"][arg].is_number_integer() : !e["args"][arg].is_string()))
        bad(i, name + " needs args." + arg);
      continue;
    }
    if (ph != "X") {
      bad(i, "phase \"" + ph + "\" is not one convscale writes (X or M)");
      continue;
    }
    if (!e.contains("tid") || !e["tid"].is_number_integer()) bad(i, "\"tid\" must be an integer");
    if (e.contains("cat") && !e["cat"].is_string()) bad(i, "\"cat\" must be a string");
    bool times_ok = true;
    for (const char* k : {"ts", "dur"}) {
      if (!e.contains(k) || !e[k].is_number()) {
        bad(i, std::string("\"") + k + "\" (a number of microseconds) is required");
        times_ok = false;
      } else if (!std::isfinite(e[k].get<double>()) || e[k].get<double>() < 0) {
        bad(i, std::string("\"") + k + "\" must be finite and non-negative");
        times_ok = false;
      }
    }
    if (times_ok && e["pid"].is_number_integer() && e["tid"].is_number_integer()) {
      const double ts = e["ts"].get<double>();
      tracks[{e["pid"].get<int64_t>(), e["tid"].get<int64_t>()}].emplace_back(
          ts, ts + e["dur"].get<double>(), i);
    }
  }
  // ts + dur is a sum of two decimals; allow its rounding error (far below a nanosecond).
  constexpr double kSlack = 1e-6;
  // Slices on one track must nest: walk them in start order (longer first on ties) with a stack
  // of open slices; a slice that starts inside an open one must also end inside it.
  for (auto& [track, slices] : tracks) {
    std::sort(slices.begin(), slices.end(), [](const auto& a, const auto& b) {
      if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
      return std::get<1>(a) > std::get<1>(b);
    });
    std::vector<std::tuple<double, double, size_t>> open;
    for (const auto& s : slices) {
      while (!open.empty() && std::get<1>(open.back()) <= std::get<0>(s) + kSlack) open.pop_back();
      if (!open.empty() && std::get<1>(s) > std::get<1>(open.back()) + kSlack) {
        bad(std::get<2>(s), "overlaps event " + std::to_string(std::get<2>(open.back())) +
                                " on pid " + std::to_string(track.first) + " tid " +
                                std::to_string(track.second) + " without nesting in it");
        continue;
      }
      open.push_back(s);
    }
  }
  return problems;
}

}  // namespace convscale::testing
