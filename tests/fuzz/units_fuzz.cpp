// libFuzzer target: the unit parser. Any exception other than std::invalid_argument, and any
// sanitizer report, is a bug.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "model/util/units.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using namespace convscale::units;
  for (auto parse : {ParseBandwidth, ParseBytes, ParseTime, ParseFlopRate}) {
    try {
      const double v = parse(text);
      if (!(v >= 0)) __builtin_trap();  // parsers promise non-negative finite values
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}
