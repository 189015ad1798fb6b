// exec::ComputeBackend on cuDNN and cuBLAS. One CUDA stream carries every compute call, so calls
// return as soon as they are queued; Synchronize() waits. Each call is bracketed by a pair of
// CUDA events so device time per call is measured without host synchronisation.
//
// Memory: one flat fp32 buffer for master parameters (per layer: weights then bias; batch norm:
// scale then shift), one flat buffer of compute-type parameters (aliases the master in fp32/tf32),
// one flat compute-type gradient buffer, fp32 optimizer state; per layer and micro-batch the
// output and the gradient with respect to it at their places in the memory plan's arena
// (model/plan/memory_plan.h; a buffer of their own without a plan), plus what backward needs
// (batch-norm statistics, dropout reserve, loss gradient).
//
// Gradients with respect to an activation are accumulated by its consumers: the first consumer's
// backward call of a micro-batch overwrites (beta = 0), later ones add (beta = 1); "first" is
// tracked per (layer, micro-batch) and re-armed by the forward pass that reads the activation;
// ActivationGrad zeroes a gradient nobody wrote yet, since arena bytes held another tensor before.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "execute/cuda/check.h"
#include "execute/cuda/cuda_backend.h"
#include "execute/cuda/device.h"
#include "execute/cuda/kernels.h"
#include "model/plan/memory_plan.h"
#include "model/util/error.h"

namespace convscale::cuda {
namespace {

using graph::Layer;
using graph::LayerType;
using graph::Shape;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kBnEpsilon = 1e-5;
constexpr double kBnMomentum = 0.1;  // PyTorch's default (cuDNN's exponentialAverageFactor)

// RAII for the cuDNN descriptor types: Desc<cudnnTensorDescriptor_t, create, destroy>.
template <class T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class Desc {
 public:
  Desc() { CUDNN_CHECK(Create(&d_)); }
  ~Desc() { Destroy(d_); }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  operator T() const { return d_; }

 private:
  T d_{};
};
using TensorDesc =
    Desc<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc =
    Desc<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc = Desc<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                      cudnnDestroyConvolutionDescriptor>;
using PoolDesc =
    Desc<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;
using ActDesc = Desc<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                     cudnnDestroyActivationDescriptor>;
using DropDesc =
    Desc<cudnnDropoutDescriptor_t, cudnnCreateDropoutDescriptor, cudnnDestroyDropoutDescriptor>;

cudnnDataType_t CudnnType(DType t) {
  switch (t) {
    case DType::kBF16:
      return CUDNN_DATA_BFLOAT16;
    case DType::kF16:
      return CUDNN_DATA_HALF;
    default:
      return CUDNN_DATA_FLOAT;
  }
}
cudaDataType_t CublasType(DType t) {
  switch (t) {
    case DType::kBF16:
      return CUDA_R_16BF;
    case DType::kF16:
      return CUDA_R_16F;
    default:
      return CUDA_R_32F;
  }
}
DType ToDType(exec::DataType t) {
  switch (t) {
    case exec::DataType::kBF16:
      return DType::kBF16;
    case exec::DataType::kF16:
      return DType::kF16;
    default:
      return DType::kF32;
  }
}

// FNV-1a of the layer name mixed with the seed: every rank derives the same stream per layer.
uint64_t LayerSeed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Per-layer device state. Buffers are indexed by micro-batch.
// A convolution's algorithm and math type per direction, and the same as the named integers a
// profile records (ComputeBackend::Choices, BackendConfig::choices).
struct ConvAlgorithms {
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  cudnnMathType_t fwd_math{}, bwd_data_math{}, bwd_filter_math{};

  std::map<std::string, int> ToChoices() const {
    return {{"forward", fwd},
            {"forward_math", fwd_math},
            {"backward_data", bwd_data},
            {"backward_data_math", bwd_data_math},
            {"backward_filter", bwd_filter},
            {"backward_filter_math", bwd_filter_math}};
  }
  // False when a key is missing.
  bool FromChoices(const std::map<std::string, int>& c) {
    for (const auto& [key, unused] : ToChoices())
      if (c.count(key) == 0) return false;
    fwd = static_cast<cudnnConvolutionFwdAlgo_t>(c.at("forward"));
    bwd_data = static_cast<cudnnConvolutionBwdDataAlgo_t>(c.at("backward_data"));
    bwd_filter = static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.at("backward_filter"));
    fwd_math = static_cast<cudnnMathType_t>(c.at("forward_math"));
    bwd_data_math = static_cast<cudnnMathType_t>(c.at("backward_data_math"));
    bwd_filter_math = static_cast<cudnnMathType_t>(c.at("backward_filter_math"));
    return true;
  }
};

// A tensor's place: in the memory plan's arena, or a buffer of the backend's own (no plan).
struct Span {
  void* ptr = nullptr;
  size_t size = 0;
  void* data() const { return ptr; }
  size_t bytes() const { return size; }
};

struct LayerState {
  const Layer* layer = nullptr;
  int id = -1;
  bool owned = false;
  int64_t out_elems = 0;  // per micro-batch
  TensorDesc out_desc;
  std::vector<Span> out, dout;
  // Parameters (elements; offsets into the flat buffers).
  int64_t weight_count = 0, bias_count = 0, param_offset = 0;
  // Convolution / linear.
  FilterDesc filter;
  ConvDesc conv;
  TensorDesc bias_desc;  // convolution bias: 1 x C x 1 x 1 in the compute type
  ConvAlgorithms algos;
  // Pooling, activation, dropout, batch norm.
  PoolDesc pool;
  ActDesc act;
  DropDesc drop;
  DeviceBuffer drop_states;
  std::vector<DeviceBuffer> drop_reserve;
  size_t drop_reserve_bytes = 0;
  TensorDesc bn_desc;  // derived 1 x C x 1 x 1, fp32
  // CUDNN_BATCHNORM_SPATIAL, or SPATIAL_PERSISTENT through the *Ex calls for NHWC training (as
  // PyTorch chooses for channels_last): cuDNN's fast NHWC kernels, with a reserve space per
  // micro-batch from forward to backward.
  cudnnBatchNormMode_t bn_mode = CUDNN_BATCHNORM_SPATIAL;
  size_t bn_fwd_workspace = 0, bn_bwd_workspace = 0;
  std::vector<DeviceBuffer> bn_reserve;
  DeviceBuffer running_mean, running_var, bn_params32, bn_grads32;
  std::vector<DeviceBuffer> saved_mean, saved_inv_var;
  std::vector<char> bn_backward_done;
  // Loss.
  std::vector<DeviceBuffer> dlogits, loss_sum, labels;
};

class CudaBackend final : public exec::ComputeBackend {
 public:
  explicit CudaBackend(CudaOptions o) : options_(std::move(o)) {}
  ~CudaBackend() override;

  std::string name() const override { return "cuda/cudnn"; }
  std::string device_description() const override { return description_; }
  void Setup(const graph::Network& net, const std::vector<int>& layers,
             const exec::BackendConfig& config) override;
  void SetInput(int mb, const float* images, const int32_t* labels, int64_t samples) override;
  void SetGradientScale(double scale) override { grad_scale_ = scale; }
  void Forward(int layer, int mb) override;
  void BackwardData(int layer, int mb) override;
  void BackwardWeight(int layer, int mb) override;
  void Update(const std::vector<int>& layers) override;
  void UpdateSlice(int layer, int64_t offset, int64_t elements) override;
  void ZeroGradients(const std::vector<int>& layers) override;
  double Loss(int mb) override;
  int64_t Correct(int mb) override;
  exec::Buffer Parameters(int layer) override;
  exec::Buffer Gradients(int layer) override;
  exec::Buffer Activation(int layer, int mb) override;
  exec::Buffer ActivationGrad(int layer, int mb) override;
  exec::Buffer Allocate(size_t bytes) override;
  void Copy(exec::Buffer dst, exec::Buffer src) override;
  void Accumulate(exec::Buffer dst, exec::Buffer src, exec::DataType type) override;
  void Cast(exec::Buffer dst, exec::DataType to, exec::Buffer src, exec::DataType from) override;
  void Synchronize() override;
  void BeginTask(int task) override;
  void EndTask(int task) override;
  std::vector<DeviceTaskTime> TaskTimes(double host_now_s) override;
  double last_call_s() const { return options_.synchronous ? last_call_s_ : -1; }
  std::map<std::string, int> Choices(int layer) const override;
  int64_t PeakMemoryBytes() const override;
  std::map<std::string, int64_t> MemoryBytes() const override;
  int64_t ProcessMemoryBytes() const override { return static_cast<int64_t>(peak_used_); }

