// The context block of the reports the commands write (select, whatif, report, sweep): the common
// context of model/util/context.h with the reports' schema version and which simulator was built.
#pragma once

#include <string>

#include "model/util/json.h"

namespace convscale::cli {

Json ReportContext(const std::string& kind);

}  // namespace convscale::cli
