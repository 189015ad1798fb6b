// The 3-layer network of the plan tests: conv1 (2 channels, 3x3, pad 1, bias) on a 1x4x4 input,
// flatten, fc (32 -> 10, bias), loss. Vertices: 0 input, 1 conv1, 2 flatten, 3 fc, 4 loss.
// Parameters: conv1 2*9+2 = 20, fc 32*10+10 = 330.
#pragma once

#include "model/graph/network.h"

namespace convscale::testing {

inline graph::Network TinyNet(int64_t batch = 4) {
  graph::Network net("tiny", {1, 4, 4}, 10);
  graph::Builder b{net};
  int x = b.Conv("conv1", 0, 2, 3, 1, 1, 1, true);
  x = b.Flatten("flatten", x);
  x = b.Linear("fc", x, 10);
  b.Loss("loss", x);
  net.Infer(batch);
  return net;
}

}  // namespace convscale::testing
