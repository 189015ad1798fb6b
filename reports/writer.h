// Report writers behind one interface (google/benchmark's reporters): each takes the whole
// neutral Report and returns the files it writes. Formats: console (plain text for a terminal),
// json, csv, markdown, html. Every writer is deterministic: the same Report gives the same bytes
// (the context block's timestamp is the only input that changes between runs; see
// CONVSCALE_FIXED_TIMESTAMP in model/util/context.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/util/json.h"
#include "reports/records.h"

namespace convscale::reports {

struct OutputFile {
  std::string name;  // file name inside the report folder ("index.html"); "-" for the console
  std::string content;
};

class Writer {
 public:
  virtual ~Writer() = default;
  virtual const char* format() const = 0;  // "json", "csv", ...
  virtual std::vector<OutputFile> Write(const Report& report) const = 0;
};

std::unique_ptr<Writer> MakeConsoleWriter();   // "-": text tables
std::unique_ptr<Writer> MakeJsonWriter();      // report.json
std::unique_ptr<Writer> MakeCsvWriter();       // selection.csv, sweep.csv, comparison.csv
std::unique_ptr<Writer> MakeMarkdownWriter();  // report.md
std::unique_ptr<Writer> MakeHtmlWriter();      // index.html, self-contained

// "console", "json", "csv", "markdown", "html". Unknown names throw InputError with did-you-mean.
std::unique_ptr<Writer> MakeWriter(const std::string& format);
std::vector<std::string> WriterFormats();

// The JSON document of a report (what report.json holds).
Json ToJson(const Report& report);
// One sweep point as report.json holds it.
Json ToJson(const SweepPoint& point);

// Reading back what ToJson wrote (`convscale sweep merge`). Missing or mistyped keys are
// InputErrors naming `file` and the JSON pointer; derived keys (ideal_speedup, knees) are ignored.
SweepPoint SweepPointFromJson(const Json& j, const std::string& file, const std::string& pointer);
SweepReport SweepFromJson(const Json& j, const std::string& file, const std::string& pointer);

// Writes the json, csv, markdown and html files into `dir` (created if needed), with the sweeps'
// variant clusters in clusters/, all or nothing. Returns the path of index.html.
std::string WriteReportDir(const Report& report, const std::string& dir);

}  // namespace convscale::reports
