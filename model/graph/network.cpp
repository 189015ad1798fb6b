#include "model/graph/network.h"

#include <cmath>
#include <stdexcept>

#include "model/util/checked.h"
#include "model/util/error.h"

namespace convscale::graph {

namespace {

struct TypeName {
  LayerType type;
  const char* name;
};
constexpr TypeName kTypeNames[] = {
    {LayerType::kInput, "input"},
    {LayerType::kConv2d, "conv2d"},
    {LayerType::kBatchNorm, "batch_norm"},
    {LayerType::kReLU, "relu"},
    {LayerType::kReLU6, "relu6"},
    {LayerType::kSigmoid, "sigmoid"},
    {LayerType::kTanh, "tanh"},
    {LayerType::kMaxPool, "max_pool"},
    {LayerType::kAvgPool, "avg_pool"},
    {LayerType::kAdaptiveAvgPool, "adaptive_avg_pool"},
    {LayerType::kLinear, "linear"},
    {LayerType::kDropout, "dropout"},
    {LayerType::kFlatten, "flatten"},
    {LayerType::kConcat, "concat"},
    {LayerType::kAdd, "add"},
    {LayerType::kSoftmax, "softmax"},
    {LayerType::kLoss, "loss"},
};

constexpr double kElem = 4.0;  // bytes per fp32 element

int64_t PoolOut(int64_t in, int k, int s, int p, int d, bool ceil_mode) {
  // In 64 bits: a dilation and kernel of 65,536 each span 2^32 - 65,536 (checked in
  // model_json.cpp), which wraps in an int.
  const double span = static_cast<double>(in + 2 * int64_t{p} - int64_t{d} * (k - 1) - 1) / s;
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
  // PyTorch: the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

}  // namespace

std::string_view LayerTypeName(LayerType t) {
  for (const auto& tn : kTypeNames)
    if (tn.type == t) return tn.name;
  return "unknown";
}

std::vector<std::string> LayerTypeNames() {
  std::vector<std::string> v;
  for (const auto& tn : kTypeNames) v.emplace_back(tn.name);
  return v;
}

LayerType ParseLayerType(std::string_view name) {
  for (const auto& tn : kTypeNames)
    if (name == tn.name) return tn.type;
  throw std::invalid_argument("unknown layer type \"" + std::string(name) + "\"" +
                              DidYouMean(name, LayerTypeNames()));
}

std::string ToString(const Shape& s) {
  return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

Network::Network(std::string name, Shape input, int64_t num_classes)
    : name_(std::move(name)), input_shape_(input), num_classes_(num_classes) {
  Layer in;
  in.name = "input";
  in.type = LayerType::kInput;
  in.out = input;
  boost::add_vertex(in, g_);
  index_.emplace(in.name, 0);
}

int Network::Add(Layer layer) {
  if (Find(layer.name) >= 0)
    throw InputError("layer name \"" + layer.name + "\" is used twice in network " + name_);
  // Check the inputs before adding the vertex, so that a rejected layer leaves no trace.
  const int v = static_cast<int>(boost::num_vertices(g_));
  for (int u : layer.inputs)
    if (u < 0 || u >= v)
      throw InputError("layer \"" + layer.name + "\" reads a layer that does not exist yet");
  index_.emplace(layer.name, v);
  boost::add_vertex(std::move(layer), g_);
  for (int u : g_[v].inputs) boost::add_edge(u, v, g_);
  return v;
}

int Network::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

std::vector<int> Network::Consumers(int v) const {
  std::vector<int> out;
  for (auto [e, end] = boost::out_edges(v, g_); e != end; ++e)
    out.push_back(static_cast<int>(boost::target(*e, g_)));
  return out;
}

std::vector<int> Network::Outputs() const {
  std::vector<int> out;
  for (size_t v = 1; v < boost::num_vertices(g_); ++v)
    if (boost::out_degree(v, g_) == 0) out.push_back(static_cast<int>(v));
  return out;
}

std::vector<int> Network::ParameterLayers() const {
  std::vector<int> out;
  for (size_t v = 0; v < boost::num_vertices(g_); ++v)
    if (g_[v].cost.params > 0) out.push_back(static_cast<int>(v));
  return out;
}

void Network::Infer(int64_t batch, const std::string& source) {
  if (batch < 1) throw InputError("batch size must be at least 1, got " + std::to_string(batch));
  batch_ = batch;
  const double B = static_cast<double>(batch);
  auto place = [&](const Layer& l) {
    std::string where = source.empty() ? name_ : source;
    if (!l.origin.empty()) where += ": " + l.origin;
    return where;
  };
  auto fail = [&](const Layer& l, const std::string& what) -> InputError {
    return InputError(place(l) + ": layer \"" + l.name + "\" (" +
                      std::string(LayerTypeName(l.type)) + "): " + what);
  };
  // Element and parameter counts are checked as they are formed, so that every count the loop
  // and the cost model multiply afterwards (Shape::elements(), the parameter total) fits an
  // int64_t; a file asking for more is refused at the layer that overflows.
  auto count = [&](const Layer& l, std::initializer_list<int64_t> factors,
                   const std::string& what) -> int64_t {
    if (const std::optional<int64_t> r = CheckedProduct(factors)) return *r;
    throw fail(l, what + " is more than convscale can count (2^63 - 1)");
  };
  auto elements = [&](const Layer& l, const Shape& s) {
    count(l, {s.c, s.h, s.w}, "the number of elements of its output " + ToString(s));
  };
  auto sum = [&](const Layer& l, int64_t a, int64_t b, const std::string& what) -> int64_t {
    if (const std::optional<int64_t> r = CheckedAdd(a, b)) return *r;
    throw fail(l, what + " is more than convscale can count (2^63 - 1)");
  };
  int64_t total_params = 0;
  std::vector<bool> depends_on_params(boost::num_vertices(g_), false);

  for (size_t v = 0; v < boost::num_vertices(g_); ++v) {
    Layer& l = g_[v];
    LayerCost c;
    l.in_shapes.clear();
    for (int u : l.inputs) l.in_shapes.push_back(g_[u].out);
    if (l.type == LayerType::kInput) {
      if (!CheckedProduct({input_shape_.c, input_shape_.h, input_shape_.w}))
        throw InputError(place(l) + ": the number of elements of the input " +
                         ToString(input_shape_) + " is more than convscale can count (2^63 - 1)");
      l.out = input_shape_;
      l.cost = c;
      l.needs_input_grad = false;
      continue;
    }
    if (l.in_shapes.empty()) throw fail(l, "has no input");
    const bool multi = l.type == LayerType::kConcat || l.type == LayerType::kAdd;
    if (!multi && l.in_shapes.size() != 1)
      throw fail(l, "takes exactly one input, got " + std::to_string(l.in_shapes.size()));
    if (multi && l.in_shapes.size() < 2)
      throw fail(l, "takes at least two inputs, got " + std::to_string(l.in_shapes.size()));
    const Shape in = l.in_shapes[0];
    const LayerParams& p = l.p;
    bool dep = false;
    for (int u : l.inputs) dep = dep || depends_on_params[u];
    l.needs_input_grad = dep;
    double in_elems = 0;
    for (const auto& s : l.in_shapes) in_elems += static_cast<double>(s.elements());
    Shape out = in;

    switch (l.type) {
      case LayerType::kConv2d: {
        if (p.out_channels < 1) throw fail(l, "out_channels must be at least 1");
        if (p.groups < 1 || in.c % p.groups != 0 || p.out_channels % p.groups != 0)
          throw fail(l, "groups=" + std::to_string(p.groups) +
                            " must divide in_channels=" + std::to_string(in.c) +
                            " and out_channels=" + std::to_string(p.out_channels));
        if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 ||
            p.dilation_h < 1 || p.dilation_w < 1 || p.pad_h < 0 || p.pad_w < 0)
          throw fail(l, "kernel, stride and dilation must be >= 1 and padding >= 0");
        out.c = p.out_channels;
        out.h = PoolOut(in.h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, false);
        out.w = PoolOut(in.w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, false);
        if (out.h < 1 || out.w < 1)
          throw fail(l, "input " + ToString(in) + " is smaller than the kernel " +
                            std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w));
        elements(l, out);
        const int64_t weights =
            count(l, {out.c, in.c / p.groups, p.kernel_h, p.kernel_w},
                  "its weight count out_channels x in_channels/groups x kernel = " +
                      std::to_string(out.c) + " x " + std::to_string(in.c / p.groups) + " x " +
                      std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w));
        c.params = sum(l, weights, p.bias ? out.c : 0, "its weight and bias count");
        const double k = static_cast<double>(weights / out.c);
        c.macs_forward = B * static_cast<double>(out.elements()) * k;
        const double bias_flops = p.bias ? B * static_cast<double>(out.elements()) : 0;
        c.flops_forward = 2 * c.macs_forward + bias_flops;
        c.flops_backward_data = dep ? 2 * c.macs_forward : 0;
        c.flops_backward_weight = 2 * c.macs_forward + bias_flops;
        c.saved_bytes = B * in_elems * kElem;
        break;
      }
      case LayerType::kLinear: {
        if (p.out_features < 1) throw fail(l, "out_features must be at least 1");
        if (in.h != 1 || in.w != 1)
          throw fail(l, "expects a flat input (Cx1x1) but gets " + ToString(in) +
                            "; add a flatten or adaptive_avg_pool layer before it");
        out = {p.out_features, 1, 1};
        c.params =
            sum(l,
                count(l, {in.c, p.out_features},
                      "its weight count in_features x out_features = " + std::to_string(in.c) +
                          " x " + std::to_string(p.out_features)),
                p.bias ? p.out_features : 0, "its weight and bias count");
        c.macs_forward = B * static_cast<double>(in.c) * static_cast<double>(p.out_features);
        const double bias_flops = p.bias ? B * static_cast<double>(p.out_features) : 0;
        c.flops_forward = 2 * c.macs_forward + bias_flops;
        c.flops_backward_data = dep ? 2 * c.macs_forward : 0;
        c.flops_backward_weight = 2 * c.macs_forward + bias_flops;
        c.saved_bytes = B * in_elems * kElem;
        break;
      }
      case LayerType::kBatchNorm:
        // gamma and beta; running mean/var are buffers, not parameters
        c.params = count(l, {2, in.c}, "its parameter count 2 x channels");
        c.flops_forward = 4 * B * in_elems;  // mean, variance, normalise, scale and shift
        c.flops_backward_data = dep ? 5 * B * in_elems : 0;
        c.flops_backward_weight = 2 * B * in_elems;
        c.saved_bytes = B * in_elems * kElem;
        break;
      case LayerType::kReLU:
      case LayerType::kReLU6:
      case LayerType::kSigmoid:
      case LayerType::kTanh:
        c.flops_forward = B * in_elems;
        c.flops_backward_data = dep ? B * in_elems : 0;
        c.saved_bytes = B * in_elems * kElem;  // the output
        break;
      case LayerType::kDropout:
        if (p.p < 0 || p.p >= 1) throw fail(l, "dropout probability must be in [0, 1)");
        c.flops_forward = B * in_elems;
        c.flops_backward_data = dep ? B * in_elems : 0;
        c.saved_bytes = B * in_elems;  // one byte of mask per element
        break;
      case LayerType::kMaxPool:
      case LayerType::kAvgPool: {
        if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 || p.pad_h < 0 ||
            p.pad_w < 0)
          throw fail(l, "kernel and stride must be >= 1 and padding >= 0");
        if (2 * p.pad_h > p.kernel_h || 2 * p.pad_w > p.kernel_w)
          throw fail(l, "padding must be at most half the kernel size");
        out.h = PoolOut(in.h, p.kernel_h, p.stride_h, p.pad_h, 1, p.ceil_mode);
        out.w = PoolOut(in.w, p.kernel_w, p.stride_w, p.pad_w, 1, p.ceil_mode);
        if (out.h < 1 || out.w < 1)
          throw fail(l, "input " + ToString(in) + " is smaller than the pooling window");
        const double window = static_cast<double>(p.kernel_h) * p.kernel_w;
        c.flops_forward = B * static_cast<double>(out.elements()) * window;
        c.flops_backward_data = dep ? B * static_cast<double>(out.elements()) * window : 0;
        if (l.type == LayerType::kMaxPool)  // input values and int64 indices of the maxima
          c.saved_bytes = B * (in_elems * kElem + static_cast<double>(out.elements()) * 8);
        break;
      }
      case LayerType::kAdaptiveAvgPool:
        if (p.out_h < 1 || p.out_w < 1) throw fail(l, "output size must be at least 1x1");
        out.h = p.out_h;
        out.w = p.out_w;
        c.flops_forward = B * in_elems;
        c.flops_backward_data = dep ? B * in_elems : 0;
        break;
      case LayerType::kFlatten:
        out = {in.elements(), 1, 1};
        break;
      case LayerType::kConcat:
        out.c = 0;
        for (size_t i = 0; i < l.in_shapes.size(); ++i) {
          const Shape& s = l.in_shapes[i];
          if (s.h != in.h || s.w != in.w)
            throw fail(l, "inputs \"" + g_[l.inputs[0]].name + "\" (" + ToString(in) + ") and \"" +
                              g_[l.inputs[i]].name + "\" (" + ToString(s) +
                              ") differ in height or width; concat joins channels of equal HxW");
          out.c = sum(l, out.c, s.c, "the sum of its input channels");
        }
        break;
      case LayerType::kAdd:
        for (size_t i = 1; i < l.in_shapes.size(); ++i)
          if (!(l.in_shapes[i] == in))
            throw fail(l, "inputs \"" + g_[l.inputs[0]].name + "\" (" + ToString(in) + ") and \"" +
                              g_[l.inputs[i]].name + "\" (" + ToString(l.in_shapes[i]) +
                              ") have different shapes");
        c.flops_forward = B * static_cast<double>(in.elements()) * (l.in_shapes.size() - 1);
        break;
      case LayerType::kSoftmax:
        c.flops_forward = 5 * B * in_elems;
        c.flops_backward_data = dep ? 3 * B * in_elems : 0;
        c.saved_bytes = B * in_elems * kElem;
        break;
      case LayerType::kLoss:
        if (in.h != 1 || in.w != 1)
          throw fail(l, "expects class scores (Cx1x1) but gets " + ToString(in));
        // The labels run from 0 to num_classes - 1; a classifier of another width would make the
        // executor read scores that do not exist (or leave classes no label can reach).
        if (in.c != num_classes_)
          throw fail(l, "reads " + std::to_string(in.c) + " class scores from \"" +
                            g_[l.inputs[0]].name + "\" but num_classes is " +
                            std::to_string(num_classes_) + "; make them equal");
        out = {1, 1, 1};
        c.flops_forward = 5 * B * in_elems;
        c.flops_backward_data = dep ? 2 * B * in_elems : 0;
        c.saved_bytes = B * in_elems * kElem;  // the softmax probabilities
        break;
      case LayerType::kInput:
        break;
    }
    elements(l, out);
    total_params = sum(l, total_params, c.params,
                       "the parameter count of the layers up to and including this one");
    l.out = out;
    c.weight_bytes = static_cast<double>(c.params) * kElem;
    c.output_bytes = B * static_cast<double>(out.elements()) * kElem;
    c.bytes_forward = B * in_elems * kElem + c.output_bytes + c.weight_bytes;
    // Backward reads the output gradient and the saved tensors, writes the input gradient (when
    // needed) and the weight gradient.
    c.bytes_backward =
        c.output_bytes + c.saved_bytes + (dep ? B * in_elems * kElem : 0) + 2 * c.weight_bytes;
    l.cost = c;
    depends_on_params[v] = dep || c.params > 0;
  }
  AttributeSavedBytes(B);
}

