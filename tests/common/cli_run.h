// Runs the built convscale binary (CONVSCALE_BINARY, set by tests/CMakeLists.txt) through the
// shell and returns its exit code and standard output.
#pragma once

#include <sys/wait.h>

#include <cstdio>
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

}  // namespace convscale::testing
