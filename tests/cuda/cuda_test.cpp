// The CUDA backend (execute/cuda/). With a GPU: every cuDNN/cuBLAS layer against a CPU reference
// on small tensors (forward, backward-data, backward-weight), the optimizer step, and an NCCL
// all-reduce on one rank. Without one, those tests skip with CUDA's own reason; the error texts
// and the failing `convscale execute --backend cuda` run are checked everywhere.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "execute/cuda/check.h"
#include "execute/cuda/cuda_backend.h"
#include "execute/cuda/kernels.h"
#include "model/graph/network.h"
#include "model/util/error.h"

#ifdef CONVSCALE_CUDA_WITH_MPI
#include <mpi.h>
#endif

namespace convscale::cuda {
namespace {

using exec::Buffer;
using graph::Builder;
using graph::Network;
using graph::Shape;

#define REQUIRE_GPU()                                            \
  do {                                                           \
    if (std::string why = CudaUnavailableReason(); !why.empty()) \
      GTEST_SKIP() << "no CUDA device: " << why;                 \
  } while (0)

std::vector<float> Download(Buffer b) {
  std::vector<float> v(b.bytes / 4);
  if (v.empty()) return v;
  EXPECT_EQ(cudaMemcpy(v.data(), b.data, b.bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  return v;
}
void Upload(Buffer b, const std::vector<float>& v) {
  ASSERT_EQ(v.size() * 4, b.bytes);
  ASSERT_EQ(cudaMemcpy(b.data, v.data(), b.bytes, cudaMemcpyHostToDevice), cudaSuccess);
  // The backend's streams do not synchronise with the legacy stream cudaMemcpy uses.
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}
std::vector<float> Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}
void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::fabs(want[i]))) << what << " element " << i;
}

// ---- Error texts (no device needed) ----

TEST(CudaCheck, CudaErrorNamesCallFileLineAndCudaString) {
  try {
    CUDA_CHECK(cudaErrorInvalidValue);
    FAIL() << "no throw";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cudaErrorInvalidValue at tests/cuda/cuda_test.cpp:" + std::to_string(__LINE__ - 4) +
                  ": CUDA error 1 (cudaErrorInvalidValue): invalid argument");
  }
}

TEST(CudaCheck, CublasAndNcclErrorsCarryTheLibraryString) {
  try {
    CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED);
    FAIL() << "no throw";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  ": cuBLAS error 1 (CUBLAS_STATUS_NOT_INITIALIZED): the library was not "
                  "initialized"),
              std::string::npos)
        << e.what();
  }
  try {
    NCCL_CHECK(ncclInvalidArgument);
    FAIL() << "no throw";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("ncclInvalidArgument at tests/cuda/cuda_test.cpp:", 0),
              0u)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("NCCL error 4: invalid argument"), std::string::npos)
        << e.what();
  }
  try {
    CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM);
    FAIL() << "no throw";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("cuDNN error 2000 (CUDNN_STATUS_BAD_PARAM)"),
              std::string::npos)
        << e.what();
  }
}

TEST(CudaBackend, NoDeviceSetupFailsWithTheCudaErrorString) {
  const std::string why = CudaUnavailableReason();
  if (why.empty()) GTEST_SKIP() << "a CUDA device is present; this test is for machines without";
  Network net("one", {1, 2, 2}, 2);
  Builder b{net};
  b.ReLU("relu", 0);
  net.Infer(1);
  auto backend = MakeCudaBackend();
  try {
    backend->Setup(net, {0, 1}, exec::BackendConfig{});
    FAIL() << "Setup succeeded without a device";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()), "no CUDA device: " + why);
    EXPECT_NE(why.find("cudaGetDeviceCount: "), std::string::npos) << why;
  }
}

TEST(CudaBackend, NcclAlgorithmNames) {
  EXPECT_EQ(NcclAlgoFor(plan::Algorithm::kRing), "Ring");
  EXPECT_EQ(NcclAlgoFor(plan::Algorithm::kTree), "Tree");
  EXPECT_EQ(NcclAlgoFor(plan::Algorithm::kHalvingDoubling), "");
}

// ---- Layers against CPU references (device needed) ----

constexpr int64_t kN = 2;  // samples

struct OneLayer {
  Network net;
  int layer = 1;
  std::unique_ptr<exec::ComputeBackend> backend = MakeCudaBackend();
  std::vector<float> x, y, dy, dx, w, dw;

