// Checks on the figures read back from summaries and sweep files (`report compare`,
// `sweep merge`), which a user may have edited by hand: every figure is a size (a time, a rate,
// bytes, parameters) and never negative, and a device count is a whole number from 1 to the most
// devices a cluster may have. Errors name the file and the JSON pointer.
#pragma once

#include <cstdint>
#include <string>

#include "model/util/json.h"

namespace convscale::reports {

// The bound on devices in one cluster (2^20, docs/limits.md).
inline constexpr int64_t kMaxFigureDevices = int64_t{1} << 20;

// `o[key]`, already known to be a number: "must not be negative, found -1" when it is.
inline double NonNegativeFigure(const Json& o, const std::string& file, const std::string& ptr,
                                const char* key) {
  const double v = o[key].get<double>();
  if (v < 0)
    throw InputError(file, PointerJoin(ptr, key), "must not be negative, found " + o[key].dump());
  return v;
}

// `o[key]`, present: a whole number within [min, max] (JsonObject::Int's messages).
inline int64_t CountFigure(const Json& o, const std::string& file, const std::string& ptr,
                           const char* key, int64_t min, int64_t max) {
  return JsonObject(o, file, ptr).Int(key, min, max);
}

}  // namespace convscale::reports
