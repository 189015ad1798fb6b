// One layer of a CNN: its type, its hyper-parameters, and (after shape inference) its shapes,
// parameter count, FLOPs and memory.
//
// Conventions (docs/model-format.md):
//  - Shapes are per sample, C x H x W; a vector (linear output) is C x 1 x 1.
//  - One multiply-add (MAC) = 2 FLOPs. `macs_forward` counts the multiply-adds of convolutions
//    and linear layers (what torchvision's "GFLOPS" column reports); `flops_*` count every layer.
//  - FLOPs and bytes are for the whole batch given to Network::Infer; params are per model.
//  - Bytes assume 4-byte (fp32) elements; the memory model rescales for other precisions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace convscale::graph {

enum class LayerType {
  kInput,
  kConv2d,
  kBatchNorm,
  kReLU,
  kReLU6,
  kSigmoid,
  kTanh,
  kMaxPool,
  kAvgPool,
  kAdaptiveAvgPool,  // output size out_h x out_w; global average pool is 1 x 1
  kLinear,
  kDropout,
  kFlatten,
  kConcat,  // along channels
  kAdd,     // element-wise sum of two or more inputs (residual)
  kSoftmax,
  kLoss,  // softmax + cross-entropy against integer labels
};

// "conv2d", "batch_norm", ... (the names used in the JSON format).
std::string_view LayerTypeName(LayerType t);
// Throws std::invalid_argument with a "did you mean" for an unknown name.
LayerType ParseLayerType(std::string_view name);
std::vector<std::string> LayerTypeNames();

struct Shape {
  int64_t c = 0, h = 1, w = 1;
  int64_t elements() const { return c * h * w; }
  bool operator==(const Shape&) const = default;
};
std::string ToString(const Shape& s);  // "64x56x56"

// Hyper-parameters; which ones apply depends on the type (see docs/model-format.md).
struct LayerParams {
  int64_t out_channels = 0;  // conv2d
  int64_t out_features = 0;  // linear
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  bool bias = true;               // conv2d, linear
  bool ceil_mode = false;         // pools
  bool count_include_pad = true;  // avg_pool
  int out_h = 1, out_w = 1;       // adaptive_avg_pool
  double p = 0.5;                 // dropout probability
};

// Costs of one layer for a batch (filled by Network::Infer).
struct LayerCost {
  int64_t params = 0;
  double macs_forward = 0;  // multiply-adds in conv2d / linear
  double flops_forward = 0;
  double flops_backward_data = 0;    // gradient with respect to the input
  double flops_backward_weight = 0;  // gradient with respect to weights and bias
  double weight_bytes = 0;           // params * 4
  double output_bytes = 0;           // output activation, whole batch
  // Activations kept from forward for backward, whole batch, attributed to the layer that
  // produced them so that summing over layers counts each tensor once (network.cpp).
  double saved_bytes = 0;
  double bytes_forward = 0;   // memory traffic of forward (read inputs+weights, write output)
  double bytes_backward = 0;  // memory traffic of both backward passes
};

struct Layer {
  std::string name;
  LayerType type = LayerType::kInput;
  LayerParams p;
  std::vector<int> inputs;  // vertex ids of the producers, in order (matters for concat)
  // Filled by shape inference:
  std::vector<Shape> in_shapes;
  Shape out;
  LayerCost cost;
  bool needs_input_grad = true;  // false when no input depends on trainable parameters
  // Where the layer was defined, for messages: a JSON pointer ("/layers/4") for layers read from
  // a model file, "" for built-in models.
  std::string origin;
};

}  // namespace convscale::graph
