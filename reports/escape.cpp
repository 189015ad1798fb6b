#include "reports/escape.h"

#include <cctype>

namespace convscale::reports {

std::string MarkdownEscape(std::string_view s) {
  // Markdown punctuation backslash-escaped; & < > as entities so no raw HTML reaches the
  // renderer (quotes are harmless outside attributes and stay readable).
  std::string md;
  for (char c : s) {
    switch (c) {
      case '\\':
      case '`':
      case '*':
      case '_':
      case '[':
      case ']':
      case '|':
      case '#':
      case '{':
      case '}':
      case '(':
      case ')':
      case '!':
      case '~':
        md += '\\';
        md += c;
        break;
      case '\n':
      case '\r':
        md += ' ';
        break;
      case '&':
        md += "&amp;";
        break;
      case '<':
        md += "&lt;";
        break;
      case '>':
        md += "&gt;";
        break;
      default:
        md += c;
    }
  }
  return md;
}

std::string CsvField(std::string_view s) {
  std::string v(s);
  if (!v.empty() &&
      (v[0] == '=' || v[0] == '+' || v[0] == '@' ||
       (v[0] == '-' &&
        !(v.size() > 1 && (std::isdigit(static_cast<unsigned char>(v[1])) || v[1] == '.')))))
    v = "'" + v;
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace convscale::reports
