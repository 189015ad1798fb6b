// Forked children that never outlive the process that forked them.
#pragma once

#include <sys/types.h>

namespace convscale {

// Called first thing in a child forked by `parent` (the parent's getpid() before the fork): the
// kernel kills the child (SIGKILL) when the parent ends for any reason, a batch system's SIGTERM
// or SIGKILL included, and the child ends at once if the parent ended before this call.
void EndWithParent(pid_t parent);

}  // namespace convscale
