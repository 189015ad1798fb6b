// Runs every case of tests/corpus/*/*.expect through the convscale binary and checks the exit code
// and the exact message (tests/corpus/README.md).
#include <gtest/gtest.h>
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
  const std::string cmd =
      "cd '" + c.dir.string() + "' && '" + CONVSCALE_BINARY + "' " + c.args + " 2>&1 >/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string err;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) err.append(buf.data(), n);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << c.name << ": killed by a signal";
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
