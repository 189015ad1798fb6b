// Work items in forked child processes, a few at a time (select and whatif simulate their
// candidates this way: SimGrid holds one engine per process, and a 2-core machine runs two
// simulations at once).
//
// Each item runs `work(i)` in its own child, forked from the caller, so it sees the caller's
// memory as it was at the fork and changes nothing in the caller; the string it returns comes
// back over a pipe. An exception in the child comes back as the item's error (InputError and
// RuntimeError keep their type); a child that dies or exits without a result is an error naming
// its signal or status. Results are in item order whatever the completion order, so the caller's
// output does not depend on scheduling.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace convscale {

struct ChildResult {
  bool ok = false;
  bool input_error = false;  // the child threw InputError (else RuntimeError or a crash)
  std::string data;          // what work(i) returned (when ok)
  std::string error;         // why not (when !ok)
};

// Runs work(0..count-1), at most `jobs` (>= 1) children at once. With jobs == 1 or a single
// item, the work runs in this process instead (the same results, no fork), its exceptions
// reported the same way.
std::vector<ChildResult> RunInChildren(size_t count, int jobs,
                                       const std::function<std::string(size_t)>& work);

// The number of CPUs this process may run on (sched_getaffinity), at least 1.
int AvailableCpus();

}  // namespace convscale
