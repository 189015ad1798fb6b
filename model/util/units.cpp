#include "model/util/units.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/util/error.h"

namespace convscale::units {
namespace {

struct Unit {
  const char* suffix;
  double factor;
};

// Splits "12.5 GB/s" into 12.5 and "GB/s" (spaces ignored). Throws on a missing or bad number.
double SplitNumber(std::string_view text, std::string& suffix, const char* kind) {
  std::string s;
  for (char c : text)
    if (c != ' ' && c != '\t') s += c;
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(s, &pos);
  } catch (const std::out_of_range&) {
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a " + kind +
                                ": the number is out of the range of a double (about 2.2e-308 " +
                                "to 1.8e308)");
  } catch (const std::exception&) {
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a " + kind +
                                ": it does not start with a number");
  }
  if (!std::isfinite(value))
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a finite " + kind);
  suffix = s.substr(pos);
  return value;
}

double Parse(std::string_view text, const std::vector<Unit>& table, const char* kind,
             const char* example) {
  std::string suffix;
  const double value = SplitNumber(text, suffix, kind);
  std::vector<std::string> names;
  for (const auto& u : table) {
    if (suffix == u.suffix) {
      if (value < 0)
        throw std::invalid_argument("\"" + std::string(text) + "\" is negative; a " + kind +
                                    " must be >= 0");
      const double scaled = value * u.factor;
      if (!std::isfinite(scaled))
        throw std::invalid_argument("\"" + std::string(text) + "\" is not a " + kind +
                                    ": it is too large for a double (more than 1.8e308 in " +
                                    "base units)");
      return scaled;
    }
    names.emplace_back(u.suffix);
  }
  std::string num_part(text.substr(0, text.size() - suffix.size()));
  std::string hint;
  const std::string close = ClosestMatch(suffix, names);
  if (!close.empty()) hint = "; did you mean \"" + num_part + close + "\"?";
  if (suffix.empty())
    throw std::invalid_argument("\"" + std::string(text) + "\" has no unit; a " + kind +
                                " needs one, for example " + example);
  throw std::invalid_argument("\"" + std::string(text) + "\" is not a " + kind + " (unit \"" +
                              suffix + "\" unknown, for example " + example + ")" + hint);
}

std::vector<Unit> WithPrefixes(const char* base, double base_factor, bool binary) {
  static const std::pair<const char*, double> dec[] = {
      {"", 1}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}};
  static const std::pair<const char*, double> bin[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}};
  std::vector<Unit> out;
  static std::vector<std::string> storage;  // suffix strings live for the program
  storage.reserve(256);
  for (auto [p, f] : dec) {
    storage.push_back(std::string(p) + base);
    out.push_back({storage.back().c_str(), f * base_factor});
  }
  if (binary)
    for (auto [p, f] : bin) {
      storage.push_back(std::string(p) + base);
      out.push_back({storage.back().c_str(), f * base_factor});
    }
  return out;
}

const std::vector<Unit>& BandwidthTable() {
  static const std::vector<Unit> t = [] {
    std::vector<Unit> v;
    for (auto& u : WithPrefixes("Bps", 1.0, true)) v.push_back(u);
    for (auto& u : WithPrefixes("B/s", 1.0, true)) v.push_back(u);
    for (auto& u : WithPrefixes("bps", 1.0 / 8, false)) v.push_back(u);
    for (auto& u : WithPrefixes("bit/s", 1.0 / 8, false)) v.push_back(u);
    return v;
  }();
  return t;
}

const std::vector<Unit>& BytesTable() {
  static const std::vector<Unit> t = [] {
    std::vector<Unit> v = WithPrefixes("B", 1.0, true);
    for (auto& u : WithPrefixes("b", 1.0 / 8, false)) v.push_back(u);
    return v;
  }();
  return t;
}

const std::vector<Unit>& TimeTable() {
  static const std::vector<Unit> t = {{"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}};
  return t;
}

const std::vector<Unit>& FlopTable() {
  static const std::vector<Unit> t = [] {
    std::vector<Unit> v = WithPrefixes("Flops", 1.0, false);
    for (auto& u : WithPrefixes("FLOPS", 1.0, false)) v.push_back(u);
    for (auto& u : WithPrefixes("FLOP/s", 1.0, false)) v.push_back(u);
    return v;
  }();
  return t;
}

std::string Fmt(double v, const char* unit) {
  char buf[64];
  const double a = std::fabs(v);
  if (a != 0 && a < 10)
    std::snprintf(buf, sizeof buf, "%.2f %s", v, unit);
  else if (a < 100)
    std::snprintf(buf, sizeof buf, "%.1f %s", v, unit);
  else
    std::snprintf(buf, sizeof buf, "%.0f %s", v, unit);
  return buf;
}

std::string Scaled(double v, const char* const* names, const double* factors, int n) {
  for (int i = 0; i < n; ++i)
    if (std::fabs(v) >= factors[i] || i == n - 1) return Fmt(v / factors[i], names[i]);
  return Fmt(v, names[n - 1]);
}

}  // namespace

double ParseBandwidth(std::string_view t) {
  return Parse(t, BandwidthTable(), "bandwidth", "\"100Gbps\" or \"12.5GBps\"");
}
double ParseBytes(std::string_view t) {
  return Parse(t, BytesTable(), "size", "\"80GiB\" or \"25MB\"");
}
double ParseTime(std::string_view t) {
  return Parse(t, TimeTable(), "time", "\"1.5us\"");
}
double ParseFlopRate(std::string_view t) {
  return Parse(t, FlopTable(), "compute rate", "\"989TFlops\"");
}

std::string FormatBandwidth(double v) {
  static const char* n[] = {"TB/s", "GB/s", "MB/s", "kB/s", "B/s"};
  static const double f[] = {1e12, 1e9, 1e6, 1e3, 1};
  return Scaled(v, n, f, 5);
}
std::string FormatBytes(double v) {
  static const char* n[] = {"TB", "GB", "MB", "kB", "B"};
  static const double f[] = {1e12, 1e9, 1e6, 1e3, 1};
  return Scaled(v, n, f, 5);
}
std::string FormatMemory(double v) {
  static const char* n[] = {"TiB", "GiB", "MiB", "KiB", "B"};
  static const double f[] = {1099511627776.0, 1073741824.0, 1048576.0, 1024.0, 1};
  return Scaled(v, n, f, 5);
}
std::string FormatTime(double v) {
  static const char* n[] = {"s", "ms", "us", "ns"};
  static const double f[] = {1, 1e-3, 1e-6, 1e-9};
  return Scaled(v, n, f, 4);
}
std::string FormatFlopRate(double v) {
  static const char* n[] = {"PFLOP/s", "TFLOP/s", "GFLOP/s", "MFLOP/s", "FLOP/s"};
  static const double f[] = {1e15, 1e12, 1e9, 1e6, 1};
  return Scaled(v, n, f, 5);
}
std::string FormatCount(double v) {
  static const char* n[] = {"T", "G", "M", "k", ""};
  static const double f[] = {1e12, 1e9, 1e6, 1e3, 1};
  std::string s = Scaled(v, n, f, 5);
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  return s;
}

}  // namespace convscale::units
