// The context block that opens every JSON output (google/benchmark style): what produced it and
// from what. `timestamp` is the only field allowed to differ between two runs on the same input.
#pragma once

#include <string>

#include "model/util/json.h"

namespace convscale {

const char* Version();  // "0.1.0"
const char* GitSha();   // short SHA of the build, or "unknown"

// {"tool":"convscale","version":..,"git_sha":..,"schema_version":..,"timestamp":..,"kind":kind}
// Set CONVSCALE_FIXED_TIMESTAMP in the environment to pin the timestamp (tests, golden files).
Json MakeContext(const std::string& kind, int schema_version);

}  // namespace convscale
