#include "model/util/error.h"

#include <algorithm>
#include <cctype>

namespace convscale {

static std::string Locate(std::string_view file, std::string_view pointer, std::string_view what) {
  std::string m(file);
  if (!pointer.empty()) {
    m += ": ";
    m += pointer;
  }
  m += ": ";
  m += what;
  return m;
}

InputError::InputError(std::string_view file, std::string_view pointer, std::string_view what)
    : std::runtime_error(Locate(file, pointer, what)) {}

namespace {
size_t Distance(std::string_view a, std::string_view b, bool fold_case) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = fold_case ? std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                        std::tolower(static_cast<unsigned char>(b[j - 1]))
                                  : a[i - 1] == b[j - 1];
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  return Distance(a, b, true);
}

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    // Case-insensitive distance decides; an exact-case match breaks ties ("Gbs" -> "Gbps").
    const size_t d =
        2 * Distance(word, c, true) + (Distance(word, c, false) > Distance(word, c, true));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  best_distance /= 2;
  // Plausible typo: at most a third of the word's letters changed (and at least one allowed).
  const size_t limit = std::max<size_t>(1, (word.size() + 2) / 3);
  return best_distance <= limit ? best : std::string();
}

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string m = ClosestMatch(word, candidates);
  return m.empty() ? std::string() : "; did you mean \"" + m + "\"?";
}

}  // namespace convscale
