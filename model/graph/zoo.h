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

// A zoo name or a model file path; the network is inferred at `batch`. A file is read by the
// reader registered for its extension, else as JSON (model/graph/model_json.h). A name that is
// neither a zoo model nor an existing file is an InputError with "did you mean".
Network LoadModel(const std::string& name_or_file, int64_t batch);

// Readers for model file formats other than JSON, chosen by the file's extension (".onnx",
// compared case-insensitively). model/ cannot depend on the components that read them, so they
// register here once at startup (the CLI registers ImportOnnx when it is built). The reader
// returns the network with shapes not necessarily inferred; LoadModel infers at its batch.
using ModelFileReader = Network (*)(const std::string& path);
void RegisterModelFileReader(const std::string& extension, ModelFileReader reader);

}  // namespace convscale::graph
