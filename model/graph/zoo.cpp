#include "model/graph/zoo.h"

#include "model/util/error.h"

namespace convscale::graph {
namespace {

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

}  // namespace

const std::vector<ZooEntry>& ZooModels() {
  static const std::vector<ZooEntry> models = {
      {"fashion_cnn", {1, 28, 28}, "small CNN for Fashion-MNIST"},
  };
  return models;
}

bool IsZooModel(const std::string& name) {
  for (const auto& m : ZooModels())
    if (m.name == name) return true;
  return false;
}

Network BuildZooModel(const std::string& name) {
  if (name == "fashion_cnn") return FashionCnn();
  std::vector<std::string> names;
  for (const auto& m : ZooModels()) names.push_back(m.name);
  throw InputError("unknown model \"" + name + "\"" + DidYouMean(name, names) +
                   " (run \"convscale models\" for the list, or give a .json/.onnx file)");
}

Network LoadModel(const std::string& name_or_file, int64_t batch) {
  Network net = BuildZooModel(name_or_file);
  net.Infer(batch);
  return net;
}

}  // namespace convscale::graph
