// libFuzzer target: the plan loader (model/plan JSON and Validate). A plan that loads must save
// and load again to the same JSON (the round trip the CLI relies on). Bad input must end in
// convscale::InputError, never a crash, a hang or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/plan/plan.h"
#include "model/util/error.h"
#include "model/util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace convscale;
  const std::string text(reinterpret_cast<const char*>(data), size);
  Json saved;
  try {
    const Json j = ParseJson(text, "fuzz.json");
    saved = plan::ToJson(plan::FromJson(j, "fuzz.json"));
  } catch (const InputError&) {
    return 0;
  }
  // Loaded once: the saved form must load (no InputError here) and save to the same bytes.
  const std::string first = saved.dump();
  const std::string second =
      plan::ToJson(plan::FromJson(ParseJson(first, "saved.json"), "saved.json")).dump();
  if (first != second) __builtin_trap();
  return 0;
}
