// A `simulate` or `sweep` ended from outside (a batch system's SIGTERM at its time limit, Ctrl-C,
// SIGKILL) leaves no process behind: the child it forks (SimGrid's, or a sweep point's) dies
// with it.
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
#include <vector>

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

// The command killed (its arguments after "convscale"; the output folder is added to a sweep)
// and the signal.
struct Kill {
  std::string command;
  int signal;
};

class KilledCommand : public ::testing::TestWithParam<Kill> {};

TEST_P(KilledCommand, LeavesNoChild) {
  const Kill& k = GetParam();
  if (!HasCommand(k.command)) GTEST_SKIP() << "convscale was built without " << k.command;
  const int signal = k.signal;
  ScratchDir dir("orphan_" + k.command + "_" + std::to_string(signal));
  const std::string log = dir / "run.log", out = dir / "sweep";
  // Many iterations of exact collectives: each simulation runs far longer than the test waits.
  std::vector<std::string> args = {"convscale",     k.command,  "--model",      "resnet50",
                                   "--cluster",     "dgx-a100", "--gpus",       "16",
                                   "--collectives", "exact",    "--iterations", "1000"};
  if (k.command == "sweep")
    for (const char* a : {"--strategies", "dp", "--jobs", "1", "-o", out.c_str()})
      args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(CONVSCALE_BINARY, argv.data());
    ::_exit(127);
  }
  // simulate builds the plan, then forks the SimGrid child; sweep forks a child per point.
  pid_t child = 0;
  for (int i = 0; i < 1200 && child == 0 && Running(pid); ++i) {
    child = ChildOf(pid);
    if (child == 0) ::usleep(100 * 1000);
  }
  if (child == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    FAIL() << k.command << " never forked its child:\n" << ReadBytes(log);
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
  EXPECT_TRUE(gone) << "the child " << child << " outlived " << k.command << " by 5 s";
  if (!gone) ::kill(child, SIGKILL);
}

INSTANTIATE_TEST_SUITE_P(Signals, KilledCommand,
                         ::testing::Values(Kill{"simulate", SIGTERM}, Kill{"simulate", SIGINT},
                                           Kill{"simulate", SIGKILL}, Kill{"sweep", SIGTERM},
                                           Kill{"sweep", SIGKILL}),
                         [](const ::testing::TestParamInfo<Kill>& i) {
                           return i.param.command + "_" +
                                  (i.param.signal == SIGTERM  ? "TERM"
                                   : i.param.signal == SIGINT ? "INT"
                                                              : "KILL");
                         });

}  // namespace
