// A CNN as a directed acyclic graph of layers, held in Boost.Graph.
//
// Vertices are layers (vertex 0 is the input); an edge u -> v means v reads u's output. Layers
// are added in an order where every input already exists, so vertex order is a topological
// order; networks loaded from files are checked for cycles and reordered before use.
#pragma once

#include <boost/graph/adjacency_list.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/graph/layer.h"

namespace convscale::graph {

struct NetworkTotals {
  int64_t params = 0;
  double macs_forward = 0;
  double flops_forward = 0;
  double flops_backward = 0;  // data + weight gradients
  double flops_backward_data = 0;
  double flops_backward_weight = 0;
  double weight_bytes = 0;
  double saved_bytes = 0;  // activations kept for backward, whole batch, each tensor once
};

class Network {
 public:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, Layer>;

  // A network with its input layer (vertex 0, named "input") of the given per-sample shape.
  Network(std::string name, Shape input, int64_t num_classes = 1000);

  // Adds a layer reading `inputs` (vertex ids); returns its vertex id. Names must be unique.
  int Add(Layer layer);

  // Shape inference and per-layer costs for `batch` samples. Throws InputError naming the layer
  // (and, for add/concat, both inputs and their shapes) on a mismatch. `source` is the file name
  // used in messages ("" for built-in models).
  void Infer(int64_t batch, const std::string& source = "");

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  Shape input_shape() const { return input_shape_; }
  int64_t num_classes() const { return num_classes_; }
  int64_t batch() const { return batch_; }
  size_t size() const { return boost::num_vertices(g_); }
  const Layer& layer(int v) const { return g_[v]; }
  Layer& layer(int v) { return g_[v]; }
  int Find(const std::string& name) const;  // -1 when absent
  const Graph& graph() const { return g_; }
  // Layers whose output nobody reads (usually one: the loss or the classifier).
  std::vector<int> Outputs() const;
  // Consumers of v's output.
  std::vector<int> Consumers(int v) const;
  // Layers with trainable parameters, in forward (topological) order.
  std::vector<int> ParameterLayers() const;

  // For each layer v, the layers whose backward keeps v's output (v itself for ReLU, ReLU6,
  // sigmoid, tanh and softmax, which keep their output; a convolution, linear, batch-norm or
  // max-pool layer reading it, which keep their input), each once, in vertex order; a flatten
  // view's output is v's own tensor, so keeping it keeps v's. Empty for a tensor nobody keeps and
  // for flatten itself. A layer's saved_bytes counts its output once when this list is not empty.
  std::vector<std::vector<int>> SavedTensorKeepers() const;

  NetworkTotals Totals() const;

 private:
  void AttributeSavedBytes(double batch);  // Infer's second pass (network.cpp)

  std::string name_;
  Shape input_shape_;
  int64_t num_classes_;
  int64_t batch_ = 0;
  Graph g_;
  // Vertex of each layer name: Find in constant time, so loading n layers costs O(n), not n^2.
  std::unordered_map<std::string, int> index_;
};

// Builder helpers used by the zoo and tests: each adds one layer after `in` and returns its id.
// Names are given explicitly so that they match torchvision's module names where possible.
struct Builder {
  Network& net;
  int Conv(const std::string& name, int in, int64_t out_channels, int kernel, int stride = 1,
           int pad = 0, int groups = 1, bool bias = false, int dilation = 1);
  int ConvRect(const std::string& name, int in, int64_t out_channels, int kh, int kw, int sh,
               int sw, int ph, int pw, bool bias = false);
  int BatchNorm(const std::string& name, int in);
  int ReLU(const std::string& name, int in);
  int ReLU6(const std::string& name, int in);
  int MaxPool(const std::string& name, int in, int kernel, int stride, int pad = 0,
              bool ceil_mode = false);
  int AvgPool(const std::string& name, int in, int kernel, int stride, int pad = 0,
              bool ceil_mode = false, bool count_include_pad = true);
  int AdaptiveAvgPool(const std::string& name, int in, int out_h = 1, int out_w = 1);
  int Linear(const std::string& name, int in, int64_t out_features, bool bias = true);
  int Dropout(const std::string& name, int in, double p = 0.5);
  int Flatten(const std::string& name, int in);
  int Concat(const std::string& name, const std::vector<int>& ins);
  int AddLayers(const std::string& name, const std::vector<int>& ins);
  int Loss(const std::string& name, int in);
  int Generic(const std::string& name, LayerType type, const std::vector<int>& ins,
              LayerParams p = {});
};

}  // namespace convscale::graph
