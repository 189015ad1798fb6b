// One line per task with every field a lowering decides, for exact whole-plan assertions:
//   compute:    "3 fc/fwd compute forward L3 mb0 s4 f2600 b2992 [2]"
//   collective: "9 bucket0/all-reduce all-reduce ring fp32 g0 c0 n1400 L3,1 B0 [6,8]"
//   send/recv:  "4 send act conv1/mb0 send p1 t2 fp32 n2048 mb0 [0]"
// Numbers are printed with %.17g, so a line states the exact double.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "model/plan/plan.h"

namespace convscale::testing {

inline std::string Num(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

inline std::string Ints(const std::vector<int>& v, const char* sep = ",") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

inline std::string TaskLine(const plan::Task& t) {
  using plan::TaskKind;
  std::string s = std::to_string(t.id) + " " + t.name + " ";
  switch (t.kind) {
    case TaskKind::kCompute:
      s += "compute " + std::string(plan::Name(t.phase)) + " L" + std::to_string(t.layer) + " mb" +
           std::to_string(t.micro_batch) + " s" + std::to_string(t.samples) + " f" + Num(t.flops) +
           " b" + Num(t.bytes);
      break;
    case TaskKind::kCollective:
      s += std::string(plan::Name(t.collective)) + " " + plan::Name(t.algorithm) + " " +
           plan::Name(t.precision) + " g" + std::to_string(t.group) + " c" +
           std::to_string(t.collective_id) + " n" + Num(t.comm_bytes);
      if (t.bucket >= 0) s += " B" + std::to_string(t.bucket);
      break;
    case TaskKind::kSend:
    case TaskKind::kRecv:
      s += std::string(plan::Name(t.kind)) + " p" + std::to_string(t.peer) + " t" +
           std::to_string(t.tag) + " " + plan::Name(t.precision) + " n" + Num(t.comm_bytes) +
           " mb" + std::to_string(t.micro_batch);
      break;
  }
  if (!t.layers.empty()) s += " L" + Ints(t.layers);
  if (t.slice_elements > 0)
    s += " E" + std::to_string(t.slice_offset) + "+" + std::to_string(t.slice_elements);
  return s + " [" + Ints(t.deps) + "]";
}

inline std::vector<std::string> TaskLines(const plan::Rank& r) {
  std::vector<std::string> v;
  for (const auto& t : r.tasks) v.push_back(TaskLine(t));
  return v;
}

// "endpoint role stage replica | weights gradients optimizer activations buffers workspace"
inline std::string RankLine(const plan::Rank& r) {
  return "e" + std::to_string(r.endpoint) + " " + plan::Name(r.role) + " s" +
         std::to_string(r.stage) + " r" + std::to_string(r.replica) + " | w" +
         Num(r.memory_weights) + " g" + Num(r.memory_gradients) + " o" + Num(r.memory_optimizer) +
         " a" + Num(r.memory_activations) + " B" + Num(r.memory_buffers) + " ws" +
         Num(r.memory_workspace);
}

}  // namespace convscale::testing
