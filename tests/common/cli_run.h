// Runs the built convscale binary (CONVSCALE_BINARY, set by tests/CMakeLists.txt) through the
// shell and returns its exit code and standard output (Convscale), or its exit code, stdout and
// stderr apart with an environment of its own (RunCli); files and folders for output tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace convscale::testing {

struct CliRun {
  int code = -1;  // exit status; -1 when the process did not exit normally
  std::string out;
};

// `args` is appended to the quoted binary path as shell text (redirections allowed).
inline CliRun Convscale(const std::string& args) {
  const std::string cmd = std::string("'") + CONVSCALE_BINARY + "' " + args;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct CliResult {
  int code = -1;  // exit status; -1 when killed by a signal
  std::string out, err;
};

inline std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `convscale ARGS` (ARGS is shell-quoted by the caller) with `env` set (an empty value
// unsets the variable), stderr captured through a file of its own.
inline CliResult RunCli(const std::string& args,
                        const std::map<std::string, std::string>& env = {}) {
  const std::filesystem::path err_file =
      std::filesystem::path(::testing::TempDir()) / ("stderr." + std::to_string(::getpid()));
  std::string cmd = "env";
  for (const auto& [k, v] : env) cmd += v.empty() ? " -u " + k : " " + k + "='" + v + "'";
  cmd += std::string(" '") + CONVSCALE_BINARY + "' " + args + " 2>'" + err_file.string() + "'";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadBytes(err_file);
  std::error_code ec;
  std::filesystem::remove(err_file, ec);
  return r;
}

// Whether the binary was built with `command` ("simulate", "report compare").
inline bool HasCommand(const std::string& command) {
  return RunCli(command + " --help").code == 0;
}

// Every regular file under `dir`, by path relative to it, with its bytes.
inline std::map<std::string, std::string> ReadTree(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      files[std::filesystem::relative(e.path(), dir).string()] = ReadBytes(e.path());
  return files;
}

// A fresh folder under the test's temporary directory, removed at the end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(std::filesystem::path(::testing::TempDir()) / name) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace convscale::testing
