// Reading back a rendered report: a minimal PNG decoder (8-bit greyscale, RGB, RGBA; no
// interlace), enough to check that a browser's screenshot of index.html holds drawn charts rather
// than a blank page. Used by tests/reports/chromium_test.cpp.
#pragma once

#include <cstdint>
#include <string>

namespace convscale::reports {

struct PngStats {
  int width = 0, height = 0;
  int64_t pixels = 0;
  int64_t non_white = 0;  // pixels with any channel below 240
  int64_t colored = 0;    // pixels whose channels differ by more than 40 (not grey: chart colours)
};

// Throws RuntimeError naming the file when it is not a PNG this decoder reads.
PngStats InspectPng(const std::string& path);

}  // namespace convscale::reports
