// Escaping for every output format. Every string a user can influence (model and cluster names,
// file names, option values, labels) passes through one of these before it reaches a writer's
// output; writers never concatenate raw user text.
#pragma once

#include <string>
#include <string_view>

#include "model/util/escape.h"

namespace convscale::reports {

// HTML and SVG text and attributes: XmlEscape (model/util/escape.h), shared with the simulator.
using convscale::XmlEscape;

// For Markdown table cells and headings: & < > as entities (renderers pass raw HTML through),
// Markdown punctuation (\ ` * _ [ ] | # etc.) backslash-escaped; newlines become spaces.
std::string MarkdownEscape(std::string_view s);

// RFC 4180 field: quoted when it holds a comma, quote, CR or LF (quotes doubled). A field that
// starts with = + - @ is prefixed with ' so spreadsheets do not run it as a formula.
std::string CsvField(std::string_view s);

}  // namespace convscale::reports
