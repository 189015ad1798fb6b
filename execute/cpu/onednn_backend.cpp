// oneDNN CPU backend (see onednn_backend.h). One set of primitives per layer, built on first use
// for the configured micro-batch size; tensors are plain NCHW fp32 so buffers handed to the
// communicator need no reorder.
#include "execute/cpu/onednn_backend.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <set>
#include <tuple>
#include <unordered_map>

#ifdef CONVSCALE_HAVE_OPENMP
#include <omp.h>
#endif

#include "execute/elements.h"
#include "model/plan/memory_plan.h"
#include "model/util/error.h"

namespace convscale::exec::cpu {
namespace {

using graph::LayerType;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

// Counter-based generator (splitmix64): parameter values depend only on (seed, layer name, index).
uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t HashName(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}
float Uniform01(uint64_t x) {
  return float((SplitMix(x) >> 40) * (1.0 / 16777216.0));
}

// Bytes the backend reserved, per category (the memory model's, docs/plan-format.md), for
// PeakMemoryBytes and MemoryBytes. The category of an allocation is the tracker's `category`
// when it is made.
struct Tracker {
  int64_t now = 0, peak = 0;
  std::map<std::string, int64_t> by_category;
  std::string category = "workspace";
  void Add(int64_t b) {
    now += b;
    peak = std::max(peak, now);
    by_category[category] += b;
  }
};

struct FloatBuf {
  std::vector<float> v;
  void Resize(size_t n, Tracker& t) {
    if (v.size() == n) return;
    t.Add(int64_t(n) * 4 - int64_t(v.size()) * 4);
    v.assign(n, 0.f);
  }
  void Resize(size_t n, Tracker& t, const char* category) {
    const std::string was = t.category;
    t.category = category;
    Resize(n, t);
    t.category = was;
  }
  float* data() { return v.data(); }
  size_t size() const { return v.size(); }
};

struct PerMb {
  FloatBuf mean, var;  // batch norm statistics
  FloatBuf dparams;    // batch norm: gradient of scale/shift kept from BackwardData
  std::vector<int32_t> labels;
  double loss = 0;
  int64_t correct = 0;
};

struct LayerState {
  int id = -1;
  const graph::Layer* layer = nullptr;
  size_t param_offset = 0, param_count = 0, weight_count = 0;  // floats in the arenas
  std::vector<PerMb> mb;
  bool built = false;
  // Primitives (only those the layer type uses are set).
  dnnl::primitive fwd, bwd_data, bwd_weights;
  dnnl::memory::desc src_md, dst_md, wei_md, bias_md, ws_md;
  size_t ws_bytes = 0;
  int64_t call_counter = 0;  // dropout masks
};

class OneDnnBackend final : public ComputeBackend {
 public:
  OneDnnBackend() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  std::string name() const override { return "cpu/onednn"; }
  std::string device_description() const override {
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch) + " (" + IsaName() + ThreadsNote() + ")";
  }

  void Setup(const graph::Network& net, const std::vector<int>& layers,
             const BackendConfig& config) override {
    if (config.precision != "fp32")
      throw InputError("the cpu backend computes in fp32 only, not " + config.precision +
                       " (plan with --precision fp32, or run on GPUs with --backend cuda)");
#ifdef CONVSCALE_HAVE_OPENMP
    // oneDNN runs its parallel regions on OpenMP, from this (the compute) thread. OpenMP reads
    // OMP_NUM_THREADS once, when the runtime loads, so the count is set on the runtime itself;
    // it takes precedence over OMP_NUM_THREADS. Without either, OpenMP starts one thread per CPU
    // the process may run on: every CPU of the node for a rank no launcher bound (docs/slurm.md).
    if (config.threads > 0) omp_set_num_threads(config.threads);
#else
    if (config.threads > 0)
      throw InputError("--threads " + std::to_string(config.threads) +
                       ": this convscale was built without OpenMP, so it cannot set oneDNN's "
                       "thread count; set OMP_NUM_THREADS instead");
#endif
    net_ = &net;
    cfg_ = config;
    n_ = config.micro_batch;
    scale_ = 1.0 / double(n_);
    states_.assign(net.size(), LayerState{});
    for (size_t v = 0; v < net.size(); ++v) {
      states_[v].id = int(v);
      states_[v].layer = &net.layer(int(v));
      states_[v].mb.resize(std::max(1, config.micro_batches));
    }
    // Parameter arena: every given layer with parameters, in forward (vertex) order.
    std::vector<int> sorted = layers;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    size_t total = 0;
    for (int v : sorted) {
      if (v < 0 || v >= int(net.size()))
        throw InputError("layer id " + std::to_string(v) + " is not in model " + net.name());
      CheckSupported(net.layer(v));
      auto [w, b] = ParamCounts(net.layer(v));
      states_[v].param_offset = total;
      states_[v].weight_count = w;
      states_[v].param_count = w + b;
      total += w + b;
    }
    params_.Resize(total, tracker_, "weights");
    grads_.Resize(total, tracker_, "gradients");
    // Optimizer state is reserved by the first Update: a parameter-server worker, whose servers
    // step, holds none.
    if (cfg_.optimizer.kind != "adam" && cfg_.optimizer.kind != "sgd")
      throw InputError("optimizer \"" + cfg_.optimizer.kind + "\" is not one of sgd, adam");
    param_total_ = total;
    // Activations, their gradients and saved tensors: one arena laid out by the memory plan.
    plan_ = config.memory;
    owner_.resize(net.size());
    for (size_t v = 0; v < net.size(); ++v) {
      int o = int(v);
      while (net.layer(o).type == LayerType::kFlatten && !net.layer(o).inputs.empty())
        o = net.layer(o).inputs[0];
      owner_[v] = o;
    }
    dout_fresh_.assign(net.size(), std::vector<char>(size_t(std::max(1, config.micro_batches)), 1));
    if (plan_) arena_.Resize(size_t(plan_->arena_bytes + 3) / 4, tracker_, "activations");
    steps_.assign(net.size(), 0);
    for (int v : sorted) InitParams(states_[v]);
  }

