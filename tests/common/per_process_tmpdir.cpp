// Gives every test process its own temporary directory. ctest runs test cases in parallel, one
// process each; tests that write fixed names under ::testing::TempDir() ("cluster.json") would
// otherwise read each other's files. GoogleTest reads TEST_TMPDIR on every TempDir() call, so
// setting it before main() is enough. The directory is removed at exit.
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace {

struct PerProcessTmpDir {
  std::string dir;
  PerProcessTmpDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/convscale-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return;  // keep GoogleTest's default
    dir = tmpl;
    setenv("TEST_TMPDIR", (dir + "/").c_str(), 1);
  }
  ~PerProcessTmpDir() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
} per_process_tmpdir;

}  // namespace