 private:
  LayerState& State(int layer, const char* what);
  // One optimizer step on elements [first, first + count) of `s`'s parameters, whose gradients
  // it then zeroes.
  void Step(const LayerState& s, int64_t first, int64_t count);
  void SetupLayer(LayerState& s);
  void SelectConvAlgorithms(LayerState& s, const TensorDesc& in_desc);
  // Takes the algorithms a profile recorded for `s` (BackendConfig::choices); false, changing
  // nothing, when there are none or they do not apply here.
  bool UseRecordedAlgorithms(LayerState& s, const TensorDesc& in_desc);
  void InitParameters(const exec::BackendConfig& config);
  void SetTensor(TensorDesc& d, int64_t n, const Shape& sh, DType t) const;
  // Input tensor descriptor of layer `s`'s input i (the producer's output descriptor).
  const TensorDesc& InDesc(const LayerState& s, int i) {
    return states_.at(s.layer->inputs[i])->out_desc;
  }
  void* In(const LayerState& s, int i, int mb) {
    return states_.at(s.layer->inputs[i])->out[mb].data();
  }
  // The gradient buffer of input i and the beta to write it with (0: first writer).
  void* DIn(const LayerState& s, int i, int mb, float* beta);
  void BatchNormBackward(LayerState& s, int mb);
  char* ParamsLp(const LayerState& s) const { return params_lp_ + s.param_offset * SizeOf(dtype_); }
  char* GradsLp(const LayerState& s) const {
    return grads_.as<char>() + s.param_offset * SizeOf(dtype_);
  }
  // Host -> device on the compute stream, waiting for it (`src` may be freed on return). The
  // stream is non-blocking, so plain cudaMemcpy on the legacy stream would not be ordered with it.
  void UploadSync(void* dst, const void* src, size_t bytes);
  void BeginCall();
  void EndCall();

  CudaOptions options_;
  std::string description_;
  DeviceInfo device_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudaEvent_t ev_start_ = nullptr, ev_end_ = nullptr;  // bracket every call
  // Events bracketing the tasks queued since the last TaskTimes(), reused across iterations.
  struct TaskEvents {
    int task = 0;
    cudaEvent_t begin = nullptr, end = nullptr;
  };
  std::vector<TaskEvents> task_events_;
  size_t tasks_open_ = 0;         // entries of task_events_ in use
  cudaEvent_t ev_ref_ = nullptr;  // recorded when the stream is idle: the host-clock anchor
  double last_call_s_ = 0;        // device time of the last call (synchronous mode)
  DType dtype_ = DType::kF32;
  bool tf32_ = false;
  cudnnTensorFormat_t format_ = CUDNN_TENSOR_NCHW;
  int64_t n_ = 1;  // samples per micro-batch
  int micro_batches_ = 1;
  double grad_scale_ = 1;
  double workspace_budget_ = 0;
  exec::OptimizerConfig opt_;
  std::map<std::string, std::map<std::string, int>> recorded_;  // BackendConfig::choices
  int conv_layers_ = 0, conv_recorded_ = 0;  // convolutions, and those run as recorded
  int64_t step_ = 0;
  const graph::Network* net_ = nullptr;
  std::map<int, std::unique_ptr<LayerState>> states_;  // owned layers and boundary producers
  int64_t total_params_ = 0;
  DeviceBuffer master_, params_lp_store_, grads_, grads32_, opt_m_, opt_v_;
  char* params_lp_ = nullptr;  // params_lp_store_ or master_
  DeviceBuffer workspace_, scratch_, staging_, ones_;
  DeviceBuffer bn_workspace_;  // shared by the batch-norm *Ex calls
  std::vector<DeviceBuffer> allocations_;
  // Activations: the memory plan's arena (BackendConfig::memory), tensors outside it, and whether
  // an output gradient has had no writer since its layer's forward ([owner layer][mb]; a flatten
  // view shares its input's tensors and flag).
  std::shared_ptr<const plan::MemoryPlan> plan_;
  DeviceBuffer arena_;
  std::vector<DeviceBuffer> own_tensors_;
  std::vector<int> owner_;
  std::map<int, std::vector<char>> fresh_;
  Span Place(const LayerState& s, int mb, plan::TensorKind kind, size_t bytes);
  char& Fresh(int layer, int mb);
  double baseline_bytes_ = 0, baseline_used_ = 0;
  mutable double peak_used_ = 0;
};

CudaBackend::~CudaBackend() {
  if (stream_) cudaStreamSynchronize(stream_);
  states_.clear();
  if (ev_start_) cudaEventDestroy(ev_start_);
  if (ev_end_) cudaEventDestroy(ev_end_);
  if (ev_ref_) cudaEventDestroy(ev_ref_);
  for (TaskEvents& e : task_events_) {
    cudaEventDestroy(e.begin);
    cudaEventDestroy(e.end);
  }
  if (cublas_) cublasDestroy(cublas_);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (stream_) cudaStreamDestroy(stream_);
}

LayerState& CudaBackend::State(int layer, const char* what) {
  auto it = states_.find(layer);
  if (it == states_.end())
    throw RuntimeError(std::string("cuda backend: ") + what + " of layer " + std::to_string(layer) +
                       ", which this rank does not hold");
  return *it->second;
}

void CudaBackend::SetTensor(TensorDesc& d, int64_t n, const Shape& sh, DType t) const {
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, format_, CudnnType(t), static_cast<int>(n),
                                         static_cast<int>(sh.c), static_cast<int>(sh.h),
                                         static_cast<int>(sh.w)));
}

void CudaBackend::Setup(const graph::Network& net, const std::vector<int>& layers,
                        const exec::BackendConfig& config) {
  device_ = UseDevice(config.device + (options_.add_local_rank ? LocalRank() : 0));
  net_ = &net;
  n_ = config.micro_batch;
  micro_batches_ = config.micro_batches;
  grad_scale_ = 1.0 / static_cast<double>(n_);
  opt_ = config.optimizer;
  if (config.precision == "fp32") {
    dtype_ = DType::kF32;
  } else if (config.precision == "tf32") {
    dtype_ = DType::kF32;
    tf32_ = true;
  } else if (config.precision == "bf16") {
    dtype_ = DType::kBF16;
  } else if (config.precision == "fp16") {
    dtype_ = DType::kF16;
  } else {
    throw InputError("precision \"" + config.precision + "\" is not one the CUDA backend runs" +
                     DidYouMean(config.precision, {"fp32", "tf32", "bf16", "fp16"}));
  }
  if (options_.layout == "nhwc" || (options_.layout == "auto" && dtype_ != DType::kF32))
    format_ = CUDNN_TENSOR_NHWC;
  else if (options_.layout == "nchw" || options_.layout == "auto")
    format_ = CUDNN_TENSOR_NCHW;
  else
    throw InputError("layout \"" + options_.layout + "\" is not one of auto, nchw, nhwc");
  workspace_budget_ = options_.workspace_budget_bytes >= 0
                          ? options_.workspace_budget_bytes
                          : std::min(4 * kGiB, 0.1 * device_.memory_bytes);

  baseline_bytes_ = AllocatedBytes();
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUDNN_CHECK(cudnnCreate(&cudnn_));
  CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  CUBLAS_CHECK(cublasCreate(&cublas_));
  CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  CUBLAS_CHECK(cublasSetMathMode(
      cublas_, tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH
                     : (dtype_ == DType::kF32 ? CUBLAS_PEDANTIC_MATH : CUBLAS_DEFAULT_MATH)));
  CUDA_CHECK(cudaEventCreate(&ev_start_));
  CUDA_CHECK(cudaEventCreate(&ev_end_));
  CUDA_CHECK(cudaEventCreate(&ev_ref_));
  baseline_used_ = DeviceUsedBytes();

  // States for owned layers and for the producers of their inputs (boundary buffers).
  std::vector<int> all = layers;
  for (int v : layers)
    for (int p : net.layer(v).inputs) all.push_back(p);
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (int v : all) {
    auto s = std::make_unique<LayerState>();
    s->layer = &net.layer(v);
    s->id = v;
    s->owned = std::find(layers.begin(), layers.end(), v) != layers.end();
    states_[v] = std::move(s);
  }
  // Parameter offsets first (the flat buffers must exist before layers set up descriptors).
  for (auto& [v, s] : states_) {
    if (!s->owned) continue;
    const Layer& l = *s->layer;
    const int64_t cin = l.in_shapes.empty() ? 0 : l.in_shapes[0].c;
    if (l.type == LayerType::kConv2d) {
      s->weight_count = l.p.out_channels * (cin / l.p.groups) * l.p.kernel_h * l.p.kernel_w;
      s->bias_count = l.p.bias ? l.p.out_channels : 0;
    } else if (l.type == LayerType::kLinear) {
      s->weight_count = l.p.out_features * l.in_shapes[0].elements();
      s->bias_count = l.p.bias ? l.p.out_features : 0;
    } else if (l.type == LayerType::kBatchNorm) {
      s->weight_count = cin;
      s->bias_count = cin;
    }
    s->param_offset = total_params_;
    total_params_ += s->weight_count + s->bias_count;
  }
  const size_t np = static_cast<size_t>(std::max<int64_t>(total_params_, 1));
  master_ = DeviceBuffer(np * 4);
  grads_ = DeviceBuffer(np * SizeOf(dtype_));
  opt_m_ = DeviceBuffer(np * 4);
  CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), stream_));
  CUDA_CHECK(cudaMemsetAsync(opt_m_.data(), 0, opt_m_.bytes(), stream_));
  if (opt_.kind == "adam") {
    opt_v_ = DeviceBuffer(np * 4);
    CUDA_CHECK(cudaMemsetAsync(opt_v_.data(), 0, opt_v_.bytes(), stream_));
  } else if (opt_.kind != "sgd") {
    throw InputError("optimizer \"" + opt_.kind + "\" is not sgd or adam");
  }
  if (dtype_ != DType::kF32) {
    params_lp_store_ = DeviceBuffer(np * SizeOf(dtype_));
    grads32_ = DeviceBuffer(np * 4);
    params_lp_ = params_lp_store_.as<char>();
  } else {
    params_lp_ = master_.as<char>();
  }
  InitParameters(config);
  recorded_ = config.choices;
  conv_layers_ = conv_recorded_ = 0;
  plan_ = config.memory;
  owner_.resize(net.size());
  for (size_t v = 0; v < net.size(); ++v) {
    int o = static_cast<int>(v);
    while (net.layer(o).type == LayerType::kFlatten && !net.layer(o).inputs.empty())
      o = net.layer(o).inputs[0];
    owner_[v] = o;
  }
  if (plan_) arena_ = DeviceBuffer(static_cast<size_t>(std::max<int64_t>(plan_->arena_bytes, 1)));
  for (auto& [v, s] : states_) SetupLayer(*s);
  description_ =
      device_.name + " (sm_" + std::to_string(device_.sm_major) + std::to_string(device_.sm_minor) +
      ", " + std::to_string(static_cast<int>(device_.memory_bytes / kGiB)) + " GiB), cuDNN " +
      std::to_string(cudnnGetVersion()) + ", cuBLAS " + std::to_string(CUBLAS_VER_MAJOR) + "." +
      std::to_string(CUBLAS_VER_MINOR) + ", precision " + config.precision + ", layout " +
      (format_ == CUDNN_TENSOR_NHWC ? "NHWC" : "NCHW") + ", conv algorithms by " +
      (options_.find_algorithms ? "cudnnFind (best of 3 trials)" : "cudnnGet_v7 heuristics") +
      (recorded_.empty() ? std::string()
                         : ", " + std::to_string(conv_recorded_) + " of " +
                               std::to_string(conv_layers_) + " as the profile recorded") +
      " within " + std::to_string(static_cast<int64_t>(workspace_budget_)) + " bytes of workspace";
  Synchronize();
}

