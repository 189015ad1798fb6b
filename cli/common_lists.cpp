#include "cli/common_lists.h"

#include <algorithm>
#include <cstdlib>

#include "model/util/error.h"

namespace convscale::cli {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  size_t from = 0;
  for (size_t comma; (comma = text.find(',', from)) != std::string::npos; from = comma + 1)
    out.push_back(text.substr(from, comma - from));
  out.push_back(text.substr(from));
  return out;
}

std::vector<int> ParseGpuList(const std::string& text) {
  constexpr long kMax = 1 << 20;
  std::vector<int> out;
  auto number = [&](const std::string& s) {
    if (s.empty())
      throw InputError("--gpus " + text + ": an empty entry (two commas in a row, or one at an " +
                       "end); write a list such as 1,2,4,8");
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (*end == '\0' && v > kMax)
      throw InputError("--gpus " + text + ": \"" + s +
                       "\" devices are more than a cluster may have (" + std::to_string(kMax) +
                       "; see docs/limits.md)");
    if (s.empty() || *end != '\0' || v < 1)
      throw InputError("--gpus " + text + ": \"" + s + "\" is not a device count (a whole number " +
                       "from 1); write a list such as 1,2,4,8 or a range of doublings 1..64");
    return static_cast<int>(v);
  };
  const size_t dots = text.find("..");
  if (dots != std::string::npos && text.find("...") == std::string::npos) {
    const int lo = number(text.substr(0, dots)), hi = number(text.substr(dots + 2));
    for (long g = lo; g <= hi; g *= 2) out.push_back(static_cast<int>(g));
  } else {
    const std::vector<std::string> parts = SplitList(text);
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i] != "...") {
        out.push_back(number(parts[i]));
        continue;
      }
      if (out.size() < 2 || i + 1 >= parts.size() || parts[i + 1] == "...")
        throw InputError("--gpus " + text +
                         ": \"...\" needs two counts before it and one after, as in 1,2,4,...,64");
      const long a = out[out.size() - 2], b = out.back(), last = number(parts[i + 1]);
      if (b <= a)
        throw InputError("--gpus " + text + ": \"...\" continues a rising list; " +
                         std::to_string(a) + "," + std::to_string(b) + " does not rise");
      const bool geometric = b % a == 0 && b / a >= 2;
      for (long g = geometric ? b * (b / a) : b + (b - a); g < last && g <= kMax;
           g = geometric ? g * (b / a) : g + (b - a))
        out.push_back(static_cast<int>(g));
    }
  }
  if (out.empty()) throw InputError("--gpus: give at least one device count");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> ParseStrategyList(const std::string& text, bool unique) {
  const std::vector<std::string> known = {"dp", "ps", "mp", "hybrid"};
  std::vector<std::string> out;
  for (const std::string& st : SplitList(text)) {
    if (st.empty())
      throw InputError("--strategies " + text + ": an empty entry (two commas in a row, or one " +
                       "at an end); write a list such as dp,ps");
    if (std::find(known.begin(), known.end(), st) == known.end())
      throw InputError("--strategies " + text + ": unknown strategy \"" + st + "\"" +
                       DidYouMean(st, known));
    if (unique && std::find(out.begin(), out.end(), st) != out.end())
      throw InputError("--strategies " + text + ": \"" + st + "\" is given twice");
    out.push_back(st);
  }
  if (out.empty())
    throw InputError("--strategies: give at least one strategy (dp, ps, mp, hybrid)");
  return out;
}

}  // namespace convscale::cli
