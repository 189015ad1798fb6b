#include "model/util/process.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>

namespace convscale {

void EndWithParent(pid_t parent) {
  // PR_SET_PDEATHSIG fires when the thread that forked this child ends; convscale forks from
  // its main thread, which ends only with the process.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
}

}  // namespace convscale
