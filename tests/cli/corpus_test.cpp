// Runs every case of tests/corpus/*/*.expect through the convscale binary and checks the exit code
// and the exact message (tests/corpus/README.md).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name;  // "model/cycle"
  fs::path dir;
  std::string input;  // file name, may be ""
  std::string args, stderr_text;
  std::string needs;  // a command that must be built ("simulate"), "onnx" (the import), or ""
  int exit_code = -1;
  // A large input made from a small one: the input's lines holding "{n}" are written `repeat`
  // times (n = 1 to repeat) into a file of the same name in a temporary folder, where the case
  // runs; the run may take at most `cpu_s` seconds of CPU (user + system), 0 for no bound.
  long repeat = 0;
  double cpu_s = 0;
};

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

std::vector<Case> LoadCases() {
  std::vector<Case> cases;
  const fs::path root = fs::path(CONVSCALE_SOURCE_DIR) / "tests" / "corpus";
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().extension() == ".expect") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    Case c;
    c.dir = f.parent_path();
    c.name = c.dir.filename().string() + "/" + f.stem().string();
    for (const char* ext : {".json", ".xml", ".onnx", ".txt"})
      if (fs::exists(c.dir / (f.stem().string() + ext))) c.input = f.stem().string() + ext;
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("args: ", 0) == 0) c.args = line.substr(6);
      if (line.rfind("exit: ", 0) == 0) c.exit_code = std::stoi(line.substr(6));
      if (line.rfind("needs: ", 0) == 0) c.needs = line.substr(7);
      if (line.rfind("repeat: ", 0) == 0) c.repeat = std::stol(line.substr(8));
      if (line.rfind("cpu_s: ", 0) == 0) c.cpu_s = std::stod(line.substr(7));
      if (line.rfind("stderr: ", 0) == 0)
        c.stderr_text += (c.stderr_text.empty() ? "" : "\n") + line.substr(8);
      else if (!c.stderr_text.empty() && line.rfind("args: ", 0) != 0 &&
               line.rfind("exit: ", 0) != 0 && line.rfind("needs: ", 0) != 0)
        c.stderr_text += "\n" + line;
    }
    c.args = ReplaceAll(c.args, "{}", c.input);
    c.stderr_text = ReplaceAll(c.stderr_text, "{}", c.input);
    cases.push_back(c);
  }
  return cases;
}

// Writes the case's input with its "{n}" lines repeated (Case::repeat) into a folder of its own
// under the test's temporary folder, and returns that folder.
fs::path Expand(const Case& c) {
  const fs::path dir = fs::path(testing::TempDir()) / ("corpus-" + c.dir.filename().string() + "-" +
                                                       fs::path(c.input).stem().string());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ifstream in(c.dir / c.input);
  std::ofstream out(dir / c.input);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("{n}") == std::string::npos) {
      out << line << "\n";
      continue;
    }
    for (long n = 1; n <= c.repeat; ++n) out << ReplaceAll(line, "{n}", std::to_string(n)) << "\n";
  }
  return dir;
}

double ChildrenCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Every case runs in at most 4 GiB of address space: no input may make convscale need more
// before it is refused. AddressSanitizer reserves terabytes of address space for its shadow
// memory, so a sanitizer build runs the cases without the limit, and with 4 times the CPU
// bounds (its checks slow every allocation and access; a quadratic loader is still far slower).
#if defined(__SANITIZE_ADDRESS__)
#define CONVSCALE_CORPUS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONVSCALE_CORPUS_ASAN 1
#endif
#endif
#ifdef CONVSCALE_CORPUS_ASAN
constexpr const char* kAddressSpaceLimit = "";
constexpr double kCpuScale = 4;
#else
constexpr const char* kAddressSpaceLimit = "ulimit -v 4194304 && ";
constexpr double kCpuScale = 1;
#endif

class Corpus : public testing::TestWithParam<Case> {};

TEST_P(Corpus, ExitCodeAndExactMessage) {
  const Case& c = GetParam();
#ifndef CONVSCALE_HAVE_ONNX
  if (c.needs == "onnx")
    GTEST_SKIP() << c.name << ": convscale was built without ONNX import (libonnx-dev)";
#endif
  if (!c.needs.empty() && c.needs != "onnx" &&
      std::system(("'" + std::string(CONVSCALE_BINARY) + "' " + c.needs + " --help >/dev/null 2>&1")
                      .c_str()) != 0)
    GTEST_SKIP() << c.name << ": convscale was built without \"" << c.needs << "\"";
  const fs::path dir = c.repeat > 0 ? Expand(c) : c.dir;
  const std::string cmd = "cd '" + dir.string() + "' && " + kAddressSpaceLimit + "'" +
                          CONVSCALE_BINARY + "' " + c.args + " 2>&1 >/dev/null";
  const double cpu_before = ChildrenCpuSeconds();
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string err;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) err.append(buf.data(), n);
  const int status = pclose(p);
  const double cpu = ChildrenCpuSeconds() - cpu_before;
  if (c.repeat > 0) fs::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(status)) << c.name << ": killed by a signal";
  if (c.cpu_s > 0) EXPECT_LE(cpu, c.cpu_s * kCpuScale) << c.name << ": CPU seconds";
  EXPECT_EQ(WEXITSTATUS(status), c.exit_code) << c.name << "\n" << err;
  while (!err.empty() && err.back() == '\n') err.pop_back();
  EXPECT_EQ(err, c.stderr_text) << c.name;
}

INSTANTIATE_TEST_SUITE_P(BadInput, Corpus, testing::ValuesIn(LoadCases()),
                         [](const testing::TestParamInfo<Case>& i) {
                           std::string n = i.param.name;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