  void SetInput(int mb, const float* images, const int32_t* labels, int64_t samples) override {
    if (samples != n_)
      throw RuntimeError("micro-batch " + std::to_string(mb) + " has " + std::to_string(samples) +
                         " samples; the backend was set up for " + std::to_string(n_));
    if (images) std::memcpy(Out(0, mb), images, OutCount(states_[0]) * 4);
    if (labels) {
      labels_.resize(std::max<size_t>(labels_.size(), size_t(mb + 1)));
      labels_[mb].assign(labels, labels + samples);
    }
  }
  void SetGradientScale(double scale) override {
    scale_ = scale;
  }

  void Forward(int layer, int mb) override {
    LayerState& s = State(layer);
    PerMb& m = Mb(layer, mb);
    // This micro-batch's output gradient starts over: its first writer overwrites (AddToInput).
    // The same for a producer this rank does not compute (a stage boundary).
    Fresh(layer, mb) = 1;
    for (int in : s.layer->inputs)
      if (!owned_forward_.count(in)) Fresh(in, mb) = 1;
    owned_forward_.insert(layer);
    float* y = Out(layer, mb);
    const size_t out_count = OutCount(s);
    Build(s);
    const graph::Layer& L = *s.layer;
    switch (L.type) {
      case LayerType::kInput:
        break;  // SetInput filled it
      case LayerType::kConv2d:
      case LayerType::kLinear: {
        unordered_args a = {{DNNL_ARG_SRC, Mem(s.src_md, In(s, mb, 0))},
                            {DNNL_ARG_WEIGHTS, Mem(s.wei_md, Param(s))},
                            {DNNL_ARG_DST, Mem(s.dst_md, y)}};
        if (L.p.bias) a[DNNL_ARG_BIAS] = Mem(s.bias_md, Param(s) + s.weight_count);
        Run(s.fwd, a);
        break;
      }
      case LayerType::kBatchNorm: {
        const int64_t c = L.out.c;
        m.mean.Resize(size_t(c), tracker_);
        m.var.Resize(size_t(c), tracker_);
        dnnl::memory::desc cmd({c}, dt::f32, tag::a);
        dnnl::memory::desc ssmd({2, c}, dt::f32, tag::nc);
        Run(s.fwd, {{DNNL_ARG_SRC, Mem(s.src_md, In(s, mb, 0))},
                    {DNNL_ARG_DST, Mem(s.dst_md, y)},
                    {DNNL_ARG_SCALE_SHIFT, Mem(ssmd, Param(s))},
                    {DNNL_ARG_MEAN, Mem(cmd, m.mean.data())},
                    {DNNL_ARG_VARIANCE, Mem(cmd, m.var.data())}});
        break;
      }
      case LayerType::kReLU:
      case LayerType::kReLU6:
      case LayerType::kSigmoid:
      case LayerType::kTanh:
        Run(s.fwd, {{DNNL_ARG_SRC, Mem(s.src_md, In(s, mb, 0))}, {DNNL_ARG_DST, Mem(s.dst_md, y)}});
        break;
      case LayerType::kMaxPool:
      case LayerType::kAvgPool:
      case LayerType::kAdaptiveAvgPool: {
        unordered_args a = {{DNNL_ARG_SRC, Mem(s.src_md, In(s, mb, 0))},
                            {DNNL_ARG_DST, Mem(s.dst_md, y)}};
        if (s.ws_bytes) a[DNNL_ARG_WORKSPACE] = Mem(s.ws_md, Saved(layer, mb, s.ws_bytes));
        Run(s.fwd, a);
        break;
      }
      case LayerType::kFlatten:
        if (y != In(s, mb, 0)) std::memcpy(y, In(s, mb, 0), out_count * 4);  // a view: no copy
        break;
      case LayerType::kDropout: {
        const float p = float(L.p.p), keep = 1.f - p;
        // The mask: one byte per element (kept or dropped); kept elements scale by 1 / keep.
        uint8_t* mask = static_cast<uint8_t*>(Saved(layer, mb, out_count));
        const uint64_t base =
            SplitMix(cfg_.seed ^ HashName(L.name) ^ uint64_t(s.call_counter++) * 0x100000001ULL);
        const float* x = In(s, mb, 0);
        for (size_t i = 0; i < out_count; ++i) {
          mask[i] = Uniform01(base + i) < p ? 0 : 1;
          y[i] = mask[i] ? x[i] / keep : 0.f;
        }
        break;
      }
      case LayerType::kConcat: {
        const int64_t hw = L.out.h * L.out.w;
        int64_t off = 0;
        for (size_t k = 0; k < L.inputs.size(); ++k) {
          const int64_t ck = L.in_shapes[k].c;
          const float* x = In(s, mb, int(k));
          for (int64_t n = 0; n < n_; ++n)
            std::memcpy(y + (n * L.out.c + off) * hw, x + n * ck * hw, size_t(ck * hw) * 4);
          off += ck;
        }
        break;
      }
      case LayerType::kAdd: {
        std::memcpy(y, In(s, mb, 0), out_count * 4);
        for (size_t k = 1; k < L.inputs.size(); ++k) {
          const float* x = In(s, mb, int(k));
          for (size_t i = 0; i < out_count; ++i) y[i] += x[i];
        }
        break;
      }
      case LayerType::kSoftmax:
        SoftmaxRows(In(s, mb, 0), y, s);
        break;
      case LayerType::kLoss:
        LossForward(s, mb);
        break;
    }
  }

