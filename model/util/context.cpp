#include "model/util/context.h"

#include <cstdlib>
#include <ctime>

#include "convscale_git_sha.h"  // generated: CONVSCALE_GIT_SHA (cmake/git_sha.cmake)

namespace convscale {

const char* Version() {
  return CONVSCALE_VERSION;
}
const char* GitSha() {
  return CONVSCALE_GIT_SHA;
}

Json MakeContext(const std::string& kind, int schema_version) {
  Json c = Json::object();
  c["tool"] = "convscale";
  c["kind"] = kind;
  c["version"] = Version();
  c["git_sha"] = GitSha();
  c["schema_version"] = schema_version;
  if (const char* fixed = std::getenv("CONVSCALE_FIXED_TIMESTAMP")) {
    c["timestamp"] = fixed;
  } else {
    char buf[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    c["timestamp"] = buf;
  }
  return c;
}

}  // namespace convscale
