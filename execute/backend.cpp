// Small shared pieces of the executor interfaces (backend.h, elements.h).
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "execute/backend.h"
#include "execute/elements.h"

namespace convscale::exec {

int SizeOf(DataType t) {
  return t == DataType::kF32 ? 4 : 2;
}

DataType FromCommPrecision(plan::CommPrecision p) {
  switch (p) {
    case plan::CommPrecision::kFP16:
      return DataType::kF16;
    case plan::CommPrecision::kBF16:
      return DataType::kBF16;
    default:
      return DataType::kF32;
  }
}

const char* Name(DataType t) {
  switch (t) {
    case DataType::kF16:
      return "fp16";
    case DataType::kBF16:
      return "bf16";
    default:
      return "fp32";
  }
}

Buffer Buffer::Slice(size_t offset, size_t length) const {
  if (offset > bytes || length > bytes - offset)
    throw std::out_of_range("buffer slice [" + std::to_string(offset) + ", " +
                            std::to_string(offset + length) + ") of a " + std::to_string(bytes) +
                            "-byte buffer");
  return {static_cast<char*>(data) + offset, length, kind};
}

namespace {

float Bf16ToFloat(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float Load(const void* p, DataType t, size_t i) {
  switch (t) {
    case DataType::kF16:
      return float(static_cast<const _Float16*>(p)[i]);
    case DataType::kBF16:
      return Bf16ToFloat(static_cast<const uint16_t*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}
void Store(void* p, DataType t, size_t i, float v) {
  switch (t) {
    case DataType::kF16:
      static_cast<_Float16*>(p)[i] = _Float16(v);
      break;
    case DataType::kBF16:
      static_cast<uint16_t*>(p)[i] = FloatToBf16(v);
      break;
    default:
      static_cast<float*>(p)[i] = v;
  }
}

}  // namespace

void SumElements(void* dst, const void* src, DataType t, size_t n) {
  if (t == DataType::kF32) {
    float* d = static_cast<float*>(dst);
    const float* s = static_cast<const float*>(src);
    for (size_t i = 0; i < n; ++i) d[i] += s[i];
    return;
  }
  for (size_t i = 0; i < n; ++i) Store(dst, t, i, Load(dst, t, i) + Load(src, t, i));
}

void CastElements(void* dst, DataType to, const void* src, DataType from, size_t n) {
  if (to == from) {
    if (dst != src) std::memmove(dst, src, n * size_t(SizeOf(to)));
    return;
  }
  for (size_t i = 0; i < n; ++i) Store(dst, to, i, Load(src, from, i));
}

}  // namespace convscale::exec
