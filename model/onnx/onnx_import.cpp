// ONNX -> graph::Network. One pass over the nodes in file order; each node either adds one layer,
// aliases its output to an existing layer (Identity, a folded bias Add), or computes a small
// constant (Constant, and the Shape/Gather/Unsqueeze/Concat chain of a dynamic flatten).
#include "model/onnx/onnx_import.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "model/util/error.h"
#include "model/util/json.h"

namespace convscale::graph {
namespace {

namespace pb = ::onnx;

// The operators mapped, with the attributes each may carry (every opset version's, including
// legacy ones such as "consumed_inputs"). An attribute outside the list is an error, never ignored.
const std::map<std::string, std::set<std::string>>& OperatorTable() {
  static const std::map<std::string, std::set<std::string>> table = {
      {"Add", {"axis", "broadcast", "consumed_inputs"}},
      {"AveragePool",
       {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads",
        "strides"}},
      {"BatchNormalization",
       {"epsilon", "momentum", "spatial", "is_test", "consumed_inputs", "training_mode"}},
      {"Clip", {"min", "max", "consumed_inputs"}},
      {"Concat", {"axis"}},
      {"Constant",
       {"value", "value_float", "value_floats", "value_int", "value_ints", "sparse_value",
        "value_string", "value_strings"}},
      {"Conv", {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
      {"Dropout", {"ratio", "is_test", "consumed_inputs", "seed"}},
      {"Flatten", {"axis"}},
      {"Gather", {"axis"}},
      {"Gemm", {"alpha", "beta", "transA", "transB", "broadcast"}},
      {"GlobalAveragePool", {}},
      {"Identity", {}},
      {"LogSoftmax", {"axis"}},
      {"MatMul", {}},
      {"MaxPool",
       {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}},
      {"ReduceMean", {"axes", "keepdims", "noop_with_empty_axes"}},
      {"Relu", {"consumed_inputs"}},
      {"Reshape", {"shape", "allowzero", "consumed_inputs"}},
      {"Shape", {"start", "end"}},
      {"Sigmoid", {"consumed_inputs"}},
      {"Softmax", {"axis"}},
      {"Squeeze", {"axes"}},
      {"Sum", {"consumed_inputs"}},
      {"Tanh", {"consumed_inputs"}},
      {"Unsqueeze", {"axes"}},
  };
  return table;
}

// The batch size where a computed shape holds it symbolically.
constexpr double kBatch = std::numeric_limits<double>::quiet_NaN();

// A tensor whose value is known at import time: an initializer, a Constant node's value, or a
// small vector computed from those and from activation shapes (Shape). Only dimensions are needed
// for weights; contents are read for small tensors (shapes, Clip bounds, axes).
struct Const {
  std::vector<int64_t> dims;
  const pb::TensorProto* tensor = nullptr;  // null when `values` holds the contents
  std::vector<double> values;               // computed contents; kBatch (NaN) for the batch size
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

// An activation: the output of a layer, N x C x H x W (rank 4) or N x C (rank 2).
struct Value {
  int vertex = 0;
  int rank = 4;
  bool bias_free_matmul = false;  // a MatMul's linear layer whose bias may still be folded in
};

std::string Join(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string FormatNumber(double x) {
  if (std::isnan(x)) return "N";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == std::floor(x) && std::abs(x) < 1e15) return std::to_string(static_cast<int64_t>(x));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

std::string Quote(const std::string& s) {
  return "\"" + s + "\"";
}

// Whether `s` is UTF-8 text. Protobuf does not check the string fields of ONNX's proto2 schema,
// so an exporter's bytes arrive as they are.
bool IsUtf8(const std::string& s) {
  try {
    Json(s).dump();
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

// `s` quoted, with U+FFFD in place of each byte that is not UTF-8, as a message can show it.
std::string QuoteShown(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

class Importer {
 public:
  Importer(std::string file, const pb::ModelProto& model)
      : file_(std::move(file)), g_(model.graph()) {}

  Network Run();

 private:
  // ---- messages ----
  std::string Where() const {
    std::string w = "node " + std::to_string(index_);
    if (!node_->name().empty()) w += " (" + Quote(node_->name()) + ")";
    return w;
  }
  InputError Fail(const std::string& what) const {
    return InputError(file_ + ": " + Where() + ": " + what);
  }
  InputError FailGraph(const std::string& what) const { return InputError(file_ + ": " + what); }

  // ---- attributes ----
  const pb::AttributeProto* Attr(const char* name) const {
    for (const auto& a : node_->attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t AttrInt(const char* name, int64_t fallback) const {
    const auto* a = Attr(name);
    if (!a) return fallback;
    if (a->type() != pb::AttributeProto::INT && !a->has_i())
      throw Fail("attribute " + Quote(name) + " must be an integer");
    return a->i();
  }
  double AttrFloat(const char* name, double fallback) const {
    const auto* a = Attr(name);
    if (!a) return fallback;
    if (a->type() != pb::AttributeProto::FLOAT && !a->has_f())
      throw Fail("attribute " + Quote(name) + " must be a float");
    return a->f();
  }
  std::string AttrString(const char* name, const std::string& fallback) const {
    const auto* a = Attr(name);
    if (!a) return fallback;
    if (a->type() != pb::AttributeProto::STRING && !a->has_s())
      throw Fail("attribute " + Quote(name) + " must be a string");
    return a->s();
  }
  std::optional<std::vector<int64_t>> AttrInts(const char* name) const {
    const auto* a = Attr(name);
    if (!a) return std::nullopt;
    if (a->type() != pb::AttributeProto::INTS && a->ints_size() == 0)
      throw Fail("attribute " + Quote(name) + " must be a list of integers");
    return std::vector<int64_t>(a->ints().begin(), a->ints().end());
  }

  // ---- tensors ----
  bool HasInput(int i) const { return i < node_->input_size() && !node_->input(i).empty(); }
  const std::string& InputName(int i) const { return node_->input(i); }
  bool IsConst(int i) const { return HasInput(i) && consts_.count(InputName(i)) > 0; }
  // The activation read by input i.
  Value In(int i) const {
    if (!HasInput(i)) throw Fail("input " + std::to_string(i) + " is missing");
    auto it = values_.find(InputName(i));
    if (it != values_.end()) return it->second;
    if (consts_.count(InputName(i)))
      throw Fail("input " + std::to_string(i) + " (" + Quote(InputName(i)) +
                 ") is a constant tensor; convscale expects an activation there");
    throw Fail("reads tensor " + Quote(InputName(i)) +
               ", which no earlier node produces (nodes must be in topological order)");
  }
  // The constant read by input i (a weight, a shape).
  const Const& ConstIn(int i, const char* what) const {
    if (!HasInput(i)) throw Fail("the " + std::string(what) + " input is missing");
    auto it = consts_.find(InputName(i));
    if (it != consts_.end()) return it->second;
    if (values_.count(InputName(i)))
      throw Fail("the " + std::string(what) + " " + Quote(InputName(i)) +
                 " is computed by the graph; convscale needs it as an initializer or Constant");
    throw Fail("reads tensor " + Quote(InputName(i)) + ", which no earlier node produces");
  }
  std::vector<double> Contents(const Const& c, const std::string& name) const;
  Const FromTensor(const pb::TensorProto& t) const {
    Const c;
    c.dims.assign(t.dims().begin(), t.dims().end());
    c.tensor = &t;
    return c;
  }

  // ---- layers ----
  std::string LayerName() const {
    std::string name =
        node_->name().empty() ? node_->op_type() + "_" + std::to_string(index_) : node_->name();
    if (net_->Find(name) >= 0) name += "_" + std::to_string(index_);
    return name;
  }
  Value AddLayer(LayerType type, const std::vector<Value>& ins, int rank, LayerParams p = {}) {
    Layer l;
    l.name = LayerName();
    l.type = type;
    l.p = p;
    for (const auto& v : ins) l.inputs.push_back(v.vertex);
    l.origin = Where();
    Value out;
    out.vertex = net_->Add(std::move(l));
    out.rank = rank;
    inferred_ = false;
    return out;
  }
  // The per-sample shape of an activation (infers the network so far when needed).
  Shape ShapeOf(const Value& v) {
    if (!inferred_) {
      net_->Infer(1, file_);
      inferred_ = true;
    }
    return net_->layer(v.vertex).out;
  }
  void SetOutput(int i, const Value& v) {
    if (i < node_->output_size() && !node_->output(i).empty()) values_[node_->output(i)] = v;
  }
  void SetConst(int i, Const c) {
    if (i < node_->output_size() && !node_->output(i).empty()) consts_[node_->output(i)] = c;
  }
  int Axis(int64_t axis, int rank) const {
    if (axis < -rank || axis >= rank)
      throw Fail("axis " + std::to_string(axis) + " is out of range for a rank-" +
                 std::to_string(rank) + " tensor");
    return static_cast<int>(axis < 0 ? axis + rank : axis);
  }
  // Symmetric padding (pad_h, pad_w) from "pads" or "auto_pad".
  std::pair<int, int> Padding(const Value& x, int kh, int kw, int sh, int sw, int dh, int dw);
  // The 2-D kernel/stride/dilation attributes of Conv and the pools.
  std::pair<int, int> Pair(const char* name, int fallback) const {
    auto v = AttrInts(name);
    if (!v) return {fallback, fallback};
    if (v->size() != 2)
      throw Fail("attribute " + Quote(name) + " is " + Join(*v) +
                 "; convscale supports 2-D convolution and pooling only");
    return {static_cast<int>((*v)[0]), static_cast<int>((*v)[1])};
  }
  bool IsGraphOutput(const std::string& name) const { return graph_outputs_.count(name) > 0; }

  void ReadInput();
  void CheckOperators() const;
  void CheckNamesAreUtf8() const;
  void ImportNode();
  void Conv();
  void Pool(LayerType type);
  void Gemm(bool matmul);
  void AddNode();
  void Reshape();
  void ReduceMean();
  void ConstantNode();
  void ShapeOps();
  Network Finish();

  std::string file_;
  const pb::GraphProto& g_;
  std::optional<Network> net_;
  int64_t static_batch_ = 0;  // the input's batch dimension when it is a number, else 0
  std::map<std::string, Const> consts_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> uses_;  // readers of each tensor (nodes and graph outputs)
  std::set<std::string> graph_outputs_;
  bool inferred_ = false;
  int index_ = 0;
  const pb::NodeProto* node_ = nullptr;
};

std::vector<double> Importer::Contents(const Const& c, const std::string& name) const {
  if (!c.tensor) return c.values;
  const pb::TensorProto& t = *c.tensor;
  const int64_t n = c.elements();
  if (t.data_location() == pb::TensorProto::EXTERNAL)
    throw Fail("the contents of " + Quote(name) +
               " are stored outside the model file; convscale needs them in the file");
  std::vector<double> out;
  auto raw = [&](auto zero) {
    using T = decltype(zero);
    if (t.raw_data().size() != static_cast<size_t>(n) * sizeof(T))
      throw Fail("tensor " + Quote(name) + " holds " + std::to_string(t.raw_data().size()) +
                 " bytes of data for " + std::to_string(n) + " elements");
    for (int64_t i = 0; i < n; ++i) {
      T x;
      std::memcpy(&x, t.raw_data().data() + i * sizeof(T), sizeof(T));
      out.push_back(static_cast<double>(x));
    }
  };
  switch (t.data_type()) {
    case pb::TensorProto::FLOAT:
      if (t.has_raw_data())
        raw(float{});
      else
        out.assign(t.float_data().begin(), t.float_data().end());
      break;
    case pb::TensorProto::DOUBLE:
      if (t.has_raw_data())
        raw(double{});
      else
        out.assign(t.double_data().begin(), t.double_data().end());
      break;
    case pb::TensorProto::INT64:
      if (t.has_raw_data())
        raw(int64_t{});
      else
        out.assign(t.int64_data().begin(), t.int64_data().end());
      break;
    case pb::TensorProto::INT32:
      if (t.has_raw_data())
        raw(int32_t{});
      else
        out.assign(t.int32_data().begin(), t.int32_data().end());
      break;
    default:
      throw Fail("tensor " + Quote(name) + " has element type " + std::to_string(t.data_type()) +
                 "; convscale reads float, double, int32 and int64 constants");
  }
  if (static_cast<int64_t>(out.size()) != n)
    throw Fail("tensor " + Quote(name) + " holds " + std::to_string(out.size()) +
               " values for dimensions " + Join(c.dims));
  return out;
}

std::pair<int, int> Importer::Padding(const Value& x, int kh, int kw, int sh, int sw, int dh,
                                      int dw) {
  const std::string mode = AttrString("auto_pad", "NOTSET");
  if (mode == "NOTSET" || mode.empty()) {
    auto pads = AttrInts("pads");
    if (!pads) return {0, 0};
    if (pads->size() != 4)
      throw Fail("attribute \"pads\" is " + Join(*pads) + "; expected 4 values for 2-D");
    const auto& p = *pads;
    if (p[0] != p[2] || p[1] != p[3])
      throw Fail("asymmetric pads " + Join(p) +
                 " (begin H, W, end H, W) are not supported: convscale layers pad both sides "
                 "equally");
    return {static_cast<int>(p[0]), static_cast<int>(p[1])};
  }
  if (mode == "VALID") return {0, 0};
  if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    const Shape in = ShapeOf(x);
    auto same = [&](int64_t size, int k, int s, int d, const char* axis) {
      const int64_t out = (size + s - 1) / s;
      const int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - size, 0);
      if (total % 2 != 0)
        throw Fail("auto_pad=" + mode + " needs " + std::to_string(total) + " padding along " +
                   axis +
                   ", which cannot be split equally between both sides; convscale layers "
                   "pad both sides equally");
      return static_cast<int>(total / 2);
    };
    return {same(in.h, kh, sh, dh, "H"), same(in.w, kw, sw, dw, "W")};
  }
  throw Fail("auto_pad " + Quote(mode) + " is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
}

void Importer::ReadInput() {
  std::set<std::string> initializers;
  for (const auto& t : g_.initializer()) initializers.insert(t.name());
  std::vector<const pb::ValueInfoProto*> inputs;
  for (const auto& in : g_.input())
    if (!initializers.count(in.name())) inputs.push_back(&in);
  if (inputs.empty()) throw FailGraph("the graph has no input");
  if (inputs.size() > 1) {
    std::string names;
    for (const auto* in : inputs) names += (names.empty() ? "" : ", ") + Quote(in->name());
    throw FailGraph("the graph has " + std::to_string(inputs.size()) + " inputs (" + names +
                    "); convscale models take one image input");
  }
  const pb::ValueInfoProto& in = *inputs[0];
  const std::string where = "graph input " + Quote(in.name());
  if (!in.type().has_tensor_type() || !in.type().tensor_type().has_shape())
    throw FailGraph(where + " has no tensor shape; export with a fixed input size");
  const auto& dims = in.type().tensor_type().shape().dim();
  if (dims.size() != 4 && dims.size() != 2)
    throw FailGraph(where + " has rank " + std::to_string(dims.size()) +
                    "; expected N x C x H x W (or N x features)");
  std::vector<int64_t> v;
  for (int i = 1; i < dims.size(); ++i) {
    if (!dims[i].has_dim_value() || dims[i].dim_value() < 1)
      throw FailGraph(where + ": dimension " + std::to_string(i) + " is " +
                      (dims[i].has_dim_param() ? Quote(dims[i].dim_param()) : "unknown") +
                      "; only the batch dimension may be symbolic");
    v.push_back(dims[i].dim_value());
  }
  if (dims[0].has_dim_value()) static_batch_ = dims[0].dim_value();
  const Shape shape = dims.size() == 4 ? Shape{v[0], v[1], v[2]} : Shape{v[0], 1, 1};
  net_.emplace(std::filesystem::path(file_).stem().string(), shape, 0);
  values_[in.name()] = Value{0, dims.size() == 4 ? 4 : 2};
}

void Importer::CheckOperators() const {
  std::vector<std::string> supported = OnnxSupportedOperators();
  std::string lines;
  for (int i = 0; i < g_.node_size(); ++i) {
    const auto& n = g_.node(i);
    const bool onnx_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (onnx_domain && OperatorTable().count(n.op_type())) continue;
    const std::string op = onnx_domain ? n.op_type() : n.domain() + "." + n.op_type();
    std::string line = file_ + ": node " + std::to_string(i);
    if (!n.name().empty()) line += " (" + Quote(n.name()) + ")";
    line += ": operator " + Quote(op) + " is not supported";
    if (lines.empty()) {
      std::string list;
      for (const auto& s : supported) list += (list.empty() ? "" : ", ") + s;
      line += "; supported: " + list;
    } else {
      lines += "\n";
    }
    lines += line;
  }
  if (!lines.empty()) throw InputError(lines);
}

// Layer and tensor names become the network's layer names and reach JSON outputs (the model
// format, plans, summaries), which hold UTF-8 text only: a name that is not UTF-8 is refused here,
// naming where it is, before anything uses it.
void Importer::CheckNamesAreUtf8() const {
  const std::string why =
      ": not UTF-8 text; layer and tensor names are written into JSON outputs, which hold UTF-8 "
      "only (rename it in the exporter)";
  for (const auto& in : g_.input())
    if (!IsUtf8(in.name())) throw FailGraph("graph input " + QuoteShown(in.name()) + why);
  for (const auto& t : g_.initializer())
    if (!IsUtf8(t.name())) throw FailGraph("initializer " + QuoteShown(t.name()) + why);
  for (int i = 0; i < g_.node_size(); ++i) {
    const auto& n = g_.node(i);
    const std::string node = file_ + ": node " + std::to_string(i);
    if (!IsUtf8(n.name())) throw InputError(node + ": its name " + QuoteShown(n.name()) + why);
    const std::string where = node + (n.name().empty() ? "" : " (" + Quote(n.name()) + ")");
    if (!IsUtf8(n.op_type()))
      throw InputError(where + ": its operator " + QuoteShown(n.op_type()) + why);
    for (int k = 0; k < n.input_size(); ++k)
      if (!IsUtf8(n.input(k)))
        throw InputError(where + ": input " + std::to_string(k) + " " + QuoteShown(n.input(k)) +
                         why);
    for (int k = 0; k < n.output_size(); ++k)
      if (!IsUtf8(n.output(k)))
        throw InputError(where + ": output " + std::to_string(k) + " " + QuoteShown(n.output(k)) +
                         why);
  }
  for (const auto& o : g_.output())
    if (!IsUtf8(o.name())) throw FailGraph("graph output " + QuoteShown(o.name()) + why);
}

Network Importer::Run() {
  CheckNamesAreUtf8();
  ReadInput();
  CheckOperators();
  for (const auto& t : g_.initializer()) consts_[t.name()] = FromTensor(t);
  for (const auto& n : g_.node())
    for (const auto& i : n.input()) ++uses_[i];
  for (const auto& o : g_.output()) {
    ++uses_[o.name()];
    graph_outputs_.insert(o.name());
  }
  for (index_ = 0; index_ < g_.node_size(); ++index_) {
    node_ = &g_.node(index_);
    const auto& allowed = OperatorTable().at(node_->op_type());
    for (const auto& a : node_->attribute())
      if (!allowed.count(a.name()))
        throw Fail(node_->op_type() + " has an unknown attribute " + Quote(a.name()) +
                   DidYouMean(a.name(), std::vector<std::string>(allowed.begin(), allowed.end())));
    ImportNode();
  }
  return Finish();
}

void Importer::ImportNode() {
  const std::string& op = node_->op_type();
  if (op == "Conv") return Conv();
  if (op == "MaxPool") return Pool(LayerType::kMaxPool);
  if (op == "AveragePool") return Pool(LayerType::kAvgPool);
  if (op == "Gemm") return Gemm(false);
  if (op == "MatMul") return Gemm(true);
  if (op == "Add" || op == "Sum") return AddNode();
  if (op == "Reshape") return Reshape();
  if (op == "ReduceMean") return ReduceMean();
  if (op == "Constant") return ConstantNode();
  if (op == "Shape" || op == "Gather" || op == "Unsqueeze" || op == "Squeeze") return ShapeOps();

  if (op == "Concat") {
    bool all_const = node_->input_size() > 0;
    for (int i = 0; i < node_->input_size(); ++i) all_const = all_const && IsConst(i);
    if (all_const) return ShapeOps();
    std::vector<Value> ins;
    for (int i = 0; i < node_->input_size(); ++i) ins.push_back(In(i));
    const int rank = ins[0].rank;
    if (Axis(AttrInt("axis", 1), rank) != 1)
      throw Fail("Concat along axis " + std::to_string(AttrInt("axis", 1)) +
                 " is not supported; convscale concatenates channels (axis 1)");
    if (ins.size() == 1) return SetOutput(0, ins[0]);
    return SetOutput(0, AddLayer(LayerType::kConcat, ins, rank));
  }
  if (op == "BatchNormalization") {
    const Value x = In(0);
    const Const& scale = ConstIn(1, "scale");
    const int64_t c = ShapeOf(x).c;
    if (scale.elements() != c)
      throw Fail("scale " + Quote(InputName(1)) + " has " + std::to_string(scale.elements()) +
                 " elements but the input has " + std::to_string(c) + " channels");
    return SetOutput(0, AddLayer(LayerType::kBatchNorm, {x}, x.rank));
  }
  if (op == "Relu") return SetOutput(0, AddLayer(LayerType::kReLU, {In(0)}, In(0).rank));
  if (op == "Sigmoid") return SetOutput(0, AddLayer(LayerType::kSigmoid, {In(0)}, In(0).rank));
  if (op == "Tanh") return SetOutput(0, AddLayer(LayerType::kTanh, {In(0)}, In(0).rank));
  if (op == "Identity") {
    if (IsConst(0)) return SetConst(0, consts_.at(InputName(0)));
    return SetOutput(0, In(0));
  }
  if (op == "Clip") {
    const Value x = In(0);
    double lo = AttrFloat("min", -std::numeric_limits<double>::infinity());
    double hi = AttrFloat("max", std::numeric_limits<double>::infinity());
    auto bound = [&](int i, double& b, const char* what) {
      if (!HasInput(i)) return;
      auto v = Contents(ConstIn(i, what), InputName(i));
      if (v.size() != 1) throw Fail(std::string("the ") + what + " bound must be a scalar");
      b = v[0];
    };
    bound(1, lo, "min");
    bound(2, hi, "max");
    if (lo == 0 && hi == 6) return SetOutput(0, AddLayer(LayerType::kReLU6, {x}, x.rank));
    if (lo == 0 && std::isinf(hi)) return SetOutput(0, AddLayer(LayerType::kReLU, {x}, x.rank));
    throw Fail("Clip(min=" + FormatNumber(lo) + ", max=" + FormatNumber(hi) +
               ") is not supported; convscale maps Clip(min=0) to relu and Clip(min=0, max=6) to "
               "relu6");
  }
  if (op == "GlobalAveragePool") {
    const Value x = In(0);
    if (x.rank != 4) throw Fail("GlobalAveragePool needs an N x C x H x W input");
    return SetOutput(0, AddLayer(LayerType::kAdaptiveAvgPool, {x}, 4));
  }
  if (op == "Flatten") {
    const Value x = In(0);
    const int64_t axis = AttrInt("axis", 1);
    if (Axis(axis, x.rank) != 1)
      throw Fail("Flatten with axis=" + std::to_string(axis) +
                 " is not supported; convscale flattens each sample (axis 1)");
    return SetOutput(0, AddLayer(LayerType::kFlatten, {x}, 2));
  }
  if (op == "Dropout") {
    const Value x = In(0);
    LayerParams p;
    p.p = AttrFloat("ratio", 0.5);
    if (HasInput(1)) {
      auto v = Contents(ConstIn(1, "ratio"), InputName(1));
      if (v.size() != 1) throw Fail("the ratio must be a scalar");
      p.p = v[0];
    }
    return SetOutput(0, AddLayer(LayerType::kDropout, {x}, x.rank, p));
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    const Value x = In(0);
    // A softmax that only produces a graph output is the one the appended loss layer computes.
    if (node_->output_size() > 0 && IsGraphOutput(node_->output(0)) && uses_[node_->output(0)] == 1)
      return SetOutput(0, x);
    return SetOutput(0, AddLayer(LayerType::kSoftmax, {x}, x.rank));
  }
  throw Fail("operator " + Quote(op) + " has no mapping");  // OperatorTable lists only mapped ops
}

void Importer::Conv() {
  const Value x = In(0);
  if (x.rank != 4) throw Fail("Conv needs an N x C x H x W input");
  const Const& w = ConstIn(1, "weight");
  if (w.dims.size() != 4)
    throw Fail("weight " + Quote(InputName(1)) + " has dimensions " + Join(w.dims) +
               "; convscale supports 2-D convolutions only");
  LayerParams p;
  p.out_channels = w.dims[0];
  p.groups = static_cast<int>(AttrInt("group", 1));
  p.kernel_h = static_cast<int>(w.dims[2]);
  p.kernel_w = static_cast<int>(w.dims[3]);
  if (auto k = AttrInts("kernel_shape"); k && *k != std::vector<int64_t>{w.dims[2], w.dims[3]})
    throw Fail("kernel_shape " + Join(*k) + " does not match the weight's dimensions " +
               Join(w.dims));
  std::tie(p.stride_h, p.stride_w) = Pair("strides", 1);
  std::tie(p.dilation_h, p.dilation_w) = Pair("dilations", 1);
  const int64_t in_c = ShapeOf(x).c;
  if (p.groups < 1 || w.dims[1] * p.groups != in_c)
    throw Fail("weight " + Quote(InputName(1)) + " " + Join(w.dims) + " with group=" +
               std::to_string(p.groups) + " expects " + std::to_string(w.dims[1] * p.groups) +
               " input channels, but the input has " + std::to_string(in_c));
  std::tie(p.pad_h, p.pad_w) =
      Padding(x, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w);
  p.bias = HasInput(2);
  if (p.bias && ConstIn(2, "bias").elements() != p.out_channels)
    throw Fail("bias " + Quote(InputName(2)) + " has " +
               std::to_string(ConstIn(2, "bias").elements()) + " elements for " +
               std::to_string(p.out_channels) + " output channels");
  SetOutput(0, AddLayer(LayerType::kConv2d, {x}, 4, p));
}

void Importer::Pool(LayerType type) {
  const Value x = In(0);
  if (x.rank != 4) throw Fail(node_->op_type() + " needs an N x C x H x W input");
  LayerParams p;
  if (!Attr("kernel_shape")) throw Fail("attribute \"kernel_shape\" is missing");
  std::tie(p.kernel_h, p.kernel_w) = Pair("kernel_shape", 1);
  std::tie(p.stride_h, p.stride_w) = Pair("strides", 1);
  const auto [dh, dw] = Pair("dilations", 1);
  if (dh != 1 || dw != 1)
    throw Fail("dilated pooling (dilations [" + std::to_string(dh) + ", " + std::to_string(dw) +
               "]) is not supported");
  std::tie(p.pad_h, p.pad_w) = Padding(x, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, 1, 1);
  p.ceil_mode = AttrInt("ceil_mode", 0) != 0;
  p.count_include_pad = AttrInt("count_include_pad", 0) != 0;  // ONNX's default is 0
  SetOutput(0, AddLayer(type, {x}, 4, p));
}

void Importer::Gemm(bool matmul) {
  const Value a = In(0);
  if (a.rank != 2)
    throw Fail(node_->op_type() +
               " needs an N x features input; add a Flatten before it (convscale maps it to a "
               "linear layer)");
  if (!matmul && AttrInt("transA", 0) != 0)
    throw Fail("Gemm with transA=1 is not supported (the batch must be the first dimension)");
  const Const& b = ConstIn(1, "weight");
  if (b.dims.size() != 2)
    throw Fail("weight " + Quote(InputName(1)) + " has dimensions " + Join(b.dims) +
               "; expected a matrix");
  const bool trans_b = !matmul && AttrInt("transB", 0) != 0;
  const int64_t in_features = trans_b ? b.dims[1] : b.dims[0];
  LayerParams p;
  p.out_features = trans_b ? b.dims[0] : b.dims[1];
  const int64_t c = ShapeOf(a).elements();
  if (in_features != c)
    throw Fail("weight " + Quote(InputName(1)) + " " + Join(b.dims) +
               (trans_b ? " (transposed)" : "") + " expects " + std::to_string(in_features) +
               " input features, but the input has " + std::to_string(c));
  p.bias = !matmul && HasInput(2);
  if (p.bias) {
    const int64_t n = ConstIn(2, "bias").elements();
    if (n != p.out_features && n != 1)
      throw Fail("bias " + Quote(InputName(2)) + " has " + std::to_string(n) + " elements for " +
                 std::to_string(p.out_features) + " outputs");
  }
  Value out = AddLayer(LayerType::kLinear, {a}, 2, p);
  out.bias_free_matmul = matmul;
  SetOutput(0, out);
}

void Importer::AddNode() {
  std::vector<Value> ins;
  std::vector<int> constants;
  for (int i = 0; i < node_->input_size(); ++i) {
    if (IsConst(i))
      constants.push_back(i);
    else
      ins.push_back(In(i));
  }
  if (constants.empty()) {
    if (ins.size() == 1) return SetOutput(0, ins[0]);
    return SetOutput(0, AddLayer(LayerType::kAdd, ins, ins[0].rank));
  }
  // MatMul + Add(constant) is how exporters write a linear layer with bias: fold it in.
  if (ins.size() == 1 && constants.size() == 1 && ins[0].bias_free_matmul) {
    const int i = constants[0] == 0 ? 1 : 0;  // the activation's input index
    const Const& bias = consts_.at(InputName(constants[0]));
    Layer& linear = net_->layer(ins[0].vertex);
    if (uses_[InputName(i)] == 1 && bias.elements() == linear.p.out_features) {
      linear.p.bias = true;
      inferred_ = false;
      Value out = ins[0];
      out.bias_free_matmul = false;
      return SetOutput(0, out);
    }
  }
  throw Fail("adding the constant tensor " + Quote(InputName(constants[0])) +
             " is supported only as the bias of a MatMul (a linear layer)");
}

void Importer::Reshape() {
  const Value x = In(0);
  std::vector<double> shape;
  if (HasInput(1)) {
    shape = Contents(ConstIn(1, "shape"), InputName(1));
  } else if (auto attr = AttrInts("shape")) {
    shape.assign(attr->begin(), attr->end());
  } else {
    throw Fail("the target shape is missing");
  }
  const int64_t features = ShapeOf(x).elements();
  const bool allow_zero = AttrInt("allowzero", 0) != 0;
  auto is_batch = [&](double d, bool minus_one_ok) {
    return std::isnan(d) || (d == 0 && !allow_zero) || (minus_one_ok && d == -1) ||
           (static_batch_ > 0 && d == static_cast<double>(static_batch_));
  };
  bool flat = false;
  if (shape.size() == 2) {
    if (shape[1] == static_cast<double>(features))
      flat = is_batch(shape[0], true);
    else if (shape[1] == -1)
      flat = is_batch(shape[0], false);
  }
  if (!flat) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + FormatNumber(shape[i]);
    throw Fail("Reshape to " + s +
               "] is not supported; convscale maps Reshape only as a flatten "
               "to N x " +
               std::to_string(features) + " (for example [0, -1] or [N, " +
               std::to_string(features) + "])");
  }
  if (x.rank == 2) return SetOutput(0, x);
  SetOutput(0, AddLayer(LayerType::kFlatten, {x}, 2));
}

void Importer::ReduceMean() {
  const Value x = In(0);
  std::vector<int64_t> axes;
  if (auto a = AttrInts("axes"))
    axes = *a;
  else if (HasInput(1))
    for (double d : Contents(ConstIn(1, "axes"), InputName(1)))
      axes.push_back(static_cast<int64_t>(d));
  std::set<int> normalized;
  for (int64_t a : axes) normalized.insert(Axis(a, x.rank));
  if (x.rank != 4 || normalized != std::set<int>{2, 3})
    throw Fail("ReduceMean over axes " + Join(axes) +
               " is not supported; convscale maps ReduceMean over the spatial axes [2, 3] to a "
               "global average pool");
  SetOutput(0, AddLayer(LayerType::kAdaptiveAvgPool, {x}, AttrInt("keepdims", 1) ? 4 : 2));
}

void Importer::ConstantNode() {
  const auto* value = Attr("value");
  if (value) {
    if (!value->has_t()) throw Fail("attribute \"value\" must be a tensor");
    return SetConst(0, FromTensor(value->t()));
  }
  Const c;
  if (const auto* f = Attr("value_float")) {
    c.values = {f->f()};
  } else if (const auto* i = Attr("value_int")) {
    c.values = {static_cast<double>(i->i())};
  } else if (const auto* fs = Attr("value_floats")) {
    c.values.assign(fs->floats().begin(), fs->floats().end());
    c.dims = {static_cast<int64_t>(c.values.size())};
  } else if (const auto* is = Attr("value_ints")) {
    c.values.assign(is->ints().begin(), is->ints().end());
    c.dims = {static_cast<int64_t>(c.values.size())};
  } else {
    throw Fail("a Constant holding strings or a sparse tensor is not supported");
  }
  SetConst(0, c);
}

// Shape arithmetic on constants: Shape of an activation (the batch stays symbolic), Gather of
// some of its elements, Unsqueeze/Squeeze (values unchanged), Concat along axis 0.
void Importer::ShapeOps() {
  const std::string& op = node_->op_type();
  Const out;
  if (op == "Shape") {
    const Value x = In(0);
    const Shape s = ShapeOf(x);
    std::vector<double> dims = {kBatch, static_cast<double>(s.c)};
    if (x.rank == 4) {
      dims.push_back(static_cast<double>(s.h));
      dims.push_back(static_cast<double>(s.w));
    }
    const int rank = x.rank;
    int64_t start = AttrInt("start", 0), end = AttrInt("end", rank);
    start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
    end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
    for (int64_t i = start; i < end; ++i) out.values.push_back(dims[i]);
    out.dims = {static_cast<int64_t>(out.values.size())};
    return SetConst(0, out);
  }
  if (op == "Gather") {
    const Const& data = ConstIn(0, "data");
    const Const& indices = ConstIn(1, "indices");
    if (data.dims.size() != 1 || AttrInt("axis", 0) != 0)
      throw Fail("Gather is supported only on shape vectors (1-D constants, axis 0)");
    const auto values = Contents(data, InputName(0));
    for (double d : Contents(indices, InputName(1))) {
      int64_t i = static_cast<int64_t>(d);
      if (i < 0) i += static_cast<int64_t>(values.size());
      if (i < 0 || i >= static_cast<int64_t>(values.size()))
        throw Fail("index " + FormatNumber(d) + " is out of range for " +
                   std::to_string(values.size()) + " values");
      out.values.push_back(values[i]);
    }
    out.dims = indices.dims;
    return SetConst(0, out);
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    const Const& data = ConstIn(0, "data");
    out.values = Contents(data, InputName(0));
    if (data.dims.size() > 1 || (op == "Squeeze" && out.values.size() != 1))
      throw Fail(op + " is supported only on scalar and 1-D shape constants");
    if (op == "Unsqueeze") out.dims = {static_cast<int64_t>(out.values.size())};
    return SetConst(0, out);
  }
  // Concat of constants.
  if (AttrInt("axis", 0) != 0 && AttrInt("axis", 0) != -1)
    throw Fail("Concat of constants is supported only for shape vectors (axis 0)");
  for (int i = 0; i < node_->input_size(); ++i) {
    const Const& c = ConstIn(i, "input");
    if (c.dims.size() > 1) throw Fail("Concat of constants is supported only for shape vectors");
    for (double d : Contents(c, InputName(i))) out.values.push_back(d);
  }
  out.dims = {static_cast<int64_t>(out.values.size())};
  SetConst(0, out);
}

// Appends a loss after each graph output and sets the class count from the first one.
Network Importer::Finish() {
  std::vector<std::pair<std::string, Value>> outs;
  std::set<int> seen;
  for (const auto& o : g_.output()) {
    auto it = values_.find(o.name());
    if (it == values_.end())
      throw FailGraph("graph output " + Quote(o.name()) +
                      (consts_.count(o.name()) ? " is a constant" : " is produced by no node"));
    if (seen.insert(it->second.vertex).second) outs.emplace_back(o.name(), it->second);
  }
  if (outs.empty()) throw FailGraph("the graph has no output");
  int64_t classes = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const Shape s = ShapeOf(outs[i].second);
    if (s.h != 1 || s.w != 1)
      throw FailGraph("graph output " + Quote(outs[i].first) + " is " + ToString(s) +
                      " per sample; convscale models end in a classifier (N x classes), after "
                      "which the importer appends the loss");
    if (i == 0) classes = s.c;
    Layer loss;
    loss.name = i == 0 ? "loss" : outs[i].first + ".loss";
    if (net_->Find(loss.name) >= 0) loss.name += "_" + std::to_string(i);
    loss.type = LayerType::kLoss;
    loss.inputs = {outs[i].second.vertex};
    loss.origin = "graph output " + Quote(outs[i].first);
    net_->Add(std::move(loss));
  }
  // The class count is fixed at construction: copy the layers into the final network.
  Network net(net_->name(), net_->input_shape(), classes);
  for (size_t v = 1; v < net_->size(); ++v) net.Add(net_->layer(static_cast<int>(v)));
  net.Infer(1, file_);
  return net;
}

}  // namespace

const std::vector<std::string>& OnnxSupportedOperators() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& [op, attrs] : OperatorTable()) v.push_back(op);
    return v;
  }();
  return names;
}

Network ImportOnnx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open: " + std::strerror(errno));
  pb::ModelProto model;
  if (!model.ParseFromIstream(&in))
    throw InputError(path +
                     ": not an ONNX model: the protobuf does not parse (is the file truncated?)");
  if (!model.has_graph() || model.graph().node_size() == 0)
    throw InputError(path +
                     ": not an ONNX model: it has no graph nodes (is the file truncated, "
                     "or another format?)");
  return Importer(path, model).Run();
}

}  // namespace convscale::graph
