// Comma-separated lists the commands that cover many points share (select, whatif, sweep):
// device counts and strategy names. Bad entries are InputErrors naming the flag.
#pragma once

#include <string>
#include <vector>

namespace convscale::cli {

// "a,b,,c" -> {"a", "b", "", "c"}: empty parts are kept, for the callers to refuse; "" -> {}.
std::vector<std::string> SplitList(const std::string& text);

// --gpus: "1,2,4,8", "1..64" (doublings from 1 to 64) or "1,2,4,...,64" ("..." continues the
// last two counts: by their ratio when it is a whole number of at least 2, else by their
// difference). Sorted, duplicates removed, never empty.
std::vector<int> ParseGpuList(const std::string& text);

// --strategies: "dp,ps,mp,hybrid" in the order given. Unknown names get a did-you-mean; with
// `unique`, a name given twice is an error too.
std::vector<std::string> ParseStrategyList(const std::string& text, bool unique = false);

}  // namespace convscale::cli