// Saved activations, each tensor counted once. In the loop above, `saved_bytes` is what a
// layer's backward reads (which bytes_backward needs), but one tensor is often kept by two
// layers: a ReLU keeps its output and the convolution after it keeps the same tensor as its
// input. For memory, a tensor belongs to the layer that produced it: layer v's saved_bytes is
// its output when any layer keeps that output (itself or a consumer), plus what only v keeps (a
// dropout mask, max-pool indices, the loss's probabilities). Flatten is a view: keeping its
// output keeps its input's tensor. Batch-norm's per-channel statistics (2 x C floats) are left
// out, so that saved bytes scale exactly with the batch.
std::vector<std::vector<int>> Network::SavedTensorKeepers() const {
  const size_t n = boost::num_vertices(g_);
  auto owner = [&](int v) {
    while (g_[v].type == LayerType::kFlatten) v = g_[v].inputs[0];
    return v;
  };
  std::vector<std::vector<int>> keepers(n);
  auto keep = [&](int tensor, int by) {
    std::vector<int>& k = keepers[owner(tensor)];
    if (k.empty() || k.back() != by) k.push_back(by);  // vertex order: duplicates are adjacent
  };
  for (size_t v = 0; v < n; ++v) {
    const int by = static_cast<int>(v);
    switch (g_[v].type) {
      case LayerType::kConv2d:
      case LayerType::kLinear:
      case LayerType::kBatchNorm:
      case LayerType::kMaxPool:
        for (int u : g_[v].inputs) keep(u, by);
        break;
      case LayerType::kReLU:
      case LayerType::kReLU6:
      case LayerType::kSigmoid:
      case LayerType::kTanh:
      case LayerType::kSoftmax:
        keep(by, by);
        break;
      default:
        break;
    }
  }
  for (size_t v = 0; v < n; ++v)
    if (g_[v].type == LayerType::kFlatten) keepers[v].clear();
  return keepers;
}

