// Checked integer arithmetic for counts read from user files: tensor elements, parameters,
// channel sums, link counts. A product or sum that does not fit in an int64_t is reported as
// std::nullopt, so the caller can refuse the input with its file and place instead of carrying
// a wrapped (often negative) count into the cost model.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace convscale {

// The largest count convscale holds: 2^63 - 1.
inline constexpr int64_t kMaxCount64 = INT64_MAX;

inline std::optional<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// The product of all factors, or std::nullopt as soon as a partial product overflows.
inline std::optional<int64_t> CheckedProduct(std::initializer_list<int64_t> factors) {
  int64_t r = 1;
  for (int64_t f : factors) {
    const std::optional<int64_t> next = CheckedMul(r, f);
    if (!next) return std::nullopt;
    r = *next;
  }
  return r;
}

}  // namespace convscale