  // Builds input(shape) -> layer, runs forward, backward-data and backward-weight with random
  // x and dy on the device (fp32, strict FMA math, NCHW).
  template <class Add>
  OneLayer(Shape in, Add add, const std::vector<int32_t>& labels = {}) : net("one", in, 5) {
    Builder b{net};
    layer = add(b);
    net.Infer(kN);
    // As if the input came from a trainable layer: backward-data is computed, not skipped.
    net.layer(layer).needs_input_grad = true;
    exec::BackendConfig cfg;
    cfg.micro_batch = kN;
    backend->Setup(net, {0, layer}, cfg);
    x = Random(static_cast<size_t>(kN * in.elements()), 1);
    backend->SetInput(0, x.data(), labels.empty() ? nullptr : labels.data(), kN);
    backend->Forward(0, 0);
    backend->Forward(layer, 0);
    backend->Synchronize();
    if (net.layer(layer).type != graph::LayerType::kLoss) {
      y = Download(backend->Activation(layer, 0));
      dy = Random(y.size(), 2);
      Upload(backend->ActivationGrad(layer, 0), dy);
    }
    w = Download(backend->Parameters(layer));
    backend->BackwardData(layer, 0);
    backend->BackwardWeight(layer, 0);
    backend->Synchronize();
    dx = Download(backend->ActivationGrad(0, 0));
    dw = Download(backend->Gradients(layer));
  }
};

TEST(CudaLayers, ConvolutionMatchesDirectLoops) {
  REQUIRE_GPU();
  const int C = 3, H = 5, W = 5, K = 4, R = 3, S = 3, stride = 2, pad = 1, OH = 3, OW = 3;
  OneLayer t({C, H, W}, [](Builder& b) { return b.Conv("conv", 0, 4, 3, 2, 1, 1, true); });
  std::vector<float> y(kN * K * OH * OW), dx(t.x.size(), 0.f), dw(t.w.size(), 0.f);
  auto X = [&](int n, int c, int h, int w) { return t.x[((n * C + c) * H + h) * W + w]; };
  auto Wt = [&](int k, int c, int r, int s) { return t.w[((k * C + c) * R + r) * S + s]; };
  for (int n = 0; n < kN; ++n)
    for (int k = 0; k < K; ++k)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          const size_t yi = ((n * K + k) * OH + oh) * OW + ow;
          double acc = t.w[K * C * R * S + k];
          for (int c = 0; c < C; ++c)
            for (int r = 0; r < R; ++r)
              for (int s = 0; s < S; ++s) {
                const int h = oh * stride - pad + r, w = ow * stride - pad + s;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                acc += double(Wt(k, c, r, s)) * X(n, c, h, w);
                dx[((n * C + c) * H + h) * W + w] += Wt(k, c, r, s) * t.dy[yi];
                dw[((k * C + c) * R + r) * S + s] += X(n, c, h, w) * t.dy[yi];
              }
          y[yi] = static_cast<float>(acc);
          dw[K * C * R * S + k] += t.dy[yi];
        }
  ExpectNear(t.y, y, "forward");
  ExpectNear(t.dx, dx, "backward-data");
  ExpectNear(t.dw, dw, "backward-weight");
}

