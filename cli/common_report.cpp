#include "cli/common_report.h"

#include "model/util/context.h"
#include "reports/records.h"

namespace convscale::cli {

Json ReportContext(const std::string& kind) {
  Json c = MakeContext(kind, reports::kSchemaVersion);
#ifdef CONVSCALE_HAVE_SIMULATE
  c["simulator"] = "simgrid";
#else
  c["simulator"] = "not built";
#endif
  return c;
}

}  // namespace convscale::cli
