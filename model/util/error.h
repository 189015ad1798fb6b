// The one error policy (docs/ARCHITECTURE.md, "Errors"):
//  - InputError: something the user gave us is wrong (a file, a flag, an impossible cluster, a
//    plan that does not fit). The message names the file, the place in it (a JSON pointer) and
//    what is wrong. `main` prints it and exits with 2.
//  - RuntimeError: something failed while running (a library call, a lost rank). Exit 1.
// No code below `main` calls exit().
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace convscale {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
  // "FILE: POINTER: WHAT" (or "FILE: WHAT" when the pointer is empty).
  InputError(std::string_view file, std::string_view pointer, std::string_view what);
};

class RuntimeError : public std::runtime_error {
 public:
  explicit RuntimeError(const std::string& message) : std::runtime_error(message) {}
};

// Levenshtein distance; used for "did you mean".
size_t EditDistance(std::string_view a, std::string_view b);

// The closest candidate to `word` when it is near enough to be a plausible typo, else "".
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

// "; did you mean "X"?" or "" when nothing is close.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace convscale