void CudaBackend::InitParameters(const exec::BackendConfig& config) {
  std::vector<float> host(static_cast<size_t>(total_params_));
  for (auto& [v, s] : states_) {
    if (!s->owned || s->weight_count + s->bias_count == 0) continue;
    const Layer& l = *s->layer;
    float* w = host.data() + s->param_offset;
    if (l.type == LayerType::kBatchNorm) {
      std::fill(w, w + s->weight_count, 1.f);
      std::fill(w + s->weight_count, w + s->weight_count + s->bias_count, 0.f);
      continue;
    }
    // PyTorch's default: kaiming_uniform(a = sqrt 5) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    const int64_t out = l.type == LayerType::kConv2d ? l.p.out_channels : l.p.out_features;
    const double fan_in = static_cast<double>(s->weight_count) / static_cast<double>(out);
    const float bound = static_cast<float>(1.0 / std::sqrt(fan_in));
    std::mt19937_64 rng(LayerSeed(config.seed, l.name));
    std::uniform_real_distribution<float> u(-bound, bound);
    for (int64_t i = 0; i < s->weight_count + s->bias_count; ++i) w[i] = u(rng);
  }
  if (total_params_ == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(master_.data(), host.data(), host.size() * 4, cudaMemcpyHostToDevice,
                             stream_));
  if (dtype_ != DType::kF32)
    Axpby(dtype_, params_lp_, DType::kF32, master_.data(), total_params_, 0.f, stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));  // `host` dies here
}

void CudaBackend::SetupLayer(LayerState& s) {
  const Layer& l = *s.layer;
  s.out_elems = n_ * l.out.elements();
  SetTensor(s.out_desc, n_, l.out, dtype_);
  const size_t bytes = static_cast<size_t>(s.out_elems) * SizeOf(dtype_);
  s.out.resize(micro_batches_);
  s.dout.resize(micro_batches_);
  // The loss layer's output is its scalar loss, kept in loss_sum; it has no activation gradient.
  for (int mb = 0; mb < micro_batches_; ++mb) {
    s.out[mb] = Place(s, mb, plan::TensorKind::kOutput, bytes);
    if (l.type != LayerType::kLoss) s.dout[mb] = Place(s, mb, plan::TensorKind::kOutputGrad, bytes);
  }
  if (!s.owned) return;
  const Shape in = l.in_shapes.empty() ? Shape{} : l.in_shapes[0];
  switch (l.type) {
    case LayerType::kInput:
      break;
    case LayerType::kConv2d: {
      const int64_t cin_g = in.c / l.p.groups;
      CUDNN_CHECK(cudnnSetFilter4dDescriptor(s.filter, CudnnType(dtype_), format_,
                                             static_cast<int>(l.p.out_channels),
                                             static_cast<int>(cin_g), l.p.kernel_h, l.p.kernel_w));
      CUDNN_CHECK(cudnnSetConvolution2dDescriptor(s.conv, l.p.pad_h, l.p.pad_w, l.p.stride_h,
                                                  l.p.stride_w, l.p.dilation_h, l.p.dilation_w,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
      CUDNN_CHECK(cudnnSetConvolutionGroupCount(s.conv, l.p.groups));
      int dims[4];
      CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(s.conv, InDesc(s, 0), s.filter, &dims[0],
                                                        &dims[1], &dims[2], &dims[3]));
      if (dims[1] != l.out.c || dims[2] != l.out.h || dims[3] != l.out.w)
        throw RuntimeError("cuda backend: cuDNN gives layer " + l.name + " an output of " +
                           std::to_string(dims[1]) + "x" + std::to_string(dims[2]) + "x" +
                           std::to_string(dims[3]) + ", the model " + ToString(l.out));
      if (s.bias_count) SetTensor(s.bias_desc, 1, {l.out.c, 1, 1}, dtype_);
      SelectConvAlgorithms(s, InDesc(s, 0));
      break;
    }
    case LayerType::kLinear:
      if (s.bias_count && !ones_.data()) {  // n ones in the compute type, for the bias GEMMs
        std::vector<float> ones(static_cast<size_t>(n_), 1.f);
        staging_.Reserve(ones.size() * 4);
        UploadSync(staging_.data(), ones.data(), ones.size() * 4);
        ones_ = DeviceBuffer(ones.size() * SizeOf(dtype_));
        Axpby(dtype_, ones_.data(), DType::kF32, staging_.data(), n_, 0.f, stream_);
      }
      break;
    case LayerType::kBatchNorm:
      CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(s.bn_desc, InDesc(s, 0), CUDNN_BATCHNORM_SPATIAL));
      s.running_mean = DeviceBuffer(in.c * 4);
      s.running_var = DeviceBuffer(in.c * 4);
      {
        std::vector<float> zeros(in.c, 0.f), ones(in.c, 1.f);
        UploadSync(s.running_mean.data(), zeros.data(), in.c * 4);
        UploadSync(s.running_var.data(), ones.data(), in.c * 4);
      }
      if (dtype_ != DType::kF32) s.bn_params32 = DeviceBuffer(2 * in.c * 4);
      s.saved_mean.resize(micro_batches_);
      s.saved_inv_var.resize(micro_batches_);
      s.bn_grads32 = DeviceBuffer(static_cast<size_t>(micro_batches_) * 2 * in.c * 4);
      for (int mb = 0; mb < micro_batches_; ++mb) {
        s.saved_mean[mb] = DeviceBuffer(in.c * 4);
        s.saved_inv_var[mb] = DeviceBuffer(in.c * 4);
      }
      s.bn_backward_done.assign(micro_batches_, 0);
      if (format_ == CUDNN_TENSOR_NHWC) {
        s.bn_mode = CUDNN_BATCHNORM_SPATIAL_PERSISTENT;
        CUDNN_CHECK(cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(
            cudnn_, s.bn_mode, CUDNN_BATCHNORM_OPS_BN, InDesc(s, 0), nullptr, s.out_desc, s.bn_desc,
            nullptr, &s.bn_fwd_workspace));
        CUDNN_CHECK(cudnnGetBatchNormalizationBackwardExWorkspaceSize(
            cudnn_, s.bn_mode, CUDNN_BATCHNORM_OPS_BN, InDesc(s, 0), s.out_desc, s.out_desc,
            nullptr, InDesc(s, 0), s.bn_desc, nullptr, &s.bn_bwd_workspace));
        size_t reserve = 0;
        CUDNN_CHECK(cudnnGetBatchNormalizationTrainingExReserveSpaceSize(
            cudnn_, s.bn_mode, CUDNN_BATCHNORM_OPS_BN, nullptr, InDesc(s, 0), &reserve));
        bn_workspace_.Reserve(std::max<size_t>({s.bn_fwd_workspace, s.bn_bwd_workspace, 1}));
        s.bn_reserve.clear();
        for (int mb = 0; mb < micro_batches_; ++mb)
          s.bn_reserve.emplace_back(std::max<size_t>(reserve, 1));
      }
      break;
    case LayerType::kReLU:
    case LayerType::kReLU6:
    case LayerType::kSigmoid:
    case LayerType::kTanh: {
      const cudnnActivationMode_t mode = l.type == LayerType::kReLU ? CUDNN_ACTIVATION_RELU
                                         : l.type == LayerType::kReLU6
                                             ? CUDNN_ACTIVATION_CLIPPED_RELU
                                         : l.type == LayerType::kTanh ? CUDNN_ACTIVATION_TANH
                                                                      : CUDNN_ACTIVATION_SIGMOID;
      CUDNN_CHECK(cudnnSetActivationDescriptor(s.act, mode, CUDNN_NOT_PROPAGATE_NAN, 6.0));
      break;
    }
    case LayerType::kMaxPool:
    case LayerType::kAvgPool:
    case LayerType::kAdaptiveAvgPool: {
      int kh = l.p.kernel_h, kw = l.p.kernel_w, sh = l.p.stride_h, sw = l.p.stride_w;
      int ph = l.p.pad_h, pw = l.p.pad_w;
      cudnnPoolingMode_t mode = l.type == LayerType::kMaxPool ? CUDNN_POOLING_MAX_DETERMINISTIC
                                : l.p.count_include_pad
                                    ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                    : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
      if (l.type == LayerType::kAdaptiveAvgPool) {
        if (in.h % l.p.out_h != 0 || in.w % l.p.out_w != 0)
          throw InputError("layer " + l.name + ": adaptive average pooling from " + ToString(in) +
                           " to " + std::to_string(l.p.out_h) + "x" + std::to_string(l.p.out_w) +
                           " needs sizes that divide; the CUDA backend runs it as a fixed pool");
        kh = sh = static_cast<int>(in.h / l.p.out_h);
        kw = sw = static_cast<int>(in.w / l.p.out_w);
        ph = pw = 0;
        mode = CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
      }
      // ceil_mode: the output descriptor comes from the model's shape inference, which cuDNN
      // accepts as long as every window starts inside the padded input.
      CUDNN_CHECK(cudnnSetPooling2dDescriptor(s.pool, mode, CUDNN_NOT_PROPAGATE_NAN, kh, kw, ph, pw,
                                              sh, sw));
      break;
    }
    case LayerType::kDropout: {
      size_t state_bytes = 0;
      CUDNN_CHECK(cudnnDropoutGetStatesSize(cudnn_, &state_bytes));
      s.drop_states = DeviceBuffer(state_bytes);
      CUDNN_CHECK(cudnnSetDropoutDescriptor(s.drop, cudnn_, static_cast<float>(l.p.p),
                                            s.drop_states.data(), state_bytes,
                                            LayerSeed(1, l.name)));
      CUDNN_CHECK(cudnnDropoutGetReserveSpaceSize(InDesc(s, 0), &s.drop_reserve_bytes));
      s.drop_reserve.resize(micro_batches_);
      for (auto& r : s.drop_reserve) r = DeviceBuffer(s.drop_reserve_bytes);
      break;
    }
    case LayerType::kLoss:
      s.dlogits.resize(micro_batches_);
      s.loss_sum.resize(micro_batches_);
      for (int mb = 0; mb < micro_batches_; ++mb) {
        s.dlogits[mb] = DeviceBuffer(static_cast<size_t>(n_ * in.elements()) * SizeOf(dtype_));
        s.loss_sum[mb] = DeviceBuffer(4);
      }
      break;
    case LayerType::kFlatten:
    case LayerType::kConcat:
    case LayerType::kAdd:
    case LayerType::kSoftmax:
      break;
  }
}