  void BackwardData(int layer, int mb) override {
    LayerState& s = State(layer);
    PerMb& m = Mb(layer, mb);
    const graph::Layer& L = *s.layer;
    float* dy = L.type == LayerType::kLoss ? nullptr : Dout(layer, mb);
    const size_t out_count = OutCount(s);
    auto wants = [&](int k) {
      const int in = L.inputs[size_t(k)];
      return in != 0 && net_->layer(in).type != LayerType::kInput;
    };
    switch (L.type) {
      case LayerType::kInput:
        break;
      case LayerType::kConv2d:
      case LayerType::kLinear: {
        if (!wants(0)) break;
        std::vector<float>& tmp = Scratch(InCount(s, 0));
        Run(s.bwd_data, {{DNNL_ARG_DIFF_DST, Mem(s.dst_md, dy)},
                         {DNNL_ARG_WEIGHTS, Mem(s.wei_md, Param(s))},
                         {DNNL_ARG_DIFF_SRC, Mem(s.src_md, tmp.data())}});
        AddToInput(s, mb, 0, tmp.data());
        break;
      }
      case LayerType::kBatchNorm: {
        const int64_t c = L.out.c;
        m.dparams.Resize(size_t(2 * c), tracker_);
        std::vector<float>& tmp = Scratch(InCount(s, 0));
        dnnl::memory::desc cmd({c}, dt::f32, tag::a);
        dnnl::memory::desc ssmd({2, c}, dt::f32, tag::nc);
        Run(s.bwd_data, {{DNNL_ARG_SRC, Mem(s.src_md, In(s, mb, 0))},
                         {DNNL_ARG_MEAN, Mem(cmd, m.mean.data())},
                         {DNNL_ARG_VARIANCE, Mem(cmd, m.var.data())},
                         {DNNL_ARG_DIFF_DST, Mem(s.dst_md, dy)},
                         {DNNL_ARG_SCALE_SHIFT, Mem(ssmd, Param(s))},
                         {DNNL_ARG_DIFF_SRC, Mem(s.src_md, tmp.data())},
                         {DNNL_ARG_DIFF_SCALE_SHIFT, Mem(ssmd, m.dparams.data())}});
        if (wants(0)) AddToInput(s, mb, 0, tmp.data());
        break;
      }
      case LayerType::kReLU:
      case LayerType::kReLU6:
      case LayerType::kSigmoid:
      case LayerType::kTanh: {
        if (!wants(0)) break;
        std::vector<float>& tmp = Scratch(InCount(s, 0));
        Run(s.bwd_data, {{DNNL_ARG_DST, Mem(s.dst_md, Out(layer, mb))},
                         {DNNL_ARG_DIFF_DST, Mem(s.dst_md, dy)},
                         {DNNL_ARG_DIFF_SRC, Mem(s.src_md, tmp.data())}});
        AddToInput(s, mb, 0, tmp.data());
        break;
      }
      case LayerType::kMaxPool:
      case LayerType::kAvgPool:
      case LayerType::kAdaptiveAvgPool: {
        if (!wants(0)) break;
        std::vector<float>& tmp = Scratch(InCount(s, 0));
        unordered_args a = {{DNNL_ARG_DIFF_DST, Mem(s.dst_md, dy)},
                            {DNNL_ARG_DIFF_SRC, Mem(s.src_md, tmp.data())}};
        if (s.ws_bytes) a[DNNL_ARG_WORKSPACE] = Mem(s.ws_md, Saved(layer, mb, s.ws_bytes));
        Run(s.bwd_data, a);
        AddToInput(s, mb, 0, tmp.data());
        break;
      }
      case LayerType::kFlatten:
        if (wants(0)) AddToInput(s, mb, 0, dy);
        break;
      case LayerType::kDropout: {
        if (!wants(0)) break;
        std::vector<float>& tmp = Scratch(out_count);
        const uint8_t* mask = static_cast<const uint8_t*>(Saved(layer, mb, out_count));
        const float keep = 1.f - float(L.p.p);
        for (size_t i = 0; i < tmp.size(); ++i) tmp[i] = mask[i] ? dy[i] / keep : 0.f;
        AddToInput(s, mb, 0, tmp.data());
        break;
      }
      case LayerType::kConcat: {
        const int64_t hw = L.out.h * L.out.w;
        int64_t off = 0;
        for (size_t k = 0; k < L.inputs.size(); ++k) {
          const int64_t ck = L.in_shapes[k].c;
          if (wants(int(k))) {
            std::vector<float>& tmp = Scratch(size_t(n_ * ck * hw));
            for (int64_t n = 0; n < n_; ++n)
              std::memcpy(tmp.data() + n * ck * hw, dy + (n * L.out.c + off) * hw,
                          size_t(ck * hw) * 4);
            AddToInput(s, mb, int(k), tmp.data());
          }
          off += ck;
        }
        break;
      }
      case LayerType::kAdd:
        for (size_t k = 0; k < L.inputs.size(); ++k)
          if (wants(int(k))) AddToInput(s, mb, int(k), dy);
        break;
      case LayerType::kSoftmax: {
        if (!wants(0)) break;
        std::vector<float>& tmp = Scratch(out_count);
        const float* y = Out(layer, mb);
        const int64_t c = L.out.c, hw = L.out.h * L.out.w;
        for (int64_t n = 0; n < n_; ++n)
          for (int64_t p = 0; p < hw; ++p) {
            double dot = 0;
            for (int64_t k = 0; k < c; ++k) {
              const size_t i = size_t((n * c + k) * hw + p);
              dot += double(dy[i]) * y[i];
            }
            for (int64_t k = 0; k < c; ++k) {
              const size_t i = size_t((n * c + k) * hw + p);
              tmp[i] = float(y[i] * (dy[i] - dot));
            }
          }
        AddToInput(s, mb, 0, tmp.data());
        break;
      }
      case LayerType::kLoss: {
        if (!wants(0)) break;
        const int64_t k = L.in_shapes[0].elements();
        std::vector<float>& tmp = Scratch(size_t(n_ * k));
        const std::vector<int32_t>& lab = Labels(mb);
        const float* prob = static_cast<const float*>(Saved(layer, mb, size_t(n_ * k) * 4));
        for (int64_t n = 0; n < n_; ++n)
          for (int64_t j = 0; j < k; ++j) {
            const size_t i = size_t(n * k + j);
            tmp[i] = float((prob[i] - (j == lab[size_t(n)] ? 1.0 : 0.0)) * scale_);
          }
        AddToInput(s, mb, 0, tmp.data());
        break;
      }
    }
  }