void Network::AttributeSavedBytes(double batch) {
  const size_t n = boost::num_vertices(g_);
  const std::vector<std::vector<int>> keepers = SavedTensorKeepers();
  for (size_t v = 0; v < n; ++v) {
    Layer& l = g_[v];
    const double out_bytes = batch * static_cast<double>(l.out.elements()) * kElem;
    l.cost.output_bytes = out_bytes;
    double own = !keepers[v].empty() ? out_bytes : 0;
    const double in_elems =
        l.in_shapes.empty() ? 0 : static_cast<double>(l.in_shapes[0].elements());
    if (l.type == LayerType::kDropout) own += batch * in_elems;  // one byte of mask per element
    if (l.type == LayerType::kMaxPool)                           // int64 index of each maximum
      own += batch * static_cast<double>(l.out.elements()) * 8;
    if (l.type == LayerType::kLoss) own += batch * in_elems * kElem;  // softmax probabilities
    l.cost.saved_bytes = own;
  }
}

NetworkTotals Network::Totals() const {
  NetworkTotals t;
  for (size_t v = 0; v < boost::num_vertices(g_); ++v) {
    const LayerCost& c = g_[v].cost;
    t.params += c.params;
    t.macs_forward += c.macs_forward;
    t.flops_forward += c.flops_forward;
    t.flops_backward_data += c.flops_backward_data;
    t.flops_backward_weight += c.flops_backward_weight;
    t.weight_bytes += c.weight_bytes;
    t.saved_bytes += c.saved_bytes;
  }
  t.flops_backward = t.flops_backward_data + t.flops_backward_weight;
  return t;
}

