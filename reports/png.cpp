#include "reports/png.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "model/util/error.h"

namespace convscale::reports {
namespace {

uint32_t Be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

int Paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

}  // namespace

PngStats InspectPng(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError(path + ": cannot open");
  const std::vector<unsigned char> data((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (data.size() < 33 || !std::equal(sig, sig + 8, data.begin()))
    throw RuntimeError(path + ": not a PNG file");
  PngStats st;
  int depth = 0, color = 0, interlace = 0;
  std::vector<unsigned char> z;
  for (size_t at = 8; at + 12 <= data.size();) {
    const uint32_t len = Be32(&data[at]);
    const std::string type(data.begin() + at + 4, data.begin() + at + 8);
    if (at + 12 + len > data.size()) throw RuntimeError(path + ": truncated chunk " + type);
    const unsigned char* body = &data[at + 8];
    if (type == "IHDR") {
      st.width = static_cast<int>(Be32(body));
      st.height = static_cast<int>(Be32(body + 4));
      depth = body[8];
      color = body[9];
      interlace = body[12];
    } else if (type == "IDAT") {
      z.insert(z.end(), body, body + len);
    } else if (type == "IEND") {
      break;
    }
    at += 12 + len;
  }
  const int channels = color == 0 ? 1 : color == 2 ? 3 : color == 6 ? 4 : color == 4 ? 2 : 0;
  if (depth != 8 || channels == 0 || interlace != 0)
    throw RuntimeError(path + ": unsupported PNG (bit depth " + std::to_string(depth) +
                       ", colour type " + std::to_string(color) + ", interlace " +
                       std::to_string(interlace) + ")");
  const size_t stride = size_t(st.width) * channels;
  std::vector<unsigned char> raw((stride + 1) * st.height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, z.data(), z.size()) != Z_OK || raw_len != raw.size())
    throw RuntimeError(path + ": corrupt image data");
  std::vector<unsigned char> prev(stride, 0), cur(stride);
  for (int y = 0; y < st.height; ++y) {
    const unsigned char* line = &raw[y * (stride + 1)];
    const int filter = line[0];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= size_t(channels) ? cur[i - channels] : 0;
      const int b = prev[i];
      const int c = i >= size_t(channels) ? prev[i - channels] : 0;
      int v = line[1 + i];
      switch (filter) {
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) / 2;
          break;
        case 4:
          v += Paeth(a, b, c);
          break;
        default:
          break;
      }
      cur[i] = static_cast<unsigned char>(v);
    }
    for (int x = 0; x < st.width; ++x) {
      const unsigned char* px = &cur[size_t(x) * channels];
      const int colour_channels = channels >= 3 ? 3 : 1;
      int lo = 255, hi = 0;
      for (int k = 0; k < colour_channels; ++k)
        lo = std::min<int>(lo, px[k]), hi = std::max<int>(hi, px[k]);
      ++st.pixels;
      if (lo < 240) ++st.non_white;
      if (hi - lo > 40) ++st.colored;
    }
    std::swap(prev, cur);
  }
  return st;
}

}  // namespace convscale::reports