namespace {

// cudnnFind times every algorithm once, so a clock still ramping up or a first-use cost can
// make a slow algorithm win: in run 3 of bench/gpu-check-2026-11-27.md `profile` and `execute`
// each ran cudnnFind and chose bf16 convolutions 2x apart in speed. Here every algorithm's time
// is the best of kFindTrials calls (the first also warms the shape up), sorted fastest first;
// failed candidates are dropped. `find(perf, &count)` runs one cudnnFind*Algorithm call.
constexpr int kFindTrials = 3;

template <typename Perf, typename Find>
int BestOfTrials(Perf* out, int max, Find find) {
  std::vector<Perf> best;
  std::vector<Perf> got(static_cast<size_t>(max));
  for (int trial = 0; trial < kFindTrials; ++trial) {
    int n = 0;
    find(got.data(), &n);
    for (int i = 0; i < n; ++i) {
      if (got[i].status != CUDNN_STATUS_SUCCESS) continue;
      auto same = std::find_if(best.begin(), best.end(), [&](const Perf& b) {
        return b.algo == got[i].algo && b.mathType == got[i].mathType;
      });
      if (same == best.end())
        best.push_back(got[i]);
      else if (got[i].time < same->time)
        *same = got[i];
    }
  }
  std::stable_sort(best.begin(), best.end(),
                   [](const Perf& a, const Perf& b) { return a.time < b.time; });
  const int n = std::min(max, static_cast<int>(best.size()));
  std::copy(best.begin(), best.begin() + n, out);
  return n;
}

}  // namespace

bool CudaBackend::UseRecordedAlgorithms(LayerState& s, const TensorDesc& in_desc) {
  const auto found = recorded_.find(s.layer->name);
  ConvAlgorithms a;
  if (found == recorded_.end() || !a.FromChoices(found->second)) return false;
  const bool strict = dtype_ == DType::kF32 && !tf32_;
  for (cudnnMathType_t m : {a.fwd_math, a.bwd_data_math, a.bwd_filter_math})
    if (strict && m != CUDNN_FMA_MATH) return false;  // tensor ops where fp32 is asked
  // Each must run on this shape within the workspace budget: the workspace query fails for an
  // algorithm that does not support the shape.
  const cudnnTensorDescriptor_t x = in_desc, y = s.out_desc;
  size_t need = 0;
  auto fits = [&](cudnnMathType_t math, auto query) {
    size_t ws = 0;
    if (cudnnSetConvolutionMathType(s.conv, math) != CUDNN_STATUS_SUCCESS ||
        query(&ws) != CUDNN_STATUS_SUCCESS)
      return false;
    need = std::max(need, ws);
    return true;
  };
  if (!fits(a.fwd_math,
            [&](size_t* ws) {
              return cudnnGetConvolutionForwardWorkspaceSize(cudnn_, x, s.filter, s.conv, y, a.fwd,
                                                             ws);
            }) ||
      !fits(a.bwd_data_math,
            [&](size_t* ws) {
              return cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_, s.filter, y, s.conv, x,
                                                                  a.bwd_data, ws);
            }) ||
      !fits(a.bwd_filter_math,
            [&](size_t* ws) {
              return cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_, x, y, s.conv, s.filter,
                                                                    a.bwd_filter, ws);
            }) ||
      static_cast<double>(need) > workspace_budget_)
    return false;
  s.algos = a;
  workspace_.Reserve(std::max<size_t>(need, 1));
  return true;
}

std::map<std::string, int> CudaBackend::Choices(int layer) const {
  const auto it = states_.find(layer);
  if (it == states_.end() || !it->second->owned || it->second->layer->type != LayerType::kConv2d)
    return {};
  return it->second->algos.ToChoices();
}