  void BackwardWeight(int layer, int mb) override {
    LayerState& s = State(layer);
    if (!s.param_count) return;
    PerMb& m = Mb(layer, mb);
    float* dy = Dout(layer, mb);
    float* g = grads_.data() + s.param_offset;
    const graph::Layer& L = *s.layer;
    if (L.type == LayerType::kBatchNorm) {
      for (size_t i = 0; i < s.param_count; ++i) g[i] += m.dparams.v[i];
      return;
    }
    std::vector<float>& tmp = Scratch(s.param_count);
    unordered_args a = {{DNNL_ARG_SRC, Mem(s.src_md, In(s, mb, 0))},
                        {DNNL_ARG_DIFF_DST, Mem(s.dst_md, dy)},
                        {DNNL_ARG_DIFF_WEIGHTS, Mem(s.wei_md, tmp.data())}};
    if (L.p.bias) a[DNNL_ARG_DIFF_BIAS] = Mem(s.bias_md, tmp.data() + s.weight_count);
    Run(s.bwd_weights, a);
    for (size_t i = 0; i < s.param_count; ++i) g[i] += tmp[i];
  }

  void Update(const std::vector<int>& layers) override {
    for (int v : layers) Step(v, 0, int64_t(State(v).param_count));
  }

  void UpdateSlice(int layer, int64_t offset, int64_t elements) override {
    Step(layer, offset, elements);
  }

  // One optimizer step on elements [first, first + count) of `layer`'s parameters.
  void Step(int layer, int64_t first, int64_t count) {
    const OptimizerConfig& o = cfg_.optimizer;
    if (opt1_.size() != param_total_) {
      opt1_.Resize(param_total_, tracker_, "optimizer");
      if (o.kind == "adam") opt2_.Resize(param_total_, tracker_, "optimizer");
    }
    LayerState& s = State(layer);
    if (!s.param_count) return;
    const size_t at = s.param_offset + size_t(first);
    float* w = params_.data() + at;
    float* g = grads_.data() + at;
    float* m1 = opt1_.data() + at;
    const double wd = o.weight_decay;
    const auto n = size_t(count);
    if (o.kind == "adam") {
      float* m2 = opt2_.data() + at;
      const int t = ++steps_[size_t(layer)];
      const double c1 = 1 - std::pow(o.beta1, t), c2 = 1 - std::pow(o.beta2, t);
      for (size_t i = 0; i < n; ++i) {
        const double gi = g[i] + wd * w[i];
        m1[i] = float(o.beta1 * m1[i] + (1 - o.beta1) * gi);
        m2[i] = float(o.beta2 * m2[i] + (1 - o.beta2) * gi * gi);
        w[i] -= float(o.learning_rate * (m1[i] / c1) / (std::sqrt(m2[i] / c2) + o.epsilon));
        g[i] = 0;
      }
    } else {
      for (size_t i = 0; i < n; ++i) {
        m1[i] = float(o.momentum * m1[i] + g[i] + wd * w[i]);
        w[i] -= float(o.learning_rate * m1[i]);
        g[i] = 0;
      }
    }
  }

  void ZeroGradients(const std::vector<int>& layers) override {
    for (int v : layers) {
      LayerState& s = State(v);
      std::fill_n(grads_.data() + s.param_offset, s.param_count, 0.f);
    }
  }

  double Loss(int mb) override {
    return Mb(LossLayer(), mb).loss;
  }
  int64_t Correct(int mb) override {
    return Mb(LossLayer(), mb).correct;
  }