// ---- Builder ----

int Builder::Generic(const std::string& name, LayerType type, const std::vector<int>& ins,
                     LayerParams p) {
  Layer l;
  l.name = name;
  l.type = type;
  l.p = p;
  l.inputs = ins;
  return net.Add(std::move(l));
}

int Builder::Conv(const std::string& name, int in, int64_t out_channels, int kernel, int stride,
                  int pad, int groups, bool bias, int dilation) {
  LayerParams p;
  p.out_channels = out_channels;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.groups = groups;
  p.bias = bias;
  p.dilation_h = p.dilation_w = dilation;
  return Generic(name, LayerType::kConv2d, {in}, p);
}

int Builder::ConvRect(const std::string& name, int in, int64_t out_channels, int kh, int kw, int sh,
                      int sw, int ph, int pw, bool bias) {
  LayerParams p;
  p.out_channels = out_channels;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.bias = bias;
  return Generic(name, LayerType::kConv2d, {in}, p);
}

int Builder::BatchNorm(const std::string& name, int in) {
  return Generic(name, LayerType::kBatchNorm, {in});
}
int Builder::ReLU(const std::string& name, int in) {
  return Generic(name, LayerType::kReLU, {in});
}
int Builder::ReLU6(const std::string& name, int in) {
  return Generic(name, LayerType::kReLU6, {in});
}

