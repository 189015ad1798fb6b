// Data sources for the executor (runtime.h: DataSource).
//  - Synthetic: seeded; pixel i of sample s and its label depend only on (seed, s, i), so any
//    split of a batch over ranks sees exactly the samples one process would.
//  - Fashion-MNIST: the gzipped IDX files of Debian's dataset-fashion-mnist package
//    ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz; big-endian header, magic 0x803 / 0x801),
//    read with zlib; pixels scaled to [0, 1] then standardised with the training set's mean
//    0.2860 and standard deviation 0.3530.
#pragma once

#include <memory>
#include <string>

#include "execute/runtime.h"
#include "model/graph/layer.h"

namespace convscale::exec {

std::unique_ptr<DataSource> MakeSyntheticData(const graph::Shape& input, int64_t classes,
                                              uint64_t seed);

// Where Debian installs the files; the environment variable CONVSCALE_FASHION_MNIST overrides.
std::string DefaultFashionMnistDir();
// `split` is "train" or "t10k". Throws InputError naming the missing or malformed file.
std::unique_ptr<DataSource> LoadFashionMnist(const std::string& dir, const std::string& split);

}  // namespace convscale::exec
