// Synthetic and Fashion-MNIST data sources (see data.h).
#include "execute/data.h"

#include <zlib.h>

#include <cstdlib>
#include <vector>

#include "model/util/error.h"

namespace convscale::exec {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class SyntheticData final : public DataSource {
 public:
  SyntheticData(const graph::Shape& input, int64_t classes, uint64_t seed)
      : pixels_(input.elements()), classes_(classes), seed_(seed) {}
  std::string name() const override { return "synthetic (seed " + std::to_string(seed_) + ")"; }
  int64_t size() const override { return int64_t(1) << 40; }
  bool reusable() const override { return true; }
  void Fill(int64_t first, int64_t count, float* images, int32_t* labels) override {
    for (int64_t s = 0; s < count; ++s) {
      const uint64_t base = Mix(seed_ * 0x100000001b3ULL ^ uint64_t(first + s));
      if (labels) labels[s] = int32_t(Mix(base) % uint64_t(classes_));
      if (images)
        for (int64_t i = 0; i < pixels_; ++i)
          images[s * pixels_ + i] =
              float(double(Mix(base + uint64_t(i) + 1) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    }
  }

 private:
  int64_t pixels_, classes_;
  uint64_t seed_;
};

std::vector<unsigned char> ReadGz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw InputError(path +
                     ": cannot open (install Debian's dataset-fashion-mnist package, or "
                     "set CONVSCALE_FASHION_MNIST to the folder holding the files)");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  const bool bad = n < 0;
  gzclose(f);
  if (bad) throw InputError(path + ": not a readable gzip file");
  return out;
}

uint32_t BigEndian(const std::vector<unsigned char>& d, size_t at) {
  return uint32_t(d[at]) << 24 | uint32_t(d[at + 1]) << 16 | uint32_t(d[at + 2]) << 8 | d[at + 3];
}

class FashionMnist final : public DataSource {
 public:
  FashionMnist(const std::string& dir, const std::string& split) {
    if (split != "train" && split != "t10k")
      throw InputError("Fashion-MNIST split \"" + split + "\" is not one of train, t10k");
    const std::string ip = dir + "/" + split + "-images-idx3-ubyte.gz";
    const std::string lp = dir + "/" + split + "-labels-idx1-ubyte.gz";
    images_ = ReadGz(ip);
    labels_ = ReadGz(lp);
    if (images_.size() < 16 || BigEndian(images_, 0) != 0x803)
      throw InputError(ip + ": not an IDX image file (magic 0x00000803 expected)");
    if (labels_.size() < 8 || BigEndian(labels_, 0) != 0x801)
      throw InputError(lp + ": not an IDX label file (magic 0x00000801 expected)");
    count_ = BigEndian(images_, 4);
    if (BigEndian(images_, 8) != 28 || BigEndian(images_, 12) != 28 ||
        images_.size() != 16 + size_t(count_) * 784)
      throw InputError(ip + ": expected " + std::to_string(count_) + " images of 28x28");
    if (BigEndian(labels_, 4) != uint32_t(count_) || labels_.size() != 8 + size_t(count_))
      throw InputError(lp + ": holds a different number of labels than " + ip + " has images");
    name_ = "fashion-mnist " + split + " (" + std::to_string(count_) + " samples)";
  }
  std::string name() const override { return name_; }
  int64_t size() const override { return count_; }
  void Fill(int64_t first, int64_t count, float* images, int32_t* labels) override {
    for (int64_t s = 0; s < count; ++s) {
      const int64_t k = (first + s) % count_;
      if (labels) labels[s] = labels_[8 + size_t(k)];
      if (images)
        for (int i = 0; i < 784; ++i)
          images[s * 784 + i] =
              float((images_[16 + size_t(k) * 784 + size_t(i)] / 255.0 - 0.2860) / 0.3530);
    }
  }

 private:
  std::vector<unsigned char> images_, labels_;
  int64_t count_ = 0;
  std::string name_;
};

}  // namespace

std::unique_ptr<DataSource> MakeSyntheticData(const graph::Shape& input, int64_t classes,
                                              uint64_t seed) {
  return std::make_unique<SyntheticData>(input, classes, seed);
}

std::string DefaultFashionMnistDir() {
  if (const char* d = std::getenv("CONVSCALE_FASHION_MNIST")) return d;
  return "/usr/share/datasets/fashion-mnist";
}

std::unique_ptr<DataSource> LoadFashionMnist(const std::string& dir, const std::string& split) {
  return std::make_unique<FashionMnist>(dir, split);
}

}  // namespace convscale::exec