int Builder::MaxPool(const std::string& name, int in, int kernel, int stride, int pad,
                     bool ceil_mode) {
  LayerParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.ceil_mode = ceil_mode;
  return Generic(name, LayerType::kMaxPool, {in}, p);
}

int Builder::AvgPool(const std::string& name, int in, int kernel, int stride, int pad,
                     bool ceil_mode, bool count_include_pad) {
  LayerParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  return Generic(name, LayerType::kAvgPool, {in}, p);
}

int Builder::AdaptiveAvgPool(const std::string& name, int in, int out_h, int out_w) {
  LayerParams p;
  p.out_h = out_h;
  p.out_w = out_w;
  return Generic(name, LayerType::kAdaptiveAvgPool, {in}, p);
}

int Builder::Linear(const std::string& name, int in, int64_t out_features, bool bias) {
  LayerParams p;
  p.out_features = out_features;
  p.bias = bias;
  return Generic(name, LayerType::kLinear, {in}, p);
}

int Builder::Dropout(const std::string& name, int in, double prob) {
  LayerParams p;
  p.p = prob;
  return Generic(name, LayerType::kDropout, {in}, p);
}

int Builder::Flatten(const std::string& name, int in) {
  return Generic(name, LayerType::kFlatten, {in});
}
int Builder::Concat(const std::string& name, const std::vector<int>& ins) {
  return Generic(name, LayerType::kConcat, ins);
}
int Builder::AddLayers(const std::string& name, const std::vector<int>& ins) {
  return Generic(name, LayerType::kAdd, ins);
}
int Builder::Loss(const std::string& name, int in) {
  return Generic(name, LayerType::kLoss, {in});
}

}  // namespace convscale::graph
