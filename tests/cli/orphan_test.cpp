// A `simulate` ended from outside (a batch system's SIGTERM at its time limit, Ctrl-C, SIGKILL)
// leaves no process behind: the child it forks to run SimGrid dies with it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../common/cli_run.h"

namespace {

using namespace convscale::testing;  // NOLINT: HasCommand, ScratchDir

// The state letter and parent of process `pid` from /proc/PID/stat ("R", "S", "Z", ...), or
// state '\0' when there is no such process.
struct ProcStat {
  char state = '\0';
  pid_t parent = 0;
};

ProcStat ReadStat(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces and parentheses
  ProcStat s;
  if (close == std::string::npos) return s;
  std::istringstream rest(text.substr(close + 1));
  rest >> s.state >> s.parent;
  return s;
}

// A live child of `parent`, or 0.
pid_t ChildOf(pid_t parent) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const ProcStat s = ReadStat(name);
    if (s.parent == parent && s.state != 'Z' && s.state != '\0') return std::stoi(name);
  }
  return 0;
}

bool Running(pid_t pid) {
  const char state = ReadStat(std::to_string(pid)).state;
  return state != '\0' && state != 'Z';  // a zombie has ended and waits to be reaped
}

class KilledSimulate : public ::testing::TestWithParam<int> {};

TEST_P(KilledSimulate, LeavesNoChild) {
  if (!HasCommand("simulate")) GTEST_SKIP() << "convscale was built without the simulator";
  const int signal = GetParam();
  ScratchDir dir("orphan_" + std::to_string(signal));
  const std::string log = dir / "simulate.log";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // Many iterations of exact collectives: the simulation runs far longer than the test waits.
    ::execl(CONVSCALE_BINARY, "convscale", "simulate", "--model", "resnet50", "--cluster",
            "dgx-a100", "--gpus", "16", "--collectives", "exact", "--iterations", "1000",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // simulate builds the plan, then forks the SimGrid child.
  pid_t child = 0;
  for (int i = 0; i < 1200 && child == 0 && Running(pid); ++i) {
    child = ChildOf(pid);
    if (child == 0) ::usleep(100 * 1000);
  }
  if (child == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    FAIL() << "simulate never forked its SimGrid child:\n" << ReadBytes(log);
  }
  ASSERT_EQ(::kill(pid, signal), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal) << ReadBytes(log);
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = !Running(child);
    if (!gone) ::usleep(100 * 1000);
  }
  EXPECT_TRUE(gone) << "the SimGrid child " << child << " outlived simulate by 5 s";
  if (!gone) ::kill(child, SIGKILL);
}

INSTANTIATE_TEST_SUITE_P(Signals, KilledSimulate, ::testing::Values(SIGTERM, SIGINT, SIGKILL),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(i.param == SIGTERM  ? "TERM"
                                              : i.param == SIGINT ? "INT"
                                                                  : "KILL");
                         });

}  // namespace