// The element-wise kernels against host loops, in fp32 and bf16, on an aligned length-1,000,003
// buffer (16-byte packs plus a tail) and on buffers offset by one element (the unaligned path).
TEST(CudaKernels, ReluAddAndAxpbyMatchHostLoops) {
  REQUIRE_GPU();
  constexpr int64_t kLen = 1000003;
  for (DType t : {DType::kF32, DType::kBF16}) {
    for (int64_t offset : {0, 1}) {
      SCOPED_TRACE(std::string(Name(t)) + " offset " + std::to_string(offset));
      const int64_t n = kLen - offset;
      // Values exactly representable in bf16 (multiples of 1/8 in [-16, 16)), so every result
      // below is exact in both types.
      auto values = [&](uint64_t seed) {
        std::mt19937_64 rng(seed);
        std::vector<float> v(static_cast<size_t>(kLen));
        for (auto& x : v) x = static_cast<float>(static_cast<int>(rng() % 256) - 128) / 8.f;
        return v;
      };
      const std::vector<float> a = values(1), b = values(2), g = values(3), d0 = values(4);
      const size_t es = static_cast<size_t>(SizeOf(t));
      std::vector<void*> bufs(5);
      for (auto& p : bufs) ASSERT_EQ(cudaMalloc(&p, kLen * es), cudaSuccess);
      float* f32 = nullptr;
      ASSERT_EQ(cudaMalloc(&f32, kLen * 4), cudaSuccess);
      auto put = [&](void* dst, const std::vector<float>& v) {
        ASSERT_EQ(cudaMemcpy(f32, v.data(), kLen * 4, cudaMemcpyHostToDevice), cudaSuccess);
        Axpby(t, dst, DType::kF32, f32, kLen, 0.f, nullptr);
      };
      auto get = [&](const void* src) {
        Axpby(DType::kF32, f32, t, src, kLen, 0.f, nullptr);
        std::vector<float> v(static_cast<size_t>(kLen));
        EXPECT_EQ(cudaMemcpy(v.data(), f32, kLen * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        return v;
      };
      auto at = [&](void* p) { return static_cast<char*>(p) + offset * es; };
      put(bufs[0], a);
      put(bufs[1], b);
      put(bufs[2], g);
      put(bufs[3], d0);
      put(bufs[4], d0);
      Add(t, at(bufs[3]), at(bufs[0]), at(bufs[1]), n, nullptr);                // d3 = a + b
      ReluForward(t, at(bufs[1]), at(bufs[0]), n, nullptr);                     // b = relu(a)
      ReluBackward(t, at(bufs[4]), at(bufs[1]), at(bufs[2]), n, 1.f, nullptr);  // d4 += ...
      ReluBackward(t, at(bufs[0]), at(bufs[1]), at(bufs[2]), n, 0.f, nullptr);  // a = ...
      Axpby(t, at(bufs[2]), t, at(bufs[1]), n, 1.f, nullptr);                   // g += relu(a)
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const auto sum = get(bufs[3]), relu = get(bufs[1]), acc = get(bufs[4]), grad = get(bufs[0]),
                 axpby = get(bufs[2]);
      for (int64_t i = 0; i < kLen; ++i) {
        const bool in = i >= offset;
        const float r = a[i] > 0 ? a[i] : 0.f, dr = a[i] > 0 ? g[i] : 0.f;
        ASSERT_EQ(sum[i], in ? a[i] + b[i] : d0[i]) << "add, element " << i;
        ASSERT_EQ(relu[i], in ? r : b[i]) << "relu forward, element " << i;
        ASSERT_EQ(acc[i], in ? d0[i] + dr : d0[i]) << "relu backward beta 1, element " << i;
        ASSERT_EQ(grad[i], in ? dr : a[i]) << "relu backward beta 0, element " << i;
        ASSERT_EQ(axpby[i], in ? g[i] + r : g[i]) << "axpby, element " << i;
      }
      for (void* p : bufs) cudaFree(p);
      cudaFree(f32);
    }
  }
}

// Device timing: a task's events lie inside the host interval that queued and waited for it, and
// its duration is at least the convolution's FLOPs at 2 PFLOP/s (above any GPU's fp32 peak), so
// the times are the device's, not the microseconds the host took to queue the call.
TEST(CudaTiming, TaskTimesAreDeviceTimesInsideTheHostInterval) {
  REQUIRE_GPU();
  constexpr int64_t kBatch = 32;
  Network net("timing", {64, 56, 56}, 5);
  Builder b{net};
  const int conv = b.Conv("conv", 0, 64, 3, 1, 1, 1, false);
  net.Infer(kBatch);
  const double flops = 2.0 * kBatch * 64 * 56 * 56 * 64 * 3 * 3;  // 2 FLOPs per MAC
  auto backend = MakeCudaBackend();
  exec::BackendConfig cfg;
  cfg.micro_batch = kBatch;
  backend->Setup(net, {0, conv}, cfg);
  std::vector<float> x = Random(static_cast<size_t>(kBatch * 64 * 56 * 56), 3);
  backend->SetInput(0, x.data(), nullptr, kBatch);
  backend->Forward(conv, 0);  // warm-up: algorithm caches, first launches
  backend->Synchronize();
  EXPECT_TRUE(backend->TaskTimes(0).empty()) << "no task was bracketed";
  auto now = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  const double before = now();
  for (int task = 10; task < 13; ++task) {
    backend->BeginTask(task);
    backend->Forward(conv, 0);
    backend->EndTask(task);
  }
  backend->Synchronize();
  const double after = now();
  const auto times = backend->TaskTimes(after);
  ASSERT_EQ(times.size(), 3u);
  for (size_t i = 0; i < times.size(); ++i) {
    SCOPED_TRACE("task " + std::to_string(times[i].task));
    EXPECT_EQ(times[i].task, 10 + static_cast<int>(i));
    EXPECT_GE(times[i].start_s, before - 1e-4);
    EXPECT_LE(times[i].end_s, after + 1e-4);
    EXPECT_GE(times[i].end_s - times[i].start_s, flops / 2e15);
    if (i > 0) {
      EXPECT_GE(times[i].start_s, times[i - 1].end_s - 1e-6) << "one stream: in order";
    }
  }
  EXPECT_TRUE(backend->TaskTimes(after).empty()) << "TaskTimes forgets what it returned";
  EXPECT_THROW(backend->EndTask(99), RuntimeError);

  // The profiling backend waits for each call and reports its device time.
  CudaOptions sync;
  sync.synchronous = true;
  auto profiled = MakeCudaBackend(sync);
  profiled->Setup(net, {0, conv}, cfg);
  profiled->SetInput(0, x.data(), nullptr, kBatch);
  profiled->Forward(conv, 0);
  const double t0 = now();
  profiled->Forward(conv, 0);
  const double host_s = now() - t0;
  const double device_s = LastCallDeviceSeconds(*profiled);
  EXPECT_GE(device_s, flops / 2e15);
  EXPECT_LE(device_s, host_s + 1e-5) << "the call returned only after its device work";
  EXPECT_EQ(LastCallDeviceSeconds(*backend), -1) << "not a synchronous backend";
}

// `profile` records each convolution's cuDNN algorithms (Choices) and `execute --profile` hands
// them back (BackendConfig::choices): the second backend runs exactly the recorded kernels; a
// recorded algorithm that does not apply (an unknown id) falls back to cudnnFind.
TEST(CudaBackend, RecordedConvolutionAlgorithmsAreUsedAgain) {
  REQUIRE_GPU();
  Network net("choices", {64, 28, 28}, 5);
  Builder b{net};
  const int conv = b.Conv("conv", 0, 64, 3, 1, 1, 1, false);
  net.Infer(16);
  exec::BackendConfig cfg;
  cfg.micro_batch = 16;
  cfg.precision = "bf16";
  auto first = MakeCudaBackend();
  first->Setup(net, {0, conv}, cfg);
  const std::map<std::string, int> chosen = first->Choices(conv);
  ASSERT_EQ(chosen.size(), 6u);
  EXPECT_TRUE(first->Choices(0).empty()) << "the input layer has no kernels to choose";

  cfg.choices = {{"conv", chosen}};
  auto again = MakeCudaBackend();
  again->Setup(net, {0, conv}, cfg);
  EXPECT_EQ(again->Choices(conv), chosen);
  EXPECT_NE(again->device_description().find("1 of 1 as the profile recorded"), std::string::npos)
      << again->device_description();

  cfg.choices["conv"]["forward"] = 999;
  auto fallback = MakeCudaBackend();
  fallback->Setup(net, {0, conv}, cfg);
  EXPECT_NE(fallback->device_description().find("0 of 1 as the profile recorded"),
            std::string::npos)
      << fallback->device_description();
  EXPECT_NE(fallback->Choices(conv).at("forward"), 999);
}

TEST(CudaLayers, FullyConnectedMatchesMatrixProducts) {
  REQUIRE_GPU();
  const int I = 6, O = 4;
  OneLayer t({I, 1, 1}, [](Builder& b) { return b.Linear("fc", 0, 4); });
  std::vector<float> y(kN * O), dx(kN * I, 0.f), dw(t.w.size(), 0.f);
  for (int n = 0; n < kN; ++n)
    for (int o = 0; o < O; ++o) {
      double acc = t.w[O * I + o];
      for (int i = 0; i < I; ++i) {
        acc += double(t.w[o * I + i]) * t.x[n * I + i];
        dx[n * I + i] += t.w[o * I + i] * t.dy[n * O + o];
        dw[o * I + i] += t.x[n * I + i] * t.dy[n * O + o];
      }
      y[n * O + o] = static_cast<float>(acc);
      dw[O * I + o] += t.dy[n * O + o];
    }
  ExpectNear(t.y, y, "forward");
  ExpectNear(t.dx, dx, "backward-data");
  ExpectNear(t.dw, dw, "backward-weight");
}

TEST(CudaLayers, BatchNormMatchesTrainingModeFormulas) {
  REQUIRE_GPU();
  const int C = 3, HW = 16;
  OneLayer t({C, 4, 4}, [](Builder& b) { return b.BatchNorm("bn", 0); });
  ASSERT_EQ(t.w, std::vector<float>({1, 1, 1, 0, 0, 0}));  // gamma = 1, beta = 0
  const double m = kN * HW, eps = 1e-5;
  std::vector<float> y(t.x.size()), dx(t.x.size()), dw(2 * C);
  for (int c = 0; c < C; ++c) {
    double mean = 0, var = 0, sdy = 0, sdyx = 0;
    auto at = [&](int n, int i) { return (n * C + c) * HW + i; };
    for (int n = 0; n < kN; ++n)
      for (int i = 0; i < HW; ++i) mean += t.x[at(n, i)] / m;
    for (int n = 0; n < kN; ++n)
      for (int i = 0; i < HW; ++i) var += (t.x[at(n, i)] - mean) * (t.x[at(n, i)] - mean) / m;
    const double inv = 1 / std::sqrt(var + eps);
    for (int n = 0; n < kN; ++n)
      for (int i = 0; i < HW; ++i) {
        const double xh = (t.x[at(n, i)] - mean) * inv;
        y[at(n, i)] = static_cast<float>(xh);
        sdy += t.dy[at(n, i)];
        sdyx += t.dy[at(n, i)] * xh;
      }
    for (int n = 0; n < kN; ++n)
      for (int i = 0; i < HW; ++i) {
        const double xh = (t.x[at(n, i)] - mean) * inv;
        dx[at(n, i)] = static_cast<float>(inv / m * (m * t.dy[at(n, i)] - sdy - xh * sdyx));
      }
    dw[c] = static_cast<float>(sdyx);
    dw[C + c] = static_cast<float>(sdy);
  }
  ExpectNear(t.y, y, "forward");
  ExpectNear(t.dx, dx, "backward-data");
  ExpectNear(t.dw, dw, "backward-weight");
}

TEST(CudaLayers, ReluAndPoolingMatchReferences) {
  REQUIRE_GPU();
  {
    OneLayer t({2, 3, 3}, [](Builder& b) { return b.ReLU("relu", 0); });
    std::vector<float> y(t.x.size()), dx(t.x.size());
    for (size_t i = 0; i < y.size(); ++i) {
      y[i] = t.x[i] > 0 ? t.x[i] : 0;
      dx[i] = t.x[i] > 0 ? t.dy[i] : 0;
    }
    ExpectNear(t.y, y, "relu forward");
    ExpectNear(t.dx, dx, "relu backward");
    EXPECT_TRUE(t.dw.empty());
  }
  for (bool max : {true, false}) {
    OneLayer t({2, 4, 4}, [&](Builder& b) {
      return max ? b.MaxPool("pool", 0, 2, 2) : b.AvgPool("pool", 0, 2, 2);
    });
    std::vector<float> y(kN * 2 * 4), dx(t.x.size(), 0.f);
    for (int nc = 0; nc < kN * 2; ++nc)
      for (int oh = 0; oh < 2; ++oh)
        for (int ow = 0; ow < 2; ++ow) {
          const int o = (nc * 2 + oh) * 2 + ow;
          int arg = -1;
          float best = -1e30f, sum = 0;
          for (int r = 0; r < 2; ++r)
            for (int s = 0; s < 2; ++s) {
              const int i = (nc * 4 + oh * 2 + r) * 4 + ow * 2 + s;
              sum += t.x[i];
              if (t.x[i] > best) best = t.x[i], arg = i;
            }
          y[o] = max ? best : sum / 4;
          if (max) {
            dx[arg] += t.dy[o];
          } else {
            for (int r = 0; r < 2; ++r)
              for (int s = 0; s < 2; ++s) dx[(nc * 4 + oh * 2 + r) * 4 + ow * 2 + s] += t.dy[o] / 4;
          }
        }
    ExpectNear(t.y, y, max ? "max pool forward" : "avg pool forward");
    ExpectNear(t.dx, dx, max ? "max pool backward" : "avg pool backward");
  }
}

TEST(CudaLayers, SoftmaxCrossEntropyLossAndGradient) {
  REQUIRE_GPU();
  const std::vector<int32_t> labels = {3, 0};
  OneLayer t(
      {5, 1, 1}, [](Builder& b) { return b.Loss("loss", 0); }, labels);
  double loss = 0;
  std::vector<float> dx(t.x.size());
  for (int n = 0; n < kN; ++n) {
    const float* row = t.x.data() + n * 5;
    double mx = *std::max_element(row, row + 5), s = 0;
    for (int c = 0; c < 5; ++c) s += std::exp(row[c] - mx);
    loss += (std::log(s) + mx - row[labels[n]]) / kN;
    for (int c = 0; c < 5; ++c)
      dx[n * 5 + c] = static_cast<float>((std::exp(row[c] - mx) / s - (c == labels[n])) / kN);
  }
  EXPECT_NEAR(t.backend->Loss(0), loss, 1e-5);
  ExpectNear(t.dx, dx, "loss gradient");
}

TEST(CudaLayers, SgdMomentumStepMatchesPyTorchFormula) {
  REQUIRE_GPU();
  OneLayer t({6, 1, 1}, [](Builder& b) { return b.Linear("fc", 0, 4); });
  t.backend->Update({t.layer});  // lr 0.01, momentum 0.9, no weight decay: v = g, w -= lr g
  t.backend->Synchronize();
  std::vector<float> w = t.w;
  for (size_t i = 0; i < w.size(); ++i) w[i] -= 0.01f * t.dw[i];
  ExpectNear(Download(t.backend->Parameters(t.layer)), w, "updated weights");
  for (float g : Download(t.backend->Gradients(t.layer))) ASSERT_EQ(g, 0.f);
}

// ---- NCCL on one rank ----

#ifdef CONVSCALE_CUDA_WITH_MPI
// Finalises MPI after the last test when a test started it.
class MpiFinalizer : public ::testing::Environment {
 public:
  void TearDown() override {
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (initialised && !finalised) MPI_Finalize();
  }
};
[[maybe_unused]] const auto* const kMpiEnv = ::testing::AddGlobalTestEnvironment(new MpiFinalizer);

TEST(CudaNccl, AllReduceOnOneRankKeepsTheBuffer) {
  REQUIRE_GPU();
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    ASSERT_EQ(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), MPI_SUCCESS);
  }
  auto comm = MakeNcclCommunicator(0, "Ring");
  EXPECT_EQ(comm->size(), 1);
  EXPECT_NE(comm->method().find("NCCL_ALGO=Ring"), std::string::npos) << comm->method();
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 4 * 4), cudaSuccess);
  std::vector<float> v = {1, 2, 3, 4};
  ASSERT_EQ(cudaMemcpy(d, v.data(), 16, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  exec::CommGroup g;
  g.ranks = {0};
  g.index = 0;
  comm->Collective(plan::Collective::kAllReduce, plan::Algorithm::kRing,
                   {d, 16, exec::MemoryKind::kDevice}, exec::DataType::kF32, g, 0, 1);
  std::vector<float> out(4);
  ASSERT_EQ(cudaMemcpy(out.data(), d, 16, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(out, v);
  cudaFree(d);
}
#endif

// ---- The command line without a device ----

// Runs a shell command; returns the exit status (-signal when killed) and the combined output.
std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int st = pclose(p);
  if (WIFSIGNALED(st)) return {-WTERMSIG(st), out};
  return {WEXITSTATUS(st), out};
}

TEST(CudaCli, ExecuteWithoutDeviceExitsNonZeroWithTheCudaError) {
  const std::string why = CudaUnavailableReason();
  if (why.empty()) GTEST_SKIP() << "a CUDA device is present; this test is for machines without";
  const std::string bin = CONVSCALE_BINARY;
  if (Shell(bin + " execute --help").first != 0)
    GTEST_SKIP() << "this convscale has no execute command";
  const auto dir = std::filesystem::temp_directory_path() / "convscale_cuda_test";
  std::filesystem::create_directories(dir);
  const std::string plan = (dir / "plan.json").string();
  const auto made =
      Shell(bin + " plan --model resnet18 --cluster dgx-h100 --gpus 1 --strategy dp -o " + plan);
  if (made.first != 0) GTEST_SKIP() << "could not make a plan to execute: " << made.second;
  const auto [rc, out] = Shell(bin + " execute --backend cuda --plan " + plan + " --iterations 1");
  if (out.find("\"cuda\" is not available in this build") != std::string::npos)
    GTEST_SKIP() << "this convscale's execute does not offer --backend cuda yet: " << out;
  EXPECT_GT(rc, 0) << out;  // an exit code, not a signal
  EXPECT_NE(out.find("no CUDA device: " + why), std::string::npos) << out;
}

}  // namespace
}  // namespace convscale::cuda
