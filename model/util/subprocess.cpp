// Work items in forked children (subprocess.h).
//
// The protocol over each child's pipe: one byte, 'R' (result), 'I' (InputError) or 'E' (any
// other exception), then the result or the message. The parent polls the pipes of the running
// children, starts the next item whenever one finishes, and reaps each child once its pipe closes.
#include "model/util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "model/util/error.h"
#include "model/util/process.h"

namespace convscale {
namespace {

// Runs one item here, encoding the outcome as a child would.
std::string Encode(const std::function<std::string(size_t)>& work, size_t i) {
  try {
    return "R" + work(i);
  } catch (const InputError& e) {
    return std::string("I") + e.what();
  } catch (const std::exception& e) {
    return std::string("E") + e.what();
  }
}

ChildResult Decode(const std::string& data) {
  ChildResult r;
  if (data.empty()) {
    r.error = "no result";
    return r;
  }
  r.ok = data[0] == 'R';
  r.input_error = data[0] == 'I';
  (r.ok ? r.data : r.error) = data.substr(1);
  return r;
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int AvailableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
}

std::vector<ChildResult> RunInChildren(size_t count, int jobs,
                                       const std::function<std::string(size_t)>& work) {
  std::vector<ChildResult> out(count);
  if (jobs <= 1 || count <= 1) {
    for (size_t i = 0; i < count; ++i) out[i] = Decode(Encode(work, i));
    return out;
  }
  struct Child {
    pid_t pid;
    int fd;
    size_t item;
    std::string data;
  };
  std::vector<Child> running;
  size_t next = 0;
  while (next < count || !running.empty()) {
    while (next < count && static_cast<int>(running.size()) < jobs) {
      const size_t item = next++;
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0)
        throw RuntimeError(std::string("pipe2: ") + std::strerror(errno));
      std::fflush(nullptr);
      const pid_t parent = ::getpid();
      const pid_t pid = ::fork();
      if (pid < 0) throw RuntimeError(std::string("fork: ") + std::strerror(errno));
      if (pid == 0) {
        EndWithParent(parent);  // a killed select or whatif leaves no candidate running
        ::close(fds[0]);
        const bool ok = WriteAll(fds[1], Encode(work, item));
        ::close(fds[1]);
        ::_exit(ok ? 0 : 1);
      }
      ::close(fds[1]);
      running.push_back({pid, fds[0], item, ""});
    }
    std::vector<pollfd> pfds;
    for (const Child& c : running) pfds.push_back({c.fd, POLLIN, 0});
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw RuntimeError(std::string("poll: ") + std::strerror(errno));
    }
    for (size_t k = pfds.size(); k-- > 0;) {
      if (pfds[k].revents == 0) continue;
      Child& c = running[k];
      char buf[65536];
      const ssize_t n = ::read(c.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        c.data.append(buf, static_cast<size_t>(n));
        continue;
      }
      ::close(c.fd);
      int status = 0;
      while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
      }
      ChildResult& r = out[c.item];
      if (WIFSIGNALED(status)) {
        r.error = "the child process was killed by signal " + std::to_string(WTERMSIG(status)) +
                  " (" + strsignal(WTERMSIG(status)) + ")";
      } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || c.data.empty()) {
        r.error = "the child process exited with status " +
                  std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + " and no result";
      } else {
        r = Decode(c.data);
      }
      running.erase(running.begin() + static_cast<long>(k));
    }
  }
  return out;
}

}  // namespace convscale