void CudaBackend::SelectConvAlgorithms(LayerState& s, const TensorDesc& in_desc) {
  // The math type each candidate needs comes with it; strict fp32 forbids tensor-op math.
  const bool strict = dtype_ == DType::kF32 && !tf32_;
  auto allowed = [&](cudnnMathType_t m) { return !strict || m == CUDNN_FMA_MATH; };
  ++conv_layers_;
  if (UseRecordedAlgorithms(s, in_desc)) {
    ++conv_recorded_;
    return;
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(
      s.conv, strict ? CUDNN_FMA_MATH
                     : (dtype_ == DType::kF32 ? CUDNN_DEFAULT_MATH : CUDNN_TENSOR_OP_MATH)));
  constexpr int kMax = 16;
  int found = 0;
  size_t ws_needed = 0;
  auto pick = [&](auto* perf, auto& algo, auto& math, const char* which) {
    for (int i = 0; i < found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > workspace_budget_ ||
          !allowed(perf[i].mathType))
        continue;
      algo = perf[i].algo;
      math = perf[i].mathType;
      ws_needed = std::max(ws_needed, perf[i].memory);
      return;
    }
    throw RuntimeError("cuda backend: no cuDNN " + std::string(which) + " algorithm for layer " +
                       s.layer->name + " fits a workspace of " +
                       std::to_string(static_cast<int64_t>(workspace_budget_)) + " bytes");
  };
  const cudnnTensorDescriptor_t x = in_desc, y = s.out_desc;
  cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
  cudnnConvolutionBwdDataAlgoPerf_t bwd_data[kMax];
  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[kMax];
  if (options_.find_algorithms) {
    found = BestOfTrials(fwd, kMax, [&](auto* perf, int* n) {
      CUDNN_CHECK(
          cudnnFindConvolutionForwardAlgorithm(cudnn_, x, s.filter, s.conv, y, kMax, n, perf));
    });
    pick(fwd, s.algos.fwd, s.algos.fwd_math, "forward");
    found = BestOfTrials(bwd_data, kMax, [&](auto* perf, int* n) {
      CUDNN_CHECK(
          cudnnFindConvolutionBackwardDataAlgorithm(cudnn_, s.filter, y, s.conv, x, kMax, n, perf));
    });
    pick(bwd_data, s.algos.bwd_data, s.algos.bwd_data_math, "backward-data");
    found = BestOfTrials(bwd_filter, kMax, [&](auto* perf, int* n) {
      CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(cudnn_, x, y, s.conv, s.filter, kMax,
                                                              n, perf));
    });
    pick(bwd_filter, s.algos.bwd_filter, s.algos.bwd_filter_math, "backward-filter");
  } else {
    CUDNN_CHECK(
        cudnnGetConvolutionForwardAlgorithm_v7(cudnn_, x, s.filter, s.conv, y, kMax, &found, fwd));
    pick(fwd, s.algos.fwd, s.algos.fwd_math, "forward");
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_, s.filter, y, s.conv, x, kMax,
                                                            &found, bwd_data));
    pick(bwd_data, s.algos.bwd_data, s.algos.bwd_data_math, "backward-data");
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn_, x, y, s.conv, s.filter, kMax,
                                                              &found, bwd_filter));
    pick(bwd_filter, s.algos.bwd_filter, s.algos.bwd_filter_math, "backward-filter");
  }
  workspace_.Reserve(std::max<size_t>(ws_needed, 1));
}

void* CudaBackend::DIn(const LayerState& s, int i, int mb, float* beta) {
  LayerState& p = *states_.at(s.layer->inputs[i]);
  char& fresh = Fresh(p.id, mb);
  *beta = fresh ? 0.f : 1.f;
  fresh = 0;
  return p.dout[mb].data();
}

Span CudaBackend::Place(const LayerState& s, int mb, plan::TensorKind kind, size_t bytes) {
  if (plan_)
    if (const plan::PlannedTensor* t = plan_->Find(s.id, mb, kind);
        t && static_cast<size_t>(t->bytes) >= bytes)
      return {arena_.as<char>() + t->offset, bytes};
  // Without a plan a flatten view still shares its input's tensors (set up first: vertex order).
  const int o = owner_[static_cast<size_t>(s.id)];
  if (o != s.id) {
    auto it = states_.find(o);
    if (it != states_.end() && static_cast<size_t>(mb) < it->second->out.size()) {
      const Span& owned =
          kind == plan::TensorKind::kOutput ? it->second->out[mb] : it->second->dout[mb];
      if (owned.bytes() >= bytes) return owned;
    }
  }
  own_tensors_.emplace_back(bytes);
  return {own_tensors_.back().data(), bytes};
}

char& CudaBackend::Fresh(int layer, int mb) {
  std::vector<char>& f = fresh_[owner_[static_cast<size_t>(layer)]];
  if (static_cast<size_t>(mb) >= f.size()) f.resize(static_cast<size_t>(mb) + 1, 1);
  return f[static_cast<size_t>(mb)];
}

void CudaBackend::UploadSync(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::BeginCall() {
  CUDA_CHECK(cudaEventRecord(ev_start_, stream_));
}
void CudaBackend::EndCall() {
  CUDA_CHECK(cudaEventRecord(ev_end_, stream_));
  if (options_.synchronous) {
    CUDA_CHECK(cudaEventSynchronize(ev_end_));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev_start_, ev_end_));
    last_call_s_ = ms / 1e3;
  }
}

void CudaBackend::BeginTask(int task) {
  if (tasks_open_ == task_events_.size()) {
    TaskEvents e;
    CUDA_CHECK(cudaEventCreate(&e.begin));
    CUDA_CHECK(cudaEventCreate(&e.end));
    task_events_.push_back(e);
  }
  TaskEvents& e = task_events_[tasks_open_];
  e.task = task;
  CUDA_CHECK(cudaEventRecord(e.begin, stream_));
}

void CudaBackend::EndTask(int task) {
  if (tasks_open_ >= task_events_.size() || task_events_[tasks_open_].task != task)
    throw RuntimeError("cuda backend: EndTask(" + std::to_string(task) + ") without its BeginTask");
  CUDA_CHECK(cudaEventRecord(task_events_[tasks_open_].end, stream_));
  ++tasks_open_;
}

std::vector<exec::ComputeBackend::DeviceTaskTime> CudaBackend::TaskTimes(double host_now_s) {
  std::vector<DeviceTaskTime> out;
  if (tasks_open_ == 0) return out;
  // The caller synchronised and then read host_now_s: an event recorded now completes at once,
  // so it marks host_now_s on the device's clock, and each task's events are that far before it.
  CUDA_CHECK(cudaEventRecord(ev_ref_, stream_));
  CUDA_CHECK(cudaEventSynchronize(ev_ref_));
  out.reserve(tasks_open_);
  for (size_t i = 0; i < tasks_open_; ++i) {
    float to_begin = 0, to_end = 0;
    CUDA_CHECK(cudaEventElapsedTime(&to_begin, task_events_[i].begin, ev_ref_));
    CUDA_CHECK(cudaEventElapsedTime(&to_end, task_events_[i].end, ev_ref_));
    out.push_back({task_events_[i].task, host_now_s - to_begin / 1e3, host_now_s - to_end / 1e3});
  }
  tasks_open_ = 0;
  return out;
}

