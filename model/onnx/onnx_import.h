// Reading a CNN from an ONNX file (https://onnx.ai), as exported by PyTorch (torch.onnx.export),
// TensorFlow (tf2onnx) and others, and writing a convscale network back out as ONNX.
//
// The importer walks the graph's nodes in file order (ONNX requires topological order) and maps
// each operator to one graph::Layer (docs/onnx.md has the table): Conv, BatchNormalization, Relu,
// Clip (relu6 when min=0 and max=6), MaxPool, AveragePool, GlobalAveragePool, Gemm, MatMul (with
// a following Add of a constant folded in as its bias), Add/Sum, Concat, Flatten, Reshape to
// N x features, Dropout, Softmax, Sigmoid, Tanh and Identity. Shapes come from the graph input
// (N x C x H x W or N x C; the batch dimension may be symbolic) and the weights' dimensions from
// initializers and Constant nodes; weight values are never needed. Shape arithmetic that exporters
// emit for `x.view(x.size(0), -1)` (Shape, Gather, Unsqueeze, Concat of constants) is evaluated.
//
// Like the zoo models, an imported network ends in a `loss` layer (softmax + cross-entropy)
// appended after each graph output; a Softmax or LogSoftmax that produces a graph output is folded
// into that loss rather than counted twice.
//
// Errors are InputErrors located by node:
//   model.onnx: node 17 ("/layer1/Foo"): operator "LSTM" is not supported; supported: Add, ...
#pragma once

#include <string>
#include <vector>

#include "model/graph/network.h"

namespace convscale::graph {

// Reads the ONNX file at `path`; the network's name is the file's stem. Shapes are inferred at
// batch 1; call Network::Infer(batch, path) for another batch (LoadModel does).
Network ImportOnnx(const std::string& path);

// The ONNX operators ImportOnnx maps, sorted ("Add", "AveragePool", ...).
const std::vector<std::string>& OnnxSupportedOperators();

// Writes `net` as an ONNX model (IR version 8, opset 13) that ImportOnnx reads back to the same
// layers, parameters and multiply-adds: the graph's output is the classifier (loss layers are not
// exported; the importer appends them again). convscale networks carry no weights, so the
// initializers are the weights' true shapes filled with zeros (batch-norm scale and variance with
// ones): the file opens in Netron and runs in ONNX Runtime. Throws InputError for a layer ONNX
// cannot express (an adaptive_avg_pool whose input size is not a multiple of its output size).
void ExportOnnx(const Network& net, const std::string& path);
// The same model as serialized protobuf bytes.
std::string ExportOnnxBytes(const Network& net);

}  // namespace convscale::graph