  Buffer Parameters(int layer) override {
    LayerState& s = State(layer);
    if (!s.param_count) return {};
    return {params_.data() + s.param_offset, s.param_count * 4, MemoryKind::kHost};
  }
  Buffer Gradients(int layer) override {
    LayerState& s = State(layer);
    if (!s.param_count) return {};
    return {grads_.data() + s.param_offset, s.param_count * 4, MemoryKind::kHost};
  }
  Buffer Activation(int layer, int mb) override {
    return {Out(layer, mb), OutCount(State(layer)) * 4, MemoryKind::kHost};
  }
  Buffer ActivationGrad(int layer, int mb) override {
    // Communication accumulates into it or sends it: a gradient nobody wrote yet is zero.
    float* dy = Dout(layer, mb);
    if (Fresh(layer, mb)) {
      std::fill_n(dy, OutCount(State(layer)), 0.f);
      Fresh(layer, mb) = 0;
    }
    return {dy, OutCount(State(layer)) * 4, MemoryKind::kHost};
  }

  Buffer Allocate(size_t bytes) override {
    staging_.emplace_back((bytes + 3) / 4, 0.f);
    tracker_.category = "buffers";
    tracker_.Add(int64_t(staging_.back().size()) * 4);
    tracker_.category = "workspace";
    return {staging_.back().data(), bytes, MemoryKind::kHost};
  }
  void Copy(Buffer dst, Buffer src) override {
    if (dst.bytes != src.bytes)
      throw RuntimeError("copy of " + std::to_string(src.bytes) + " bytes into a buffer of " +
                         std::to_string(dst.bytes));
    if (dst.data != src.data) std::memmove(dst.data, src.data, src.bytes);
  }
  void Accumulate(Buffer dst, Buffer src, DataType type) override {
    if (dst.bytes != src.bytes || type != DataType::kF32)
      throw RuntimeError("accumulate needs two fp32 buffers of the same size");
    float* d = static_cast<float*>(dst.data);
    const float* s = static_cast<const float*>(src.data);
    for (size_t i = 0; i < dst.bytes / 4; ++i) d[i] += s[i];
  }
  void Cast(Buffer dst, DataType to, Buffer src, DataType from) override {
    CastElements(dst.data, to, src.data, from, src.bytes / size_t(SizeOf(from)));
  }
  void Synchronize() override {}
  int64_t PeakMemoryBytes() const override {
    return tracker_.peak;
  }
  std::map<std::string, int64_t> MemoryBytes() const override {
    return tracker_.by_category;
  }
  int64_t ProcessMemoryBytes() const override {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return int64_t(ru.ru_maxrss) * 1024;
  }

 private:
  using unordered_args = std::unordered_map<int, dnnl::memory>;

  // ", N threads": the compute threads oneDNN's parallel regions use (OpenMP builds).
  static std::string ThreadsNote() {
#ifdef CONVSCALE_HAVE_OPENMP
    const int n = omp_get_max_threads();
    return ", " + std::to_string(n) + (n == 1 ? " thread" : " threads");
#else
    return "";
#endif
  }
  static std::string IsaName() {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core:
        return "avx512_core";
      case dnnl::cpu_isa::avx512_core_vnni:
        return "avx512_core_vnni";
      case dnnl::cpu_isa::avx512_core_bf16:
        return "avx512_core_bf16";
      case dnnl::cpu_isa::avx2:
        return "avx2";
      case dnnl::cpu_isa::sse41:
        return "sse41";
      default:
        return "cpu";
    }
  }

  static std::pair<size_t, size_t> ParamCounts(const graph::Layer& L) {
    switch (L.type) {
      case LayerType::kConv2d: {
        const int64_t w = L.out.c * (L.in_shapes[0].c / L.p.groups) * L.p.kernel_h * L.p.kernel_w;
        return {size_t(w), L.p.bias ? size_t(L.out.c) : 0};
      }
      case LayerType::kLinear:
        return {size_t(L.out.c * L.in_shapes[0].elements()), L.p.bias ? size_t(L.out.c) : 0};
      case LayerType::kBatchNorm:
        return {size_t(L.out.c), size_t(L.out.c)};
      default:
        return {0, 0};
    }
  }

  void CheckSupported(const graph::Layer& L) const {
    if (L.type == LayerType::kAdaptiveAvgPool &&
        (L.in_shapes[0].h % L.p.out_h || L.in_shapes[0].w % L.p.out_w))
      throw InputError("layer \"" + L.name + "\": adaptive_avg_pool from " +
                       graph::ToString(L.in_shapes[0]) + " to " + std::to_string(L.p.out_h) + "x" +
                       std::to_string(L.p.out_w) +
                       " needs the input size to be a multiple of the output size on the CPU "
                       "backend");
    auto [w, b] = ParamCounts(L);
    if (int64_t(w + b) != L.cost.params)
      throw RuntimeError("layer \"" + L.name + "\": the backend counts " + std::to_string(w + b) +
                         " parameters, the model " + std::to_string(L.cost.params));
  }

  // Kaiming-uniform weights (bound sqrt(6 / fan_in)), zero biases; batch norm scale 1, shift 0.
  void InitParams(LayerState& s) {
    const graph::Layer& L = *s.layer;
    float* w = params_.data() + s.param_offset;
    const uint64_t base = SplitMix(cfg_.seed ^ HashName(L.name));
    if (L.type == LayerType::kBatchNorm) {
      std::fill_n(w, s.weight_count, 1.f);
      std::fill_n(w + s.weight_count, s.param_count - s.weight_count, 0.f);
      return;
    }
    const double fan_in = double(s.weight_count) / double(L.out.c);
    const double bound = std::sqrt(6.0 / fan_in);
    for (size_t i = 0; i < s.weight_count; ++i)
      w[i] = float((2.0 * Uniform01(base + i) - 1.0) * bound);
    std::fill_n(w + s.weight_count, s.param_count - s.weight_count, 0.f);
  }