void CudaBackend::SetInput(int mb, const float* images, const int32_t* labels, int64_t samples) {
  if (samples != n_)
    throw RuntimeError("cuda backend: micro-batch " + std::to_string(mb) + " has " +
                       std::to_string(samples) + " samples; the backend was set up for " +
                       std::to_string(n_));
  if (auto it = states_.find(0); images && it != states_.end()) {
    LayerState& s = *it->second;
    const Shape sh = s.layer->out;
    const size_t elems = static_cast<size_t>(s.out_elems);
    if (format_ == CUDNN_TENSOR_NCHW && dtype_ == DType::kF32) {
      CUDA_CHECK(
          cudaMemcpyAsync(s.out[mb].data(), images, elems * 4, cudaMemcpyHostToDevice, stream_));
    } else {
      // Host NCHW fp32 -> device NCHW fp32 -> device layout fp32 -> compute type.
      staging_.Reserve(2 * elems * 4);
      float* nchw = staging_.as<float>();
      float* laid = nchw + elems;
      CUDA_CHECK(cudaMemcpyAsync(nchw, images, elems * 4, cudaMemcpyHostToDevice, stream_));
      TensorDesc src, dst;
      CUDNN_CHECK(cudnnSetTensor4dDescriptor(src, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n_, sh.c,
                                             sh.h, sh.w));
      CUDNN_CHECK(cudnnSetTensor4dDescriptor(dst, format_, CUDNN_DATA_FLOAT, n_, sh.c, sh.h, sh.w));
      const float one = 1.f, zero = 0.f;
      CUDNN_CHECK(cudnnTransformTensor(cudnn_, &one, src, nchw, &zero, dst, laid));
      Axpby(dtype_, s.out[mb].data(), DType::kF32, laid, static_cast<int64_t>(elems), 0.f, stream_);
    }
    // The host memory may be reused by the caller as soon as we return.
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  if (!labels) return;
  for (auto& [v, s] : states_) {
    if (!s->owned || s->layer->type != LayerType::kLoss) continue;
    s->labels.resize(micro_batches_);
    s->labels[mb].Reserve(static_cast<size_t>(samples) * 4);
    UploadSync(s->labels[mb].data(), labels, static_cast<size_t>(samples) * 4);
  }
}

void CudaBackend::Forward(int layer, int mb) {
  last_call_s_ = 0;  // a call that queues nothing took no device time
  LayerState& s = State(layer, "forward");
  const Layer& l = *s.layer;
  // The output gradients start over: their first writer overwrites (DIn).
  for (int p : l.inputs) Fresh(p, mb) = 1;
  Fresh(layer, mb) = 1;
  const float one = 1.f, zero = 0.f;
  void* y = s.out[mb].data();
  BeginCall();
  switch (l.type) {
    case LayerType::kInput:
      break;
    case LayerType::kConv2d:
      CUDNN_CHECK(cudnnSetConvolutionMathType(s.conv, s.algos.fwd_math));
      CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &one, InDesc(s, 0), In(s, 0, mb), s.filter,
                                          ParamsLp(s), s.conv, s.algos.fwd, workspace_.data(),
                                          workspace_.bytes(), &zero, s.out_desc, y));
      if (s.bias_count)
        CUDNN_CHECK(cudnnAddTensor(cudnn_, &one, s.bias_desc,
                                   ParamsLp(s) + s.weight_count * SizeOf(dtype_), &one, s.out_desc,
                                   y));
      break;
    case LayerType::kLinear: {
      // Row-major Y[n][out] = X[n][in] W[out][in]^T, i.e. column-major Y^T = W^T' X^T'.
      const int out = static_cast<int>(l.out.c), in = static_cast<int>(l.in_shapes[0].elements());
      const cudaDataType_t t = CublasType(dtype_);
      CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, out, static_cast<int>(n_), in,
                                &one, ParamsLp(s), t, in, In(s, 0, mb), t, in, &zero, y, t, out,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      // Y^T += b ones^T (a rank-1 GEMM: every type cuBLAS supports, unlike cuDNN's bias ops).
      if (s.bias_count)
        CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, out, static_cast<int>(n_), 1,
                                  &one, ParamsLp(s) + s.weight_count * SizeOf(dtype_), t, out,
                                  ones_.data(), t, static_cast<int>(n_), &one, y, t, out,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      break;
    }
    case LayerType::kBatchNorm: {
      const float* params = master_.as<float>() + s.param_offset;
      if (dtype_ != DType::kF32) {  // the compute copy is authoritative (it may be received)
        Axpby(DType::kF32, s.bn_params32.data(), dtype_, ParamsLp(s), s.weight_count + s.bias_count,
              0.f, stream_);
        params = s.bn_params32.as<float>();
      }
      if (s.bn_mode == CUDNN_BATCHNORM_SPATIAL) {
        CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
            cudnn_, CUDNN_BATCHNORM_SPATIAL, &one, &zero, InDesc(s, 0), In(s, 0, mb), s.out_desc, y,
            s.bn_desc, params, params + s.weight_count, kBnMomentum, s.running_mean.data(),
            s.running_var.data(), kBnEpsilon, s.saved_mean[mb].data(), s.saved_inv_var[mb].data()));
      } else {
        CUDNN_CHECK(cudnnBatchNormalizationForwardTrainingEx(
            cudnn_, s.bn_mode, CUDNN_BATCHNORM_OPS_BN, &one, &zero, InDesc(s, 0), In(s, 0, mb),
            nullptr, nullptr, s.out_desc, y, s.bn_desc, params, params + s.weight_count,
            kBnMomentum, s.running_mean.data(), s.running_var.data(), kBnEpsilon,
            s.saved_mean[mb].data(), s.saved_inv_var[mb].data(), nullptr, bn_workspace_.data(),
            s.bn_fwd_workspace, s.bn_reserve[mb].data(), s.bn_reserve[mb].bytes()));
      }
      s.bn_backward_done[mb] = 0;
      break;
    }
    case LayerType::kReLU:
      ReluForward(dtype_, y, In(s, 0, mb), s.out_elems, stream_);
      break;
    case LayerType::kReLU6:
    case LayerType::kSigmoid:
    case LayerType::kTanh:
      CUDNN_CHECK(cudnnActivationForward(cudnn_, s.act, &one, InDesc(s, 0), In(s, 0, mb), &zero,
                                         s.out_desc, y));
      break;
    case LayerType::kMaxPool:
    case LayerType::kAvgPool:
    case LayerType::kAdaptiveAvgPool:
      CUDNN_CHECK(cudnnPoolingForward(cudnn_, s.pool, &one, InDesc(s, 0), In(s, 0, mb), &zero,
                                      s.out_desc, y));
      break;
    case LayerType::kDropout:
      CUDNN_CHECK(cudnnDropoutForward(cudnn_, s.drop, InDesc(s, 0), In(s, 0, mb), s.out_desc, y,
                                      s.drop_reserve[mb].data(), s.drop_reserve_bytes));
      break;
    case LayerType::kFlatten:  // a view of its input: nothing to copy
      if (y != In(s, 0, mb))
        CUDA_CHECK(
            cudaMemcpyAsync(y, In(s, 0, mb), s.out[mb].bytes(), cudaMemcpyDeviceToDevice, stream_));
      break;
    case LayerType::kAdd:
      if (l.inputs.size() == 2 && l.in_shapes[0].elements() == l.out.elements() &&
          l.in_shapes[1].elements() == l.out.elements()) {
        Add(dtype_, y, In(s, 0, mb), In(s, 1, mb), s.out_elems, stream_);
        break;
      }
      CUDA_CHECK(
          cudaMemcpyAsync(y, In(s, 0, mb), s.out[mb].bytes(), cudaMemcpyDeviceToDevice, stream_));
      for (size_t i = 1; i < l.inputs.size(); ++i)
        CUDNN_CHECK(cudnnAddTensor(cudnn_, &one, InDesc(s, static_cast<int>(i)),
                                   In(s, static_cast<int>(i), mb), &one, s.out_desc, y));
      break;
    case LayerType::kConcat: {
      // Channels of input i go to a strided slab: rows of `inner` elements per channel block.
      const bool nhwc = format_ == CUDNN_TENSOR_NHWC;
      const int64_t es = SizeOf(dtype_), hw = l.out.h * l.out.w;
      const int64_t rows = nhwc ? n_ * hw : n_, unit = nhwc ? 1 : hw;
      int64_t c0 = 0;
      for (size_t i = 0; i < l.inputs.size(); ++i) {
        const int64_t ci = l.in_shapes[i].c;
        CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(y) + c0 * unit * es, l.out.c * unit * es,
                                     In(s, static_cast<int>(i), mb), ci * unit * es, ci * unit * es,
                                     rows, cudaMemcpyDeviceToDevice, stream_));
        c0 += ci;
      }
      break;
    }
    case LayerType::kSoftmax:
      CUDNN_CHECK(cudnnSoftmaxForward(cudnn_, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
                                      &one, InDesc(s, 0), In(s, 0, mb), &zero, s.out_desc, y));
      break;
    case LayerType::kLoss: {
      if (s.labels.size() <= static_cast<size_t>(mb) || !s.labels[mb].data())
        throw RuntimeError("cuda backend: loss of micro-batch " + std::to_string(mb) +
                           " before its labels were set");
      CUDA_CHECK(cudaMemsetAsync(s.loss_sum[mb].data(), 0, 4, stream_));
      SoftmaxCrossEntropy(dtype_, In(s, 0, mb), s.labels[mb].as<int32_t>(), n_,
                          l.in_shapes[0].elements(), static_cast<float>(grad_scale_),
                          s.loss_sum[mb].as<float>(), s.dlogits[mb].data(), stream_);
      break;
    }
  }
  EndCall();
}

void CudaBackend::BatchNormBackward(LayerState& s, int mb) {
  if (s.bn_backward_done[mb]) return;
  s.bn_backward_done[mb] = 1;
  const float one = 1.f, zero = 0.f;
  const int64_t c = s.weight_count;
  float* dparams = s.bn_grads32.as<float>() + static_cast<int64_t>(mb) * 2 * c;
  const float* params =
      dtype_ == DType::kF32 ? master_.as<float>() + s.param_offset : s.bn_params32.as<float>();
  float beta = 0;
  void* dx = nullptr;
  if (s.layer->needs_input_grad) {
    dx = DIn(s, 0, mb, &beta);
  } else {
    scratch_.Reserve(s.dout[mb].bytes());
    dx = scratch_.data();
  }
  if (s.bn_mode == CUDNN_BATCHNORM_SPATIAL) {
    CUDNN_CHECK(cudnnBatchNormalizationBackward(
        cudnn_, CUDNN_BATCHNORM_SPATIAL, &one, &beta, &one, &zero, InDesc(s, 0), In(s, 0, mb),
        s.out_desc, s.dout[mb].data(), InDesc(s, 0), dx, s.bn_desc, params, dparams, dparams + c,
        kBnEpsilon, s.saved_mean[mb].data(), s.saved_inv_var[mb].data()));
  } else {
    CUDNN_CHECK(cudnnBatchNormalizationBackwardEx(
        cudnn_, s.bn_mode, CUDNN_BATCHNORM_OPS_BN, &one, &beta, &one, &zero, InDesc(s, 0),
        In(s, 0, mb), s.out_desc, s.out[mb].data(), s.out_desc, s.dout[mb].data(), nullptr, nullptr,
        InDesc(s, 0), dx, s.bn_desc, params, params + c, dparams, dparams + c, kBnEpsilon,
        s.saved_mean[mb].data(), s.saved_inv_var[mb].data(), nullptr, bn_workspace_.data(),
        s.bn_bwd_workspace, s.bn_reserve[mb].data(), s.bn_reserve[mb].bytes()));
  }
}

