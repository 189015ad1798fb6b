// The convscale model file: a CNN layer graph as JSON (docs/model-format.md).
//
//   {"format": "convscale-model", "version": 1, "name": "tiny",
//    "input": {"channels": 3, "height": 32, "width": 32}, "num_classes": 10,
//    "layers": [{"name": "conv1", "type": "conv2d", "inputs": ["input"], "out_channels": 16,
//                "kernel": 3, "padding": 1}, ...]}
//
// Layers may be listed in any order; the reader sorts them topologically (keeping file order
// among layers that are ready together) and reports a cycle as the path "a -> b -> a". Every
// error names the file and the JSON pointer of the offending value; unknown keys, layer types and
// input names are rejected with a "did you mean".
#pragma once

#include <string>

#include "model/graph/network.h"
#include "model/util/json.h"

namespace convscale::graph {

inline constexpr const char* kModelFormat = "convscale-model";
inline constexpr int kModelFormatVersion = 1;

// The network in the file format. Deterministic: the same network gives the same bytes.
Json ModelToJson(const Network& net);
std::string ModelToJsonText(const Network& net);  // 2-space indentation, trailing newline
// Writes the file atomically.
void ExportModelJson(const Network& net, const std::string& path);

// Builds the network from parsed JSON that came from `file` (used in messages). Shapes are not
// inferred yet: call Network::Infer(batch, file), whose shape errors then also name the file and
// the layer's JSON pointer.
Network ModelFromJson(const Json& j, const std::string& file);
// Reads and builds a model file.
Network LoadModelJson(const std::string& path);

}  // namespace convscale::graph
