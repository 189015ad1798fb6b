#include "reports/writer.h"

#include <filesystem>
#include <set>
#include <system_error>

#include "model/util/error.h"
#include "model/util/output.h"

namespace convscale::reports {

std::vector<std::string> WriterFormats() {
  return {"console", "json", "csv", "markdown", "html"};
}

std::unique_ptr<Writer> MakeWriter(const std::string& format) {
  if (format == "console") return MakeConsoleWriter();
  if (format == "json") return MakeJsonWriter();
  if (format == "csv") return MakeCsvWriter();
  if (format == "markdown" || format == "md") return MakeMarkdownWriter();
  if (format == "html") return MakeHtmlWriter();
  throw InputError("unknown report format \"" + format + "\"" +
                   DidYouMean(format, WriterFormats()));
}

std::string WriteReportDir(const Report& report, const std::string& dir) {
  // Every file is made before the first is written, and the set is written all or nothing, so a
  // writer or a write that fails leaves the folder as it was.
  OutputFiles files;
  for (const char* format : {"json", "csv", "markdown", "html"})
    for (OutputFile& f : MakeWriter(format)->Write(report))
      files.push_back({f.name, std::move(f.content)});
  // The what-if clusters; sweeps of one report on one cluster share them (the main job's two
  // models), so each file is written once.
  std::set<std::string> clusters;
  for (const SweepReport& s : report.sweeps)
    for (const auto& [name, text] : s.variant_clusters)
      if (clusters.insert(name).second) files.push_back({"clusters/" + name, text});
  WriteFolderAtomic(dir, files);
  return (std::filesystem::path(dir) / "index.html").string();
}

}  // namespace convscale::reports
