// The built-in cluster descriptions (topologies/builtin/*.json), embedded at build time.
#pragma once

#include <map>
#include <string>

namespace convscale::topo::detail {

// name -> JSON text, in name order.
const std::map<std::string, std::string>& BuiltinClusterTexts();

}  // namespace convscale::topo::detail
