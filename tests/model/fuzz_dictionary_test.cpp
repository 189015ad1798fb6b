// The fuzz dictionaries (tests/fuzz/*.dict, passed to libFuzzer by scripts/fuzz) are well formed,
// hold the huge-number tokens, and those tokens reach the loaders' range checks: each is refused
// with the file and the place (or parsed to a finite non-negative value, for units), never
// accepted as a wrapped or infinite number.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>

#include "model/graph/model_json.h"
#include "model/util/error.h"
#include "model/util/json.h"
#include "model/util/units.h"

namespace convscale {
namespace {

// name -> token of a libFuzzer dictionary; a line that libFuzzer would refuse fails the test
// (libFuzzer then ignores the whole file).
std::map<std::string, std::string> ReadDictionary(const std::string& name) {
  const std::string path = std::string(CONVSCALE_SOURCE_DIR) + "/tests/fuzz/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  const std::regex entry(R"re(([A-Za-z0-9_]+)="((?:[^"\\]|\\["\\]|\\x[0-9A-Fa-f]{2})*)")re");
  std::map<std::string, std::string> tokens;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::smatch m;
    if (!std::regex_match(line, m, entry)) {
      ADD_FAILURE() << path << ":" << line_no << ": not a dictionary entry: " << line;
      continue;
    }
    EXPECT_TRUE(tokens.emplace(m[1], m[2]).second) << path << ":" << line_no << ": " << m[1];
  }
  return tokens;
}

bool Has(const std::map<std::string, std::string>& tokens, const std::string& value) {
  for (const auto& [name, token] : tokens)
    if (token == value) return true;
  return false;
}

// A one-layer model whose out_channels is `number`, as it reaches ModelFromJson.
std::string Refusal(const std::string& number) {
  const std::string text =
      R"({"format": "convscale-model", "version": 1, "name": "m",
          "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 2,
          "layers": [{"name": "c", "type": "conv2d", "inputs": ["input"], "out_channels": )" +
      number + R"(, "kernel": 1}]})";
  try {
    graph::ModelFromJson(ParseJson(text, "m.json"), "m.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(FuzzDictionary, JsonHasTheHugeNumbersAndTheLoaderRefusesEach) {
  const auto tokens = ReadDictionary("json.dict");
  for (const char* t :
       {"1e308", "-1e308", "18446744073709551616", "9223372036854775808", "1e-320", "1e309"})
    EXPECT_TRUE(Has(tokens, t)) << "json.dict lacks " << t;
  const std::string at = "m.json: /layers/0/out_channels: ";
  const std::string range = " is out of range: must be between 1 and 1099511627776";
  EXPECT_EQ(Refusal("1e308"), at + "1e+308" + range);
  EXPECT_EQ(Refusal("-1e308"), at + "-1e+308" + range);
  EXPECT_EQ(Refusal("18446744073709551616"), at + "1.8446744073709552e+19" + range);
  EXPECT_EQ(Refusal("9223372036854775808"), at + "9223372036854775808" + range);
  EXPECT_EQ(Refusal("1e-320"), at + "expected an integer, found 1e-320");
  EXPECT_EQ(Refusal("1e309"),
            "m.json: line 3, column 91: the number 1e309 is out of range: JSON numbers must fit "
            "a double (at most about 1.8e308)");
  // Every number of the dictionary outside a channel count's range (1 to 2^40, whole) is
  // refused at the key or in the parse, never wrapped; the ones inside (2^31, 2^32) are models.
  const std::regex number(R"(-?[0-9.]+([eE][-+]?[0-9]+)?)");
  for (const auto& [name, token] : tokens) {
    if (!std::regex_match(token, number)) continue;
    const double v = std::strtod(token.c_str(), nullptr);
    const bool in_range = v >= 1 && v <= 1099511627776.0 && v == std::floor(v);
    EXPECT_EQ(Refusal(token) == "accepted", in_range) << name << " = " << token;
  }
}

TEST(FuzzDictionary, UnitsHasTheHugeNumbersAndTheParsersStayFinite) {
  const auto tokens = ReadDictionary("units.dict");
  for (const char* t : {"1e308", "-1e308", "1e309", "1e-320", "18446744073709551616"})
    EXPECT_TRUE(Has(tokens, t)) << "units.dict lacks " << t;
  // A huge number with a prefix leaves the double range: refused, never infinite or negative.
  for (const auto& [name, token] : tokens)
    for (const char* suffix : {"TBps", "Tibps", "TiB", "TFlops", "s", "us"}) {
      const std::string text = token + suffix;
      for (auto parse :
           {units::ParseBandwidth, units::ParseBytes, units::ParseTime, units::ParseFlopRate}) {
        try {
          const double v = parse(text);
          EXPECT_TRUE(std::isfinite(v) && v >= 0) << text << " -> " << v;
        } catch (const std::invalid_argument&) {
        }
      }
    }
  EXPECT_THROW(units::ParseBandwidth("1e308TBps"), std::invalid_argument);
  EXPECT_THROW(units::ParseBandwidth("-1e308Bps"), std::invalid_argument);
}

}  // namespace
}  // namespace convscale
