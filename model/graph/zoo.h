// The built-in model zoo. Parameter counts equal torchvision's exactly; multiply-adds match
// torchvision's published GFLOPS within 1% (tests/model/zoo_test.cpp asserts both).
#pragma once

#include <string>
#include <vector>

#include "model/graph/network.h"

namespace convscale::graph {

struct ZooEntry {
  std::string name;
  Shape input;  // per sample
  std::string description;
};

const std::vector<ZooEntry>& ZooModels();
bool IsZooModel(const std::string& name);
// Builds the network (shapes not yet inferred). Throws InputError with "did you mean".
Network BuildZooModel(const std::string& name);

// A zoo name or a JSON/ONNX file path; the network is inferred at `batch`.
Network LoadModel(const std::string& name_or_file, int64_t batch);

}  // namespace convscale::graph
