// Escaping text for XML and HTML, shared by the SimGrid platform export (simulate/platform.cpp)
// and the HTML and SVG report writers (reports/).
#pragma once

#include <string>
#include <string_view>

namespace convscale {

// & < > " ' become entities: safe in element text and in quoted attribute values, in XML and
// HTML alike.
inline std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace convscale
