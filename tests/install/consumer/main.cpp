// Prints ResNet-50's parameter count through the installed convscale::model library.
#include <iostream>

#include "model/graph/zoo.h"

int main() {
  auto net = convscale::graph::LoadModel("resnet50", 1);
  std::cout << net.Totals().params << "\n";
  return 0;
}