void CudaBackend::BackwardData(int layer, int mb) {
  last_call_s_ = 0;  // a call that queues nothing took no device time
  LayerState& s = State(layer, "backward-data");
  const Layer& l = *s.layer;
  const float one = 1.f;
  float beta = 0;
  const void* dy = s.dout[mb].data();
  BeginCall();
  switch (l.type) {
    case LayerType::kInput:
      break;
    case LayerType::kConv2d: {
      void* dx = DIn(s, 0, mb, &beta);
      CUDNN_CHECK(cudnnSetConvolutionMathType(s.conv, s.algos.bwd_data_math));
      CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_, &one, s.filter, ParamsLp(s), s.out_desc, dy,
                                               s.conv, s.algos.bwd_data, workspace_.data(),
                                               workspace_.bytes(), &beta, InDesc(s, 0), dx));
      break;
    }
    case LayerType::kLinear: {
      // dX[n][in] = dY[n][out] W[out][in]: column-major dX^T = W^T' dY^T.
      void* dx = DIn(s, 0, mb, &beta);
      const int out = static_cast<int>(l.out.c), in = static_cast<int>(l.in_shapes[0].elements());
      const cudaDataType_t t = CublasType(dtype_);
      CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, in, static_cast<int>(n_), out,
                                &one, ParamsLp(s), t, in, dy, t, out, &beta, dx, t, in,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      break;
    }
    case LayerType::kBatchNorm:
      BatchNormBackward(s, mb);
      break;
    case LayerType::kReLU: {
      void* dx = DIn(s, 0, mb, &beta);
      ReluBackward(dtype_, dx, s.out[mb].data(), dy, s.out_elems, beta, stream_);
      break;
    }
    case LayerType::kReLU6:
    case LayerType::kSigmoid:
    case LayerType::kTanh: {
      void* dx = DIn(s, 0, mb, &beta);
      // The memory plan keeps these layers' output, not their input: the derivative of ReLU6,
      // sigmoid and tanh is a function of the output, which stands in for the input here.
      CUDNN_CHECK(cudnnActivationBackward(cudnn_, s.act, &one, s.out_desc, s.out[mb].data(),
                                          s.out_desc, dy, s.out_desc, s.out[mb].data(), &beta,
                                          InDesc(s, 0), dx));
      break;
    }
    case LayerType::kMaxPool:
    case LayerType::kAvgPool:
    case LayerType::kAdaptiveAvgPool: {
      void* dx = DIn(s, 0, mb, &beta);
      CUDNN_CHECK(cudnnPoolingBackward(cudnn_, s.pool, &one, s.out_desc, s.out[mb].data(),
                                       s.out_desc, dy, InDesc(s, 0), In(s, 0, mb), &beta,
                                       InDesc(s, 0), dx));
      break;
    }
    case LayerType::kDropout: {
      void* dx = DIn(s, 0, mb, &beta);
      void* target = dx;
      if (beta != 0) {  // cudnnDropoutBackward has no beta: go through scratch and add
        scratch_.Reserve(s.dout[mb].bytes());
        target = scratch_.data();
      }
      CUDNN_CHECK(cudnnDropoutBackward(cudnn_, s.drop, s.out_desc, dy, InDesc(s, 0), target,
                                       s.drop_reserve[mb].data(), s.drop_reserve_bytes));
      if (target != dx)
        CUDNN_CHECK(cudnnAddTensor(cudnn_, &one, InDesc(s, 0), target, &one, InDesc(s, 0), dx));
      break;
    }
    case LayerType::kFlatten:
    case LayerType::kAdd:
      if (l.type == LayerType::kFlatten && states_.at(l.inputs[0])->dout[mb].data() == dy)
        break;  // the view's gradient is its input's
      for (size_t i = 0; i < l.inputs.size(); ++i) {
        void* dx = DIn(s, static_cast<int>(i), mb, &beta);
        Axpby(dtype_, dx, dtype_, dy, s.out_elems, beta, stream_);
      }
      break;
    case LayerType::kConcat: {
      const bool nhwc = format_ == CUDNN_TENSOR_NHWC;
      const int64_t es = SizeOf(dtype_), hw = l.out.h * l.out.w;
      const int64_t rows = nhwc ? n_ * hw : n_, unit = nhwc ? 1 : hw;
      int64_t c0 = 0;
      for (size_t i = 0; i < l.inputs.size(); ++i) {
        const int64_t ci = l.in_shapes[i].c;
        void* dx = DIn(s, static_cast<int>(i), mb, &beta);
        void* target = dx;
        if (beta != 0) {
          scratch_.Reserve(static_cast<size_t>(rows * ci * unit * es));
          target = scratch_.data();
        }
        CUDA_CHECK(cudaMemcpy2DAsync(
            target, ci * unit * es, static_cast<const char*>(dy) + c0 * unit * es,
            l.out.c * unit * es, ci * unit * es, rows, cudaMemcpyDeviceToDevice, stream_));
        if (target != dx) Axpby(dtype_, dx, dtype_, target, rows * ci * unit, 1.f, stream_);
        c0 += ci;
      }
      break;
    }
    case LayerType::kSoftmax: {
      void* dx = DIn(s, 0, mb, &beta);
      CUDNN_CHECK(cudnnSoftmaxBackward(cudnn_, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
                                       &one, s.out_desc, s.out[mb].data(), s.out_desc, dy, &beta,
                                       InDesc(s, 0), dx));
      break;
    }
    case LayerType::kLoss: {
      void* dx = DIn(s, 0, mb, &beta);
      Axpby(dtype_, dx, dtype_, s.dlogits[mb].data(), n_ * l.in_shapes[0].elements(), beta,
            stream_);
      break;
    }
  }
  EndCall();
}

void CudaBackend::BackwardWeight(int layer, int mb) {
  last_call_s_ = 0;  // a call that queues nothing took no device time
  LayerState& s = State(layer, "backward-weight");
  const Layer& l = *s.layer;
  if (s.weight_count + s.bias_count == 0) return;
  const float one = 1.f;
  const void* dy = s.dout[mb].data();
  char* dw = GradsLp(s);
  char* db = dw + s.weight_count * SizeOf(dtype_);
  BeginCall();
  switch (l.type) {
    case LayerType::kConv2d:
      CUDNN_CHECK(cudnnSetConvolutionMathType(s.conv, s.algos.bwd_filter_math));
      CUDNN_CHECK(cudnnConvolutionBackwardFilter(
          cudnn_, &one, InDesc(s, 0), In(s, 0, mb), s.out_desc, dy, s.conv, s.algos.bwd_filter,
          workspace_.data(), workspace_.bytes(), &one, s.filter, dw));
      if (s.bias_count)
        CUDNN_CHECK(
            cudnnConvolutionBackwardBias(cudnn_, &one, s.out_desc, dy, &one, s.bias_desc, db));
      break;
    case LayerType::kLinear: {
      // dW[out][in] += dY^T X: column-major dW^T' (in x out) = X^T' (in x n) dY (n x out).
      const int out = static_cast<int>(l.out.c), in = static_cast<int>(l.in_shapes[0].elements());
      const cudaDataType_t t = CublasType(dtype_);
      CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, in, out, static_cast<int>(n_),
                                &one, In(s, 0, mb), t, in, dy, t, out, &one, dw, t, in,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      // db += dY^T ones: (out x n) (n x 1).
      if (s.bias_count)
        CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, out, 1, static_cast<int>(n_),
                                  &one, dy, t, out, ones_.data(), t, static_cast<int>(n_), &one, db,
                                  t, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      break;
    }
    case LayerType::kBatchNorm:
      BatchNormBackward(s, mb);
      Axpby(dtype_, dw, DType::kF32,
            s.bn_grads32.as<float>() + static_cast<int64_t>(mb) * 2 * s.weight_count,
            2 * s.weight_count, 1.f, stream_);
      break;
    default:
      break;
  }
  EndCall();
}

void CudaBackend::Update(const std::vector<int>& layers) {
  ++step_;
  BeginCall();
  for (int v : layers) {
    auto it = states_.find(v);
    if (it == states_.end() || !it->second->owned) continue;
    const LayerState& s = *it->second;
    Step(s, 0, s.weight_count + s.bias_count);
  }
  EndCall();
}

void CudaBackend::UpdateSlice(int layer, int64_t offset, int64_t elements) {
  ++step_;
  BeginCall();
  auto it = states_.find(layer);
  if (it != states_.end() && it->second->owned) Step(*it->second, offset, elements);
  EndCall();
}