  LayerState& State(int layer) {
    if (layer < 0 || layer >= int(states_.size()))
      throw RuntimeError("layer id " + std::to_string(layer) + " out of range");
    return states_[size_t(layer)];
  }
  PerMb& Mb(int layer, int mb) {
    LayerState& s = State(layer);
    if (mb < 0) throw RuntimeError("negative micro-batch");
    if (size_t(mb) >= s.mb.size()) s.mb.resize(size_t(mb) + 1);
    return s.mb[size_t(mb)];
  }
  size_t OutCount(const LayerState& s) const {
    return size_t(n_ * (s.id == 0 ? net_->input_shape().elements() : s.layer->out.elements()));
  }
  size_t InCount(const LayerState& s, int k) const {
    return size_t(n_ * s.layer->in_shapes[size_t(k)].elements());
  }
  float* In(LayerState& s, int mb, int k) {
    return Out(s.layer->inputs[size_t(k)], mb);
  }

  // Activation storage. A tensor the memory plan (BackendConfig::memory) names lives at its
  // offset in the arena; any other (no plan, as `profile` runs layers) in a buffer of its own.
  void* Tensor(int layer, int mb, plan::TensorKind kind, size_t bytes) {
    if (plan_)
      if (const plan::PlannedTensor* t = plan_->Find(layer, mb, kind);
          t && size_t(t->bytes) >= bytes)
        return reinterpret_cast<char*>(arena_.data()) + t->offset;
    FloatBuf& f = own_[{owner_[size_t(layer)], mb, int(kind)}];
    if (f.size() * 4 < bytes) f.Resize((bytes + 3) / 4, tracker_, "activations");
    return f.data();
  }
  float* Out(int layer, int mb) {
    return static_cast<float*>(
        Tensor(layer, mb, plan::TensorKind::kOutput, OutCount(State(layer)) * 4));
  }
  float* Dout(int layer, int mb) {
    return static_cast<float*>(
        Tensor(layer, mb, plan::TensorKind::kOutputGrad, OutCount(State(layer)) * 4));
  }
  void* Saved(int layer, int mb, size_t bytes) {
    return Tensor(layer, mb, plan::TensorKind::kSaved, bytes);
  }
  // Whether the output gradient of (the owner of) `layer` for `mb` has had no writer since the
  // layer's forward.
  char& Fresh(int layer, int mb) {
    std::vector<char>& f = dout_fresh_[size_t(owner_[size_t(layer)])];
    if (size_t(mb) >= f.size()) f.resize(size_t(mb) + 1, 1);
    return f[size_t(mb)];
  }
  float* Param(LayerState& s) {
    return params_.data() + s.param_offset;
  }
  void AddToInput(LayerState& s, int mb, int k, const float* g) {
    const int in = s.layer->inputs[size_t(k)];
    float* d = Dout(in, mb);
    if (d == g) return;  // a view's gradient is its input's
    const size_t count = OutCount(states_[size_t(in)]);
    if (Fresh(in, mb)) {
      std::memcpy(d, g, count * 4);
      Fresh(in, mb) = 0;
    } else {
      for (size_t i = 0; i < count; ++i) d[i] += g[i];
    }
  }
  // One scratch vector of exactly n floats (reused; valid until the next call).
  std::vector<float>& Scratch(size_t n) {
    if (scratch_.capacity() < n) tracker_.Add(int64_t(n - scratch_.capacity()) * 4);  // workspace
    scratch_.resize(n);
    return scratch_;
  }
  const std::vector<int32_t>& Labels(int mb) {
    if (size_t(mb) >= labels_.size() || labels_[size_t(mb)].size() != size_t(n_))
      throw RuntimeError("no labels were given for micro-batch " + std::to_string(mb));
    return labels_[size_t(mb)];
  }
  int LossLayer() const {
    for (const LayerState& s : states_)
      if (s.layer && s.layer->type == LayerType::kLoss) return s.id;
    throw RuntimeError("the model has no loss layer");
  }

  dnnl::memory Mem(const dnnl::memory::desc& md, const void* p) {
    return dnnl::memory(md, engine_, const_cast<void*>(p));
  }
  void Run(dnnl::primitive& p, const unordered_args& args) {
    p.execute(stream_, args);
    stream_.wait();
  }

  static dnnl::memory::desc Md4(int64_t n, const graph::Shape& s) {
    return dnnl::memory::desc({n, s.c, s.h, s.w}, dt::f32, tag::nchw);
  }

