// The built-in model zoo, each network built layer by layer as torchvision builds it
// (torchvision/models/{alexnet,vgg,resnet,inception,mobilenetv2,densenet}.py). Layer names follow
// torchvision's module names ("layer1.0.conv1", "features.denseblock1.denselayer1.norm1"); layers
// that torchvision applies as functions (F.relu, torch.cat, the residual "+", flatten) get names
// in the same style ("layer1.0.add", "Mixed_5b.cat"). Every network ends in a `loss` layer
// (softmax + cross-entropy); inception_v3 in training mode also has one after its auxiliary head.
#include "model/graph/zoo.h"

#include <cctype>
#include <filesystem>
#include <map>

#include "model/graph/model_json.h"
#include "model/util/error.h"

namespace convscale::graph {
namespace {

constexpr int64_t kImageNetClasses = 1000;

// A small CNN for 28x28 grey images (Fashion-MNIST): two conv+relu+pool blocks, two linear.
Network FashionCnn() {
  Network net("fashion_cnn", {1, 28, 28}, 10);
  Builder b{net};
  int x = b.Conv("conv1", 0, 32, 3, 1, 1, 1, true);
  x = b.ReLU("relu1", x);
  x = b.MaxPool("pool1", x, 2, 2);
  x = b.Conv("conv2", x, 64, 3, 1, 1, 1, true);
  x = b.ReLU("relu2", x);
  x = b.MaxPool("pool2", x, 2, 2);
  x = b.Flatten("flatten", x);
  x = b.Linear("fc1", x, 128);
  x = b.ReLU("relu3", x);
  x = b.Linear("fc2", x, 10);
  b.Loss("loss", x);
  return net;
}

// ---- AlexNet (torchvision/models/alexnet.py) ----

Network AlexNet() {
  Network net("alexnet", {3, 224, 224}, kImageNetClasses);
  Builder b{net};
  int x = b.Conv("features.0", 0, 64, 11, 4, 2, 1, true);
  x = b.ReLU("features.1", x);
  x = b.MaxPool("features.2", x, 3, 2);
  x = b.Conv("features.3", x, 192, 5, 1, 2, 1, true);
  x = b.ReLU("features.4", x);
  x = b.MaxPool("features.5", x, 3, 2);
  x = b.Conv("features.6", x, 384, 3, 1, 1, 1, true);
  x = b.ReLU("features.7", x);
  x = b.Conv("features.8", x, 256, 3, 1, 1, 1, true);
  x = b.ReLU("features.9", x);
  x = b.Conv("features.10", x, 256, 3, 1, 1, 1, true);
  x = b.ReLU("features.11", x);
  x = b.MaxPool("features.12", x, 3, 2);
  x = b.AdaptiveAvgPool("avgpool", x, 6, 6);
  x = b.Flatten("flatten", x);
  x = b.Dropout("classifier.0", x, 0.5);
  x = b.Linear("classifier.1", x, 4096);
  x = b.ReLU("classifier.2", x);
  x = b.Dropout("classifier.3", x, 0.5);
  x = b.Linear("classifier.4", x, 4096);
  x = b.ReLU("classifier.5", x);
  x = b.Linear("classifier.6", x, kImageNetClasses);
  b.Loss("loss", x);
  return net;
}

// ---- VGG (torchvision/models/vgg.py, without batch norm) ----

// Channel counts of the 3x3 convolutions; 0 is a 2x2 max pool.
Network Vgg(const std::string& name, const std::vector<int>& cfg) {
  Network net(name, {3, 224, 224}, kImageNetClasses);
  Builder b{net};
  int x = 0;
  int index = 0;
  for (int c : cfg) {
    const std::string at = "features." + std::to_string(index);
    if (c == 0) {
      x = b.MaxPool(at, x, 2, 2);
      index += 1;
    } else {
      x = b.Conv(at, x, c, 3, 1, 1, 1, true);
      x = b.ReLU("features." + std::to_string(index + 1), x);
      index += 2;
    }
  }
  x = b.AdaptiveAvgPool("avgpool", x, 7, 7);
  x = b.Flatten("flatten", x);
  x = b.Linear("classifier.0", x, 4096);
  x = b.ReLU("classifier.1", x);
  x = b.Dropout("classifier.2", x, 0.5);
  x = b.Linear("classifier.3", x, 4096);
  x = b.ReLU("classifier.4", x);
  x = b.Dropout("classifier.5", x, 0.5);
  x = b.Linear("classifier.6", x, kImageNetClasses);
  b.Loss("loss", x);
  return net;
}

// ---- ResNet (torchvision/models/resnet.py; ResNet v1.5: the stride sits on the 3x3 conv) ----

int BasicBlock(Builder& b, const std::string& at, int x, int64_t inplanes, int64_t planes,
               int stride) {
  int y = b.Conv(at + ".conv1", x, planes, 3, stride, 1);
  y = b.BatchNorm(at + ".bn1", y);
  y = b.ReLU(at + ".relu1", y);
  y = b.Conv(at + ".conv2", y, planes, 3, 1, 1);
  y = b.BatchNorm(at + ".bn2", y);
  int identity = x;
  if (stride != 1 || inplanes != planes) {
    identity = b.Conv(at + ".downsample.0", x, planes, 1, stride);
    identity = b.BatchNorm(at + ".downsample.1", identity);
  }
  y = b.AddLayers(at + ".add", {y, identity});
  return b.ReLU(at + ".relu2", y);
}

int Bottleneck(Builder& b, const std::string& at, int x, int64_t inplanes, int64_t planes,
               int stride) {
  constexpr int64_t kExpansion = 4;
  int y = b.Conv(at + ".conv1", x, planes, 1);
  y = b.BatchNorm(at + ".bn1", y);
  y = b.ReLU(at + ".relu1", y);
  y = b.Conv(at + ".conv2", y, planes, 3, stride, 1);
  y = b.BatchNorm(at + ".bn2", y);
  y = b.ReLU(at + ".relu2", y);
  y = b.Conv(at + ".conv3", y, planes * kExpansion, 1);
  y = b.BatchNorm(at + ".bn3", y);
  int identity = x;
  if (stride != 1 || inplanes != planes * kExpansion) {
    identity = b.Conv(at + ".downsample.0", x, planes * kExpansion, 1, stride);
    identity = b.BatchNorm(at + ".downsample.1", identity);
  }
  y = b.AddLayers(at + ".add", {y, identity});
  return b.ReLU(at + ".relu3", y);
}

Network ResNet(const std::string& name, bool bottleneck, const std::vector<int>& blocks) {
  Network net(name, {3, 224, 224}, kImageNetClasses);
  Builder b{net};
  const int64_t expansion = bottleneck ? 4 : 1;
  int x = b.Conv("conv1", 0, 64, 7, 2, 3);
  x = b.BatchNorm("bn1", x);
  x = b.ReLU("relu", x);
  x = b.MaxPool("maxpool", x, 3, 2, 1);
  int64_t inplanes = 64;
  for (size_t stage = 0; stage < blocks.size(); ++stage) {
    const int64_t planes = int64_t{64} << stage;
    for (int i = 0; i < blocks[stage]; ++i) {
      const std::string at = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
      const int stride = (stage > 0 && i == 0) ? 2 : 1;
      x = bottleneck ? Bottleneck(b, at, x, inplanes, planes, stride)
                     : BasicBlock(b, at, x, inplanes, planes, stride);
      inplanes = planes * expansion;
    }
  }
  x = b.AdaptiveAvgPool("avgpool", x, 1, 1);
  x = b.Flatten("flatten", x);
  x = b.Linear("fc", x, kImageNetClasses);
  b.Loss("loss", x);
  return net;
}

// ---- Inception v3 (torchvision/models/inception.py, training mode: aux_logits=True) ----

// BasicConv2d: conv (no bias) + batch norm (eps 0.001) + relu.
// Rectangular kernels (1x7, 7x1, 1x3, 3x1) always have stride 1 in Inception v3.
int BasicConvRect(Builder& b, const std::string& at, int x, int64_t out, int kh, int kw, int ph,
                  int pw) {
  x = b.ConvRect(at + ".conv", x, out, kh, kw, 1, 1, ph, pw);
  x = b.BatchNorm(at + ".bn", x);
  return b.ReLU(at + ".relu", x);
}
int BasicConv(Builder& b, const std::string& at, int x, int64_t out, int k, int stride = 1,
              int pad = 0) {
  x = b.Conv(at + ".conv", x, out, k, stride, pad);
  x = b.BatchNorm(at + ".bn", x);
  return b.ReLU(at + ".relu", x);
}

int InceptionA(Builder& b, const std::string& at, int x, int64_t pool_features) {
  const int b1 = BasicConv(b, at + ".branch1x1", x, 64, 1);
  int b5 = BasicConv(b, at + ".branch5x5_1", x, 48, 1);
  b5 = BasicConv(b, at + ".branch5x5_2", b5, 64, 5, 1, 2);
  int b3 = BasicConv(b, at + ".branch3x3dbl_1", x, 64, 1);
  b3 = BasicConv(b, at + ".branch3x3dbl_2", b3, 96, 3, 1, 1);
  b3 = BasicConv(b, at + ".branch3x3dbl_3", b3, 96, 3, 1, 1);
  int bp = b.AvgPool(at + ".avg_pool", x, 3, 1, 1);
  bp = BasicConv(b, at + ".branch_pool", bp, pool_features, 1);
  return b.Concat(at + ".cat", {b1, b5, b3, bp});
}

int InceptionB(Builder& b, const std::string& at, int x) {
  const int b3 = BasicConv(b, at + ".branch3x3", x, 384, 3, 2);
  int bd = BasicConv(b, at + ".branch3x3dbl_1", x, 64, 1);
  bd = BasicConv(b, at + ".branch3x3dbl_2", bd, 96, 3, 1, 1);
  bd = BasicConv(b, at + ".branch3x3dbl_3", bd, 96, 3, 2);
  const int bp = b.MaxPool(at + ".max_pool", x, 3, 2);
  return b.Concat(at + ".cat", {b3, bd, bp});
}

int InceptionC(Builder& b, const std::string& at, int x, int64_t c7) {
  const int b1 = BasicConv(b, at + ".branch1x1", x, 192, 1);
  int b7 = BasicConv(b, at + ".branch7x7_1", x, c7, 1);
  b7 = BasicConvRect(b, at + ".branch7x7_2", b7, c7, 1, 7, 0, 3);
  b7 = BasicConvRect(b, at + ".branch7x7_3", b7, 192, 7, 1, 3, 0);
  int bd = BasicConv(b, at + ".branch7x7dbl_1", x, c7, 1);
  bd = BasicConvRect(b, at + ".branch7x7dbl_2", bd, c7, 7, 1, 3, 0);
  bd = BasicConvRect(b, at + ".branch7x7dbl_3", bd, c7, 1, 7, 0, 3);
  bd = BasicConvRect(b, at + ".branch7x7dbl_4", bd, c7, 7, 1, 3, 0);
  bd = BasicConvRect(b, at + ".branch7x7dbl_5", bd, 192, 1, 7, 0, 3);
  int bp = b.AvgPool(at + ".avg_pool", x, 3, 1, 1);
  bp = BasicConv(b, at + ".branch_pool", bp, 192, 1);
  return b.Concat(at + ".cat", {b1, b7, bd, bp});
}

int InceptionD(Builder& b, const std::string& at, int x) {
  int b3 = BasicConv(b, at + ".branch3x3_1", x, 192, 1);
  b3 = BasicConv(b, at + ".branch3x3_2", b3, 320, 3, 2);
  int b7 = BasicConv(b, at + ".branch7x7x3_1", x, 192, 1);
  b7 = BasicConvRect(b, at + ".branch7x7x3_2", b7, 192, 1, 7, 0, 3);
  b7 = BasicConvRect(b, at + ".branch7x7x3_3", b7, 192, 7, 1, 3, 0);
  b7 = BasicConv(b, at + ".branch7x7x3_4", b7, 192, 3, 2);
  const int bp = b.MaxPool(at + ".max_pool", x, 3, 2);
  return b.Concat(at + ".cat", {b3, b7, bp});
}

int InceptionE(Builder& b, const std::string& at, int x) {
  const int b1 = BasicConv(b, at + ".branch1x1", x, 320, 1);
  const int b3 = BasicConv(b, at + ".branch3x3_1", x, 384, 1);
  const int b3a = BasicConvRect(b, at + ".branch3x3_2a", b3, 384, 1, 3, 0, 1);
  const int b3b = BasicConvRect(b, at + ".branch3x3_2b", b3, 384, 3, 1, 1, 0);
  const int b3cat = b.Concat(at + ".branch3x3.cat", {b3a, b3b});
  int bd = BasicConv(b, at + ".branch3x3dbl_1", x, 448, 1);
  bd = BasicConv(b, at + ".branch3x3dbl_2", bd, 384, 3, 1, 1);
  const int bda = BasicConvRect(b, at + ".branch3x3dbl_3a", bd, 384, 1, 3, 0, 1);
  const int bdb = BasicConvRect(b, at + ".branch3x3dbl_3b", bd, 384, 3, 1, 1, 0);
  const int bdcat = b.Concat(at + ".branch3x3dbl.cat", {bda, bdb});
  int bp = b.AvgPool(at + ".avg_pool", x, 3, 1, 1);
  bp = BasicConv(b, at + ".branch_pool", bp, 192, 1);
  return b.Concat(at + ".cat", {b1, b3cat, bdcat, bp});
}

// InceptionAux: reads Mixed_6e (768x17x17), ends in its own classifier and loss.
void InceptionAux(Builder& b, const std::string& at, int x) {
  x = b.AvgPool(at + ".avg_pool", x, 5, 3);
  x = BasicConv(b, at + ".conv0", x, 128, 1);
  x = BasicConv(b, at + ".conv1", x, 768, 5);
  x = b.AdaptiveAvgPool(at + ".adaptive_avg_pool", x, 1, 1);
  x = b.Flatten(at + ".flatten", x);
  x = b.Linear(at + ".fc", x, kImageNetClasses);
  b.Loss(at + ".loss", x);
}

Network InceptionV3() {
  Network net("inception_v3", {3, 299, 299}, kImageNetClasses);
  Builder b{net};
  int x = BasicConv(b, "Conv2d_1a_3x3", 0, 32, 3, 2);
  x = BasicConv(b, "Conv2d_2a_3x3", x, 32, 3);
  x = BasicConv(b, "Conv2d_2b_3x3", x, 64, 3, 1, 1);
  x = b.MaxPool("maxpool1", x, 3, 2);
  x = BasicConv(b, "Conv2d_3b_1x1", x, 80, 1);
  x = BasicConv(b, "Conv2d_4a_3x3", x, 192, 3);
  x = b.MaxPool("maxpool2", x, 3, 2);
  x = InceptionA(b, "Mixed_5b", x, 32);
  x = InceptionA(b, "Mixed_5c", x, 64);
  x = InceptionA(b, "Mixed_5d", x, 64);
  x = InceptionB(b, "Mixed_6a", x);
  x = InceptionC(b, "Mixed_6b", x, 128);
  x = InceptionC(b, "Mixed_6c", x, 160);
  x = InceptionC(b, "Mixed_6d", x, 160);
  x = InceptionC(b, "Mixed_6e", x, 192);
  InceptionAux(b, "AuxLogits", x);
  x = InceptionD(b, "Mixed_7a", x);
  x = InceptionE(b, "Mixed_7b", x);
  x = InceptionE(b, "Mixed_7c", x);
  x = b.AdaptiveAvgPool("avgpool", x, 1, 1);
  x = b.Dropout("dropout", x, 0.5);
  x = b.Flatten("flatten", x);
  x = b.Linear("fc", x, kImageNetClasses);
  b.Loss("loss", x);
  return net;
}

// ---- MobileNet v2 (torchvision/models/mobilenetv2.py, width 1.0) ----

// Conv2dNormActivation with ReLU6: modules "<at>.0" conv, "<at>.1" batch norm, "<at>.2" relu6.
int ConvBnReLU6(Builder& b, const std::string& at, int x, int64_t out, int kernel, int stride,
                int groups) {
  x = b.Conv(at + ".0", x, out, kernel, stride, (kernel - 1) / 2, groups);
  x = b.BatchNorm(at + ".1", x);
  return b.ReLU6(at + ".2", x);
}

int InvertedResidual(Builder& b, const std::string& at, int x, int64_t inp, int64_t oup, int stride,
                     int expand_ratio) {
  const int64_t hidden = inp * expand_ratio;
  int y = x;
  int index = 0;
  if (expand_ratio != 1)
    y = ConvBnReLU6(b, at + ".conv." + std::to_string(index++), y, hidden, 1, 1, 1);
  y = ConvBnReLU6(b, at + ".conv." + std::to_string(index++), y, hidden, 3, stride,
                  static_cast<int>(hidden));
  y = b.Conv(at + ".conv." + std::to_string(index++), y, oup, 1);
  y = b.BatchNorm(at + ".conv." + std::to_string(index++), y);
  if (stride == 1 && inp == oup) y = b.AddLayers(at + ".add", {x, y});
  return y;
}

Network MobileNetV2() {
  Network net("mobilenet_v2", {3, 224, 224}, kImageNetClasses);
  Builder b{net};
  struct Setting {
    int t, c, n, s;
  };
  constexpr Setting kSettings[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int x = ConvBnReLU6(b, "features.0", 0, 32, 3, 2, 1);
  int64_t channels = 32;
  int index = 1;
  for (const Setting& s : kSettings) {
    for (int i = 0; i < s.n; ++i) {
      x = InvertedResidual(b, "features." + std::to_string(index++), x, channels, s.c,
                           i == 0 ? s.s : 1, s.t);
      channels = s.c;
    }
  }
  x = ConvBnReLU6(b, "features." + std::to_string(index), x, 1280, 1, 1, 1);
  x = b.AdaptiveAvgPool("adaptive_avg_pool", x, 1, 1);
  x = b.Flatten("flatten", x);
  x = b.Dropout("classifier.0", x, 0.2);
  x = b.Linear("classifier.1", x, kImageNetClasses);
  b.Loss("loss", x);
  return net;
}

// ---- DenseNet-121 (torchvision/models/densenet.py: growth 32, blocks 6-12-24-16, bn_size 4) ----

// Each dense layer reads the concatenation of the block input and every earlier layer's output
// (torchvision concatenates anew in each layer: memory_efficient=False).
Network DenseNet121() {
  Network net("densenet121", {3, 224, 224}, kImageNetClasses);
  Builder b{net};
  constexpr int64_t kGrowth = 32, kBnSize = 4;
  constexpr int kBlocks[] = {6, 12, 24, 16};
  int x = b.Conv("features.conv0", 0, 64, 7, 2, 3);
  x = b.BatchNorm("features.norm0", x);
  x = b.ReLU("features.relu0", x);
  x = b.MaxPool("features.pool0", x, 3, 2, 1);
  int64_t channels = 64;
  for (int block = 0; block < 4; ++block) {
    const std::string bat = "features.denseblock" + std::to_string(block + 1);
    std::vector<int> features = {x};
    for (int i = 0; i < kBlocks[block]; ++i) {
      const std::string at = bat + ".denselayer" + std::to_string(i + 1);
      int y = features.size() == 1 ? features[0] : b.Concat(at + ".cat", features);
      y = b.BatchNorm(at + ".norm1", y);
      y = b.ReLU(at + ".relu1", y);
      y = b.Conv(at + ".conv1", y, kBnSize * kGrowth, 1);
      y = b.BatchNorm(at + ".norm2", y);
      y = b.ReLU(at + ".relu2", y);
      y = b.Conv(at + ".conv2", y, kGrowth, 3, 1, 1);
      features.push_back(y);
    }
    x = b.Concat(bat + ".cat", features);
    channels += kBlocks[block] * kGrowth;
    if (block != 3) {
      const std::string tat = "features.transition" + std::to_string(block + 1);
      x = b.BatchNorm(tat + ".norm", x);
      x = b.ReLU(tat + ".relu", x);
      channels /= 2;
      x = b.Conv(tat + ".conv", x, channels, 1);
      x = b.AvgPool(tat + ".pool", x, 2, 2);
    }
  }
  x = b.BatchNorm("features.norm5", x);
  x = b.ReLU("relu", x);
  x = b.AdaptiveAvgPool("adaptive_avg_pool", x, 1, 1);
  x = b.Flatten("flatten", x);
  x = b.Linear("classifier", x, kImageNetClasses);
  b.Loss("loss", x);
  return net;
}

struct ZooBuilder {
  const char* name;
  Network (*build)();
};

const ZooBuilder kBuilders[] = {
    {"alexnet", AlexNet},
    {"vgg11",
     [] {
       return Vgg("vgg11", {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0});
     }},
    {"vgg16",
     [] {
       return Vgg("vgg16",
                  {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0});
     }},
    {"vgg19",
     [] {
       return Vgg("vgg19", {64,  64,  0,   128, 128, 0,   256, 256, 256, 256, 0,
                            512, 512, 512, 512, 0,   512, 512, 512, 512, 0});
     }},
    {"resnet18",
     [] {
       return ResNet("resnet18", false, {2, 2, 2, 2});
     }},
    {"resnet34",
     [] {
       return ResNet("resnet34", false, {3, 4, 6, 3});
     }},
    {"resnet50",
     [] {
       return ResNet("resnet50", true, {3, 4, 6, 3});
     }},
    {"resnet101",
     [] {
       return ResNet("resnet101", true, {3, 4, 23, 3});
     }},
    {"resnet152",
     [] {
       return ResNet("resnet152", true, {3, 8, 36, 3});
     }},
    {"inception_v3", InceptionV3},
    {"mobilenet_v2", MobileNetV2},
    {"densenet121", DenseNet121},
    {"fashion_cnn", FashionCnn},
};

std::vector<std::string> ZooNames() {
  std::vector<std::string> names;
  for (const auto& m : ZooModels()) names.push_back(m.name);
  return names;
}

}  // namespace

const std::vector<ZooEntry>& ZooModels() {
  static const std::vector<ZooEntry> models = {
      {"alexnet", {3, 224, 224}, "AlexNet (torchvision, one-GPU variant)"},
      {"vgg11", {3, 224, 224}, "VGG-11 (configuration A), no batch norm"},
      {"vgg16", {3, 224, 224}, "VGG-16 (configuration D), no batch norm"},
      {"vgg19", {3, 224, 224}, "VGG-19 (configuration E), no batch norm"},
      {"resnet18", {3, 224, 224}, "ResNet-18, basic blocks"},
      {"resnet34", {3, 224, 224}, "ResNet-34, basic blocks"},
      {"resnet50", {3, 224, 224}, "ResNet-50 v1.5, bottleneck blocks"},
      {"resnet101", {3, 224, 224}, "ResNet-101 v1.5, bottleneck blocks"},
      {"resnet152", {3, 224, 224}, "ResNet-152 v1.5, bottleneck blocks"},
      {"inception_v3", {3, 299, 299}, "Inception v3 with the auxiliary head (training mode)"},
      {"mobilenet_v2", {3, 224, 224}, "MobileNet v2, width 1.0"},
      {"densenet121", {3, 224, 224}, "DenseNet-121, growth rate 32"},
      {"fashion_cnn", {1, 28, 28}, "small CNN for 28x28 grey images (Fashion-MNIST), 10 classes"},
  };
  return models;
}

bool IsZooModel(const std::string& name) {
  for (const auto& m : ZooModels())
    if (m.name == name) return true;
  return false;
}

Network BuildZooModel(const std::string& name) {
  for (const auto& z : kBuilders)
    if (name == z.name) return z.build();
  throw InputError("unknown model \"" + name + "\"" + DidYouMean(name, ZooNames()) +
                   " (run \"convscale models\" for the list, or give a model file)");
}

namespace {
std::map<std::string, ModelFileReader>& Readers() {
  static std::map<std::string, ModelFileReader> readers;
  return readers;
}
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

void RegisterModelFileReader(const std::string& extension, ModelFileReader reader) {
  Readers()[Lower(extension)] = reader;
}

// A zoo name builds the built-in network; anything else is read as a model file: by the reader
// registered for its extension, else in the JSON format (docs/model-format.md). A name that is
// neither a zoo model nor an existing file is reported as an unknown model, with the closest zoo
// name.
Network LoadModel(const std::string& name_or_file, int64_t batch) {
  if (IsZooModel(name_or_file)) {
    Network net = BuildZooModel(name_or_file);
    net.Infer(batch);
    return net;
  }
  std::error_code ec;
  if (!std::filesystem::exists(name_or_file, ec)) {
    throw InputError("unknown model \"" + name_or_file + "\"" +
                     DidYouMean(name_or_file, ZooNames()) +
                     " (not a zoo model and no such file; run \"convscale models\" for the list)");
  }
  const std::string ext = Lower(std::filesystem::path(name_or_file).extension().string());
  auto reader = Readers().find(ext);
  Network net =
      reader != Readers().end() ? reader->second(name_or_file) : LoadModelJson(name_or_file);
  net.Infer(batch, name_or_file);
  return net;
}

}  // namespace convscale::graph