void CudaBackend::Step(const LayerState& s, int64_t first, int64_t count) {
  const int64_t n = s.weight_count + s.bias_count;
  if (n == 0 || count <= 0) return;
  float* w = master_.as<float>() + s.param_offset;
  const float* g = reinterpret_cast<const float*>(GradsLp(s));
  if (dtype_ != DType::kF32) {
    float* g32 = grads32_.as<float>() + s.param_offset;
    Axpby(DType::kF32, g32 + first, dtype_, GradsLp(s) + first * SizeOf(dtype_), count, 0.f,
          stream_);
    g = g32;
  }
  void* lowp = dtype_ != DType::kF32 ? ParamsLp(s) : nullptr;
  // Weight decay applies to weights only (biases and batch-norm parameters are excluded as
  // in the usual ResNet recipe), so weights and the rest are stepped separately; each part is
  // cut to [first, first + count).
  const int64_t nw = s.layer->type == LayerType::kBatchNorm ? 0 : s.weight_count;
  for (int part = 0; part < 2; ++part) {
    const int64_t lo = std::max(first, part == 0 ? int64_t{0} : nw);
    const int64_t hi = std::min(first + count, part == 0 ? nw : n);
    if (hi <= lo) continue;
    const int64_t off = lo, cnt = hi - lo;
    const float wd = part == 0 ? static_cast<float>(opt_.weight_decay) : 0.f;
    void* lp = lowp ? static_cast<char*>(lowp) + off * SizeOf(dtype_) : nullptr;
    float* m = opt_m_.as<float>() + s.param_offset + off;
    if (opt_.kind == "adam")
      AdamUpdate(w + off, g + off, m, opt_v_.as<float>() + s.param_offset + off, cnt,
                 static_cast<float>(opt_.learning_rate), static_cast<float>(opt_.beta1),
                 static_cast<float>(opt_.beta2), static_cast<float>(opt_.epsilon), wd, step_,
                 dtype_, lp, stream_);
    else
      SgdMomentumUpdate(w + off, g + off, m, cnt, static_cast<float>(opt_.learning_rate),
                        static_cast<float>(opt_.momentum), wd, dtype_, lp, stream_);
  }
  CUDA_CHECK(cudaMemsetAsync(GradsLp(s) + first * SizeOf(dtype_), 0,
                             static_cast<size_t>(count) * SizeOf(dtype_), stream_));
}

void CudaBackend::ZeroGradients(const std::vector<int>& layers) {
  for (int v : layers) {
    auto it = states_.find(v);
    if (it == states_.end() || !it->second->owned) continue;
    const LayerState& s = *it->second;
    const size_t bytes = static_cast<size_t>(s.weight_count + s.bias_count) * SizeOf(dtype_);
    if (bytes) CUDA_CHECK(cudaMemsetAsync(GradsLp(s), 0, bytes, stream_));
  }
}

double CudaBackend::Loss(int mb) {
  for (auto& [v, s] : states_) {
    if (!s->owned || s->layer->type != LayerType::kLoss) continue;
    float sum = 0;
    CUDA_CHECK(cudaMemcpyAsync(&sum, s->loss_sum[mb].data(), 4, cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return sum / static_cast<double>(n_);
  }
  throw RuntimeError("cuda backend: Loss asked of a rank without the loss layer");
}

int64_t CudaBackend::Correct(int mb) {
  for (auto& [v, s] : states_) {
    if (!s->owned || s->layer->type != LayerType::kLoss) continue;
    const LayerState& in = *states_.at(s->layer->inputs[0]);
    const int64_t classes = s->layer->in_shapes[0].elements();
    std::vector<float> logits(static_cast<size_t>(n_ * classes));
    DeviceBuffer f32(logits.size() * 4);
    Axpby(DType::kF32, f32.data(), dtype_, in.out[mb].data(), n_ * classes, 0.f, stream_);
    std::vector<int32_t> labels(static_cast<size_t>(n_));
    CUDA_CHECK(cudaMemcpyAsync(logits.data(), f32.data(), logits.size() * 4, cudaMemcpyDeviceToHost,
                               stream_));
    CUDA_CHECK(cudaMemcpyAsync(labels.data(), s->labels[mb].data(), labels.size() * 4,
                               cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    int64_t correct = 0;
    for (int64_t i = 0; i < n_; ++i) {
      const float* row = logits.data() + i * classes;
      correct += (std::max_element(row, row + classes) - row) == labels[i];
    }
    return correct;
  }
  throw RuntimeError("cuda backend: Correct asked of a rank without the loss layer");
}

exec::Buffer CudaBackend::Parameters(int layer) {
  LayerState& s = State(layer, "parameters");
  const size_t n = static_cast<size_t>(s.weight_count + s.bias_count);
  if (n == 0) return {};
  return {ParamsLp(s), n * SizeOf(dtype_), exec::MemoryKind::kDevice};
}

exec::Buffer CudaBackend::Gradients(int layer) {
  LayerState& s = State(layer, "gradients");
  const size_t n = static_cast<size_t>(s.weight_count + s.bias_count);
  if (n == 0) return {};
  return {GradsLp(s), n * SizeOf(dtype_), exec::MemoryKind::kDevice};
}

exec::Buffer CudaBackend::Activation(int layer, int mb) {
  LayerState& s = State(layer, "activation");
  return {s.out.at(mb).data(), s.out.at(mb).bytes(), exec::MemoryKind::kDevice};
}

exec::Buffer CudaBackend::ActivationGrad(int layer, int mb) {
  LayerState& s = State(layer, "activation gradient");
  // Communication accumulates into it or sends it: a gradient nobody wrote yet is zero.
  char& fresh = Fresh(layer, mb);
  if (fresh) {
    CUDA_CHECK(cudaMemsetAsync(s.dout.at(mb).data(), 0, s.dout.at(mb).bytes(), stream_));
    fresh = 0;
  }
  return {s.dout.at(mb).data(), s.dout.at(mb).bytes(), exec::MemoryKind::kDevice};
}

exec::Buffer CudaBackend::Allocate(size_t bytes) {
  allocations_.emplace_back(std::max<size_t>(bytes, 1));
  return {allocations_.back().data(), bytes, exec::MemoryKind::kDevice};
}

void CudaBackend::Copy(exec::Buffer dst, exec::Buffer src) {
  if (dst.bytes != src.bytes)
    throw RuntimeError("cuda backend: copy of " + std::to_string(src.bytes) + " bytes into " +
                       std::to_string(dst.bytes));
  CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, src.bytes, cudaMemcpyDefault, stream_));
}

void CudaBackend::Accumulate(exec::Buffer dst, exec::Buffer src, exec::DataType type) {
  const DType t = ToDType(type);
  Axpby(t, dst.data, t, src.data, static_cast<int64_t>(dst.bytes / SizeOf(t)), 1.f, stream_);
}

void CudaBackend::Cast(exec::Buffer dst, exec::DataType to, exec::Buffer src, exec::DataType from) {
  const DType t = ToDType(from);
  Axpby(ToDType(to), dst.data, t, src.data, static_cast<int64_t>(src.bytes / SizeOf(t)), 0.f,
        stream_);
}

void CudaBackend::Synchronize() {
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  peak_used_ = std::max(peak_used_, DeviceUsedBytes() - baseline_used_);
}

int64_t CudaBackend::PeakMemoryBytes() const {
  return static_cast<int64_t>(PeakAllocatedBytes() - baseline_bytes_);
}

std::map<std::string, int64_t> CudaBackend::MemoryBytes() const {
  auto sum = [](std::initializer_list<const DeviceBuffer*> bs) {
    int64_t n = 0;
    for (const DeviceBuffer* b : bs) n += static_cast<int64_t>(b->bytes());
    return n;
  };
  std::map<std::string, int64_t> m;
  m["weights"] = sum({&master_, &params_lp_store_});
  m["gradients"] = sum({&grads_, &grads32_});
  m["optimizer"] = sum({&opt_m_, &opt_v_});
  m["workspace"] = sum({&workspace_, &scratch_, &staging_, &ones_, &bn_workspace_});
  m["buffers"] = 0;
  for (const DeviceBuffer& b : allocations_) m["buffers"] += static_cast<int64_t>(b.bytes());
  // Activations: the arena, tensors outside it and the per-layer state kept for backward
  // (batch-norm statistics, dropout reserves, loss buffers): everything else allocated.
  int64_t rest = static_cast<int64_t>(AllocatedBytes() - baseline_bytes_);
  for (const auto& [k, v] : m) rest -= v;
  m["activations"] = rest;
  return m;
}

}  // namespace

std::unique_ptr<exec::ComputeBackend> MakeCudaBackend(CudaOptions options) {
  return std::make_unique<CudaBackend>(std::move(options));
}

double LastCallDeviceSeconds(const exec::ComputeBackend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  return cuda ? cuda->last_call_s() : -1;
}

std::string CudaUnavailableReason() {
  return NoDeviceReason();
}

}  // namespace convscale::cuda
