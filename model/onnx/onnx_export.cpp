// graph::Network -> ONNX (IR version 8, opset 13). Each layer becomes one node named after the
// layer, whose output tensor has the layer's name; weights are initializers named as PyTorch names
// them ("conv1.weight", "bn1.running_mean"). The result imports back to the same network.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "model/onnx/onnx_import.h"
#include "model/util/error.h"
#include "model/util/json.h"

namespace convscale::graph {
namespace {

namespace pb = ::onnx;

constexpr int64_t kIrVersion = 8;  // ONNX 1.10 and later
constexpr int64_t kOpset = 13;

class Exporter {
 public:
  explicit Exporter(const Network& net) : net_(net) {}

  pb::ModelProto Run();

 private:
  pb::NodeProto* Node(const std::string& op, const graph::Layer& l,
                      std::vector<std::string> inputs) {
    pb::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(l.name);
    for (auto& i : inputs) n->add_input(i);
    n->add_output(l.name);
    return n;
  }
  static void Ints(pb::NodeProto* n, const char* name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void Int(pb::NodeProto* n, const char* name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INT);
    a->set_i(v);
  }
  static void Float(pb::NodeProto* n, const char* name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::FLOAT);
    a->set_f(v);
  }
  // A float initializer of the given dimensions, every element `fill`.
  std::string Init(const std::string& name, const std::vector<int64_t>& dims, float fill = 0) {
    pb::TensorProto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(pb::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    std::string raw(static_cast<size_t>(n) * sizeof(float), '\0');
    if (fill != 0)
      for (int64_t i = 0; i < n; ++i) std::memcpy(raw.data() + i * sizeof(float), &fill, 4);
    t->set_raw_data(std::move(raw));
    return name;
  }
  void ValueInfo(pb::ValueInfoProto* v, const std::string& name, const Shape& s, int rank) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(pb::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    shape->add_dim()->set_dim_param("N");
    shape->add_dim()->set_dim_value(s.c);
    if (rank == 4) {
      shape->add_dim()->set_dim_value(s.h);
      shape->add_dim()->set_dim_value(s.w);
    }
  }
  void Pool(pb::NodeProto* n, const LayerParams& p) {
    Ints(n, "kernel_shape", {p.kernel_h, p.kernel_w});
    Ints(n, "strides", {p.stride_h, p.stride_w});
    Ints(n, "pads", {p.pad_h, p.pad_w, p.pad_h, p.pad_w});
    Int(n, "ceil_mode", p.ceil_mode ? 1 : 0);
  }
  void ExportLayer(int v);

  Network net_;  // a copy, inferred at batch 1 for the shapes
  pb::GraphProto* g_ = nullptr;
  std::vector<int> rank_;            // 4 for N x C x H x W tensors, 2 for N x C
  std::vector<std::string> tensor_;  // the tensor holding each layer's output
};

void Exporter::ExportLayer(int v) {
  const graph::Layer& l = net_.layer(v);
  const LayerParams& p = l.p;
  std::vector<std::string> ins;
  for (int u : l.inputs) ins.push_back(tensor_[u]);
  const int in_rank = l.inputs.empty() ? 4 : rank_[l.inputs[0]];
  rank_[v] = in_rank;
  tensor_[v] = l.name;
  switch (l.type) {
    case LayerType::kInput:
    case LayerType::kLoss:
      break;
    case LayerType::kConv2d: {
      const int64_t in_c = l.in_shapes[0].c;
      ins.push_back(
          Init(l.name + ".weight", {p.out_channels, in_c / p.groups, p.kernel_h, p.kernel_w}));
      if (p.bias) ins.push_back(Init(l.name + ".bias", {p.out_channels}));
      auto* n = Node("Conv", l, ins);
      Ints(n, "kernel_shape", {p.kernel_h, p.kernel_w});
      Ints(n, "strides", {p.stride_h, p.stride_w});
      Ints(n, "pads", {p.pad_h, p.pad_w, p.pad_h, p.pad_w});
      Ints(n, "dilations", {p.dilation_h, p.dilation_w});
      Int(n, "group", p.groups);
      break;
    }
    case LayerType::kBatchNorm: {
      const int64_t c = l.in_shapes[0].c;
      ins.push_back(Init(l.name + ".weight", {c}, 1));
      ins.push_back(Init(l.name + ".bias", {c}));
      ins.push_back(Init(l.name + ".running_mean", {c}));
      ins.push_back(Init(l.name + ".running_var", {c}, 1));
      Float(Node("BatchNormalization", l, ins), "epsilon", 1e-5f);
      break;
    }
    case LayerType::kReLU:
      Node("Relu", l, ins);
      break;
    case LayerType::kReLU6:
      ins.push_back(Init(l.name + ".min", {}, 0));
      ins.push_back(Init(l.name + ".max", {}, 6));
      Node("Clip", l, ins);
      break;
    case LayerType::kSigmoid:
      Node("Sigmoid", l, ins);
      break;
    case LayerType::kTanh:
      Node("Tanh", l, ins);
      break;
    case LayerType::kMaxPool:
      Pool(Node("MaxPool", l, ins), p);
      break;
    case LayerType::kAvgPool: {
      auto* n = Node("AveragePool", l, ins);
      Pool(n, p);
      Int(n, "count_include_pad", p.count_include_pad ? 1 : 0);
      break;
    }
    case LayerType::kAdaptiveAvgPool: {
      const Shape in = l.in_shapes[0];
      if (p.out_h == 1 && p.out_w == 1) {
        Node("GlobalAveragePool", l, ins);
        break;
      }
      // What torch.onnx writes for an adaptive pool whose sizes divide: a plain average pool.
      if (in.h % p.out_h != 0 || in.w % p.out_w != 0)
        throw InputError(net_.name() + ": layer \"" + l.name +
                         "\" (adaptive_avg_pool): " + ToString(in) + " to " +
                         std::to_string(p.out_h) + "x" + std::to_string(p.out_w) +
                         " has no ONNX equivalent (the input size must be a multiple of the "
                         "output size)");
      LayerParams pool;
      pool.kernel_h = pool.stride_h = static_cast<int>(in.h / p.out_h);
      pool.kernel_w = pool.stride_w = static_cast<int>(in.w / p.out_w);
      auto* n = Node("AveragePool", l, ins);
      Pool(n, pool);
      Int(n, "count_include_pad", 0);
      break;
    }
    case LayerType::kLinear: {
      if (in_rank != 2) {  // Gemm needs N x features: flatten a C x 1 x 1 input first
        pb::NodeProto* f = g_->add_node();
        f->set_op_type("Flatten");
        f->set_name(l.name + ".flatten");
        f->add_input(ins[0]);
        f->add_output(l.name + ".flatten");
        Int(f, "axis", 1);
        ins[0] = l.name + ".flatten";
      }
      const int64_t in_features = l.in_shapes[0].elements();
      ins.push_back(Init(l.name + ".weight", {p.out_features, in_features}));
      if (p.bias) ins.push_back(Init(l.name + ".bias", {p.out_features}));
      Int(Node("Gemm", l, ins), "transB", 1);
      rank_[v] = 2;
      break;
    }
    case LayerType::kDropout:
      ins.push_back(Init(l.name + ".ratio", {}, static_cast<float>(p.p)));
      Node("Dropout", l, ins);
      break;
    case LayerType::kFlatten:
      Int(Node("Flatten", l, ins), "axis", 1);
      rank_[v] = 2;
      break;
    case LayerType::kConcat:
      Int(Node("Concat", l, ins), "axis", 1);
      break;
    case LayerType::kAdd:
      Node(ins.size() == 2 ? "Add" : "Sum", l, ins);
      break;
    case LayerType::kSoftmax:
      Int(Node("Softmax", l, ins), "axis", 1);
      break;
  }
}

pb::ModelProto Exporter::Run() {
  if (net_.batch() == 0) net_.Infer(1);
  pb::ModelProto m;
  m.set_ir_version(kIrVersion);
  m.set_producer_name("convscale");
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  g_ = m.mutable_graph();
  g_->set_name(net_.name());
  const size_t n = net_.size();
  rank_.assign(n, 4);
  tensor_.assign(n, "");
  ValueInfo(g_->add_input(), "input", net_.input_shape(), 4);
  for (size_t v = 0; v < n; ++v) ExportLayer(static_cast<int>(v));
  // Graph outputs: what the losses read, and any other layer nobody reads. The last one built
  // (the main classifier; Inception's auxiliary head comes earlier) is listed first, as PyTorch
  // returns it first, and the importer names its loss "loss".
  std::vector<int> outputs = net_.Outputs();
  if (!outputs.empty()) std::rotate(outputs.begin(), outputs.end() - 1, outputs.end());
  for (int v : outputs) {
    const graph::Layer& l = net_.layer(v);
    const int out = l.type == LayerType::kLoss ? l.inputs[0] : v;
    ValueInfo(g_->add_output(), tensor_[out], net_.layer(out).out, rank_[out]);
  }
  return m;
}

}  // namespace

std::string ExportOnnxBytes(const Network& net) {
  pb::ModelProto m = Exporter(net).Run();
  if (m.ByteSizeLong() > static_cast<size_t>(INT_MAX))
    throw InputError(net.name() + ": the ONNX model would be " +
                     std::to_string(m.ByteSizeLong() >> 20) +
                     " MiB, over protobuf's 2 GiB limit for one file");
  return m.SerializeAsString();
}

void ExportOnnx(const Network& net, const std::string& path) {
  WriteFileAtomic(path, ExportOnnxBytes(net));
}

}  // namespace convscale::graph
