#include "reports/writer.h"

#include <filesystem>
#include <system_error>

#include "model/util/error.h"

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
  // Every file is made before the first is written, so a writer that fails leaves the folder
  // as it was; each file is then replaced atomically.
  std::vector<OutputFile> files;
  for (const char* format : {"json", "csv", "markdown", "html"})
    for (OutputFile& f : MakeWriter(format)->Write(report)) files.push_back(std::move(f));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec))
    throw InputError(dir + ": cannot create the report folder: " +
                     (ec ? ec.message() : std::string("a file of that name exists")));
  for (const OutputFile& f : files)
    WriteFileAtomic((std::filesystem::path(dir) / f.name).string(), f.content);
  return (std::filesystem::path(dir) / "index.html").string();
}

}  // namespace convscale::reports
