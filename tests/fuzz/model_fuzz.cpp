// libFuzzer target: the JSON model loader and shape inference. Bad input must end in
// convscale::InputError, never a crash, a hang or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/graph/model_json.h"
#include "model/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const convscale::Json j = convscale::ParseJson(text, "fuzz.json");
    convscale::graph::Network net = convscale::graph::ModelFromJson(j, "fuzz.json");
    net.Infer(2, "fuzz.json");
    (void)net.Totals();
  } catch (const convscale::InputError&) {
  }
  return 0;
}