  void Build(LayerState& s) {
    if (s.built) return;
    s.built = true;
    const graph::Layer& L = *s.layer;
    if (L.type == LayerType::kInput) return;
    const auto train = dnnl::prop_kind::forward_training;
    try {
      switch (L.type) {
        case LayerType::kConv2d: {
          s.src_md = Md4(n_, L.in_shapes[0]);
          s.dst_md = Md4(n_, L.out);
          const int64_t g = L.p.groups, ic = L.in_shapes[0].c, oc = L.out.c;
          s.wei_md =
              g == 1 ? dnnl::memory::desc({oc, ic, L.p.kernel_h, L.p.kernel_w}, dt::f32, tag::oihw)
                     : dnnl::memory::desc({g, oc / g, ic / g, L.p.kernel_h, L.p.kernel_w}, dt::f32,
                                          tag::goihw);
          s.bias_md = dnnl::memory::desc({oc}, dt::f32, tag::a);
          const dims strides = {L.p.stride_h, L.p.stride_w};
          const dims dil = {L.p.dilation_h - 1, L.p.dilation_w - 1};
          const dims pl = {L.p.pad_h, L.p.pad_w};
          const dims pr = {(L.out.h - 1) * L.p.stride_h + (L.p.kernel_h - 1) * L.p.dilation_h + 1 -
                               L.in_shapes[0].h - L.p.pad_h,
                           (L.out.w - 1) * L.p.stride_w + (L.p.kernel_w - 1) * L.p.dilation_w + 1 -
                               L.in_shapes[0].w - L.p.pad_w};
          const auto alg = dnnl::algorithm::convolution_direct;
          auto fd = L.p.bias
                        ? dnnl::convolution_forward::desc(train, alg, s.src_md, s.wei_md, s.bias_md,
                                                          s.dst_md, strides, dil, pl, pr)
                        : dnnl::convolution_forward::desc(train, alg, s.src_md, s.wei_md, s.dst_md,
                                                          strides, dil, pl, pr);
          dnnl::convolution_forward::primitive_desc fpd(fd, engine_);
          s.fwd = dnnl::convolution_forward(fpd);
          dnnl::convolution_backward_data::desc bd(alg, s.src_md, s.wei_md, s.dst_md, strides, dil,
                                                   pl, pr);
          s.bwd_data = dnnl::convolution_backward_data(
              dnnl::convolution_backward_data::primitive_desc(bd, engine_, fpd));
          auto wd = L.p.bias
                        ? dnnl::convolution_backward_weights::desc(
                              alg, s.src_md, s.wei_md, s.bias_md, s.dst_md, strides, dil, pl, pr)
                        : dnnl::convolution_backward_weights::desc(alg, s.src_md, s.wei_md,
                                                                   s.dst_md, strides, dil, pl, pr);
          s.bwd_weights = dnnl::convolution_backward_weights(
              dnnl::convolution_backward_weights::primitive_desc(wd, engine_, fpd));
          break;
        }
        case LayerType::kLinear: {
          const int64_t k = L.in_shapes[0].elements(), o = L.out.c;
          s.src_md = dnnl::memory::desc({n_, k}, dt::f32, tag::nc);
          s.dst_md = dnnl::memory::desc({n_, o}, dt::f32, tag::nc);
          s.wei_md = dnnl::memory::desc({o, k}, dt::f32, tag::oi);
          s.bias_md = dnnl::memory::desc({o}, dt::f32, tag::a);
          auto fd = L.p.bias
                        ? dnnl::inner_product_forward::desc(train, s.src_md, s.wei_md, s.bias_md,
                                                            s.dst_md)
                        : dnnl::inner_product_forward::desc(train, s.src_md, s.wei_md, s.dst_md);
          dnnl::inner_product_forward::primitive_desc fpd(fd, engine_);
          s.fwd = dnnl::inner_product_forward(fpd);
          dnnl::inner_product_backward_data::desc bd(s.src_md, s.wei_md, s.dst_md);
          s.bwd_data = dnnl::inner_product_backward_data(
              dnnl::inner_product_backward_data::primitive_desc(bd, engine_, fpd));
          auto wd = L.p.bias
                        ? dnnl::inner_product_backward_weights::desc(s.src_md, s.wei_md, s.bias_md,
                                                                     s.dst_md)
                        : dnnl::inner_product_backward_weights::desc(s.src_md, s.wei_md, s.dst_md);
          s.bwd_weights = dnnl::inner_product_backward_weights(
              dnnl::inner_product_backward_weights::primitive_desc(wd, engine_, fpd));
          break;
        }
        case LayerType::kBatchNorm: {
          s.src_md = Md4(n_, L.in_shapes[0]);
          s.dst_md = s.src_md;
          const auto flags = dnnl::normalization_flags::use_scale_shift;
          dnnl::batch_normalization_forward::desc fd(train, s.src_md, 1e-5f, flags);
          dnnl::batch_normalization_forward::primitive_desc fpd(fd, engine_);
          s.fwd = dnnl::batch_normalization_forward(fpd);
          dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, s.src_md, s.src_md,
                                                      1e-5f, flags);
          s.bwd_data = dnnl::batch_normalization_backward(
              dnnl::batch_normalization_backward::primitive_desc(bd, engine_, fpd));
          break;
        }
        case LayerType::kReLU:
        case LayerType::kReLU6:
        case LayerType::kSigmoid:
        case LayerType::kTanh: {
          s.src_md = dnnl::memory::desc({dnnl::memory::dim(InCount(s, 0))}, dt::f32, tag::a);
          s.dst_md = s.src_md;
          // Backward from the output (the memory plan keeps the output of these layers, not
          // their input).
          dnnl::algorithm alg = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
          float alpha = 0, beta = 0;
          if (L.type == LayerType::kReLU6) {
            alg = dnnl::algorithm::eltwise_clip_v2_use_dst_for_bwd;
            beta = 6;
          } else if (L.type == LayerType::kSigmoid) {
            alg = dnnl::algorithm::eltwise_logistic_use_dst_for_bwd;
          } else if (L.type == LayerType::kTanh) {
            alg = dnnl::algorithm::eltwise_tanh_use_dst_for_bwd;
          }
          dnnl::eltwise_forward::desc fd(train, alg, s.src_md, alpha, beta);
          dnnl::eltwise_forward::primitive_desc fpd(fd, engine_);
          s.fwd = dnnl::eltwise_forward(fpd);
          dnnl::eltwise_backward::desc bd(alg, s.src_md, s.src_md, alpha, beta);
          s.bwd_data =
              dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(bd, engine_, fpd));
          break;
        }
        case LayerType::kMaxPool:
        case LayerType::kAvgPool:
        case LayerType::kAdaptiveAvgPool: {
          s.src_md = Md4(n_, L.in_shapes[0]);
          s.dst_md = Md4(n_, L.out);
          int kh = L.p.kernel_h, kw = L.p.kernel_w, sh = L.p.stride_h, sw = L.p.stride_w;
          int ph = L.p.pad_h, pw = L.p.pad_w;
          dnnl::algorithm alg = dnnl::algorithm::pooling_max;
          if (L.type == LayerType::kAdaptiveAvgPool) {
            sh = kh = int(L.in_shapes[0].h / L.out.h);
            sw = kw = int(L.in_shapes[0].w / L.out.w);
            ph = pw = 0;
            alg = dnnl::algorithm::pooling_avg_exclude_padding;
          } else if (L.type == LayerType::kAvgPool) {
            alg = L.p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                        : dnnl::algorithm::pooling_avg_exclude_padding;
          }
          const dims pl = {ph, pw};
          const dims pr = {(L.out.h - 1) * sh + kh - L.in_shapes[0].h - ph,
                           (L.out.w - 1) * sw + kw - L.in_shapes[0].w - pw};
          dnnl::pooling_forward::desc fd(train, alg, s.src_md, s.dst_md, {sh, sw}, {kh, kw}, pl,
                                         pr);
          dnnl::pooling_forward::primitive_desc fpd(fd, engine_);
          s.fwd = dnnl::pooling_forward(fpd);
          s.ws_md = fpd.workspace_desc();
          s.ws_bytes = s.ws_md.get_size();
          dnnl::pooling_backward::desc bd(alg, s.src_md, s.dst_md, {sh, sw}, {kh, kw}, pl, pr);
          s.bwd_data =
              dnnl::pooling_backward(dnnl::pooling_backward::primitive_desc(bd, engine_, fpd));
          break;
        }
        default:
          break;  // plain loops
      }
    } catch (const dnnl::error& e) {
      throw RuntimeError("oneDNN could not create the primitives of layer \"" + L.name + "\" (" +
                         std::string(graph::LayerTypeName(L.type)) + "): " + e.what());
    }
  }

  void SoftmaxRows(const float* x, float* y, const LayerState& s) {
    const int64_t c = s.layer->out.c, hw = s.layer->out.h * s.layer->out.w;
    for (int64_t n = 0; n < n_; ++n)
      for (int64_t p = 0; p < hw; ++p) {
        float mx = -INFINITY;
        for (int64_t k = 0; k < c; ++k) mx = std::max(mx, x[(n * c + k) * hw + p]);
        double sum = 0;
        for (int64_t k = 0; k < c; ++k) sum += std::exp(double(x[(n * c + k) * hw + p] - mx));
        for (int64_t k = 0; k < c; ++k)
          y[(n * c + k) * hw + p] = float(std::exp(double(x[(n * c + k) * hw + p] - mx)) / sum);
      }
  }

  void LossForward(LayerState& s, int mb) {
    PerMb& m = Mb(s.id, mb);
    const int64_t k = s.layer->in_shapes[0].elements();
    float* prob = static_cast<float*>(Saved(s.id, mb, size_t(n_ * k) * 4));
    const float* x = In(s, mb, 0);
    const std::vector<int32_t>& lab = Labels(mb);
    double total = 0;
    int64_t correct = 0;
    for (int64_t n = 0; n < n_; ++n) {
      const float* row = x + n * k;
      float* p = prob + n * k;
      const float mx = *std::max_element(row, row + k);
      double sum = 0;
      for (int64_t j = 0; j < k; ++j) sum += std::exp(double(row[j] - mx));
      for (int64_t j = 0; j < k; ++j) p[j] = float(std::exp(double(row[j] - mx)) / sum);
      const int32_t y = lab[size_t(n)];
      if (y < 0 || y >= k)
        throw RuntimeError("label " + std::to_string(y) + " is outside 0.." +
                           std::to_string(k - 1));
      total += -(double(row[y] - mx) - std::log(sum));
      if (std::max_element(row, row + k) - row == y) ++correct;
    }
    m.loss = total / double(n_);
    m.correct = correct;
    Out(s.id, mb)[0] = float(m.loss);
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  const graph::Network* net_ = nullptr;
  BackendConfig cfg_;
  int64_t n_ = 1;
  double scale_ = 1;
  std::vector<LayerState> states_;
  FloatBuf params_, grads_, opt1_, opt2_;
  std::vector<int> steps_;
  std::vector<std::vector<int32_t>> labels_;
  std::vector<float> scratch_;
  std::vector<std::vector<float>> staging_;
  std::set<int> owned_forward_;
  size_t param_total_ = 0;
  std::shared_ptr<const plan::MemoryPlan> plan_;
  FloatBuf arena_;
  std::map<std::tuple<int, int, int>, FloatBuf> own_;  // tensors outside the plan
  std::vector<int> owner_;                             // layer -> owner (flatten views)
  std::vector<std::vector<char>> dout_fresh_;          // [owner][mb]
  Tracker tracker_;
};

}  // namespace

std::unique_ptr<ComputeBackend> MakeOneDnnBackend() {
  return std::make_unique<OneDnnBackend>();
}

}  // namespace convscale::exec::cpu
