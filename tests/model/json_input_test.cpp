// Reading JSON input (model/util/json.h): the nesting limit, repeated keys, and objects with many
// keys, each with the exact message the user sees.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "model/util/json.h"

namespace convscale {
namespace {

std::string Nested(size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

std::string ParseError(const std::string& text) {
  try {
    ParseJson(text, "f.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(JsonInput, NestingUpToTheLimitIsRead) {
  const Json j = ParseJson(Nested(256), "f.json");
  size_t depth = 1;
  for (const Json* at = &j; !at->empty(); at = &(*at)[0]) ++depth;
  EXPECT_EQ(depth, 256u);
}

TEST(JsonInput, NestingBeyondTheLimitIsRefusedWhereItStarts) {
  EXPECT_EQ(ParseError(Nested(257)),
            "f.json: line 1, column 257: arrays and objects nest more than 256 levels deep");
  // Brackets inside strings (escaped quotes included) do not count.
  EXPECT_EQ(
      ParseError("{\"a\\\"[[[\": \"" + std::string(300, '[') + "\", \"b\":\n " + Nested(300) + "}"),
      "f.json: line 2, column 257: arrays and objects nest more than 256 levels deep");
  // The size that crashed every reader with a stack overflow.
  EXPECT_EQ(ParseError("{\"a\": " + Nested(100000) + "}"),
            "f.json: line 1, column 262: arrays and objects nest more than 256 levels deep");
}

TEST(JsonInput, RepeatedKeysAreRefusedWithTheirPlace) {
  EXPECT_EQ(ParseError(R"({"a": [{"b": 1}, {"c": 1, "d": {}, "c": 2}]})"),
            "f.json: /a/1/c: the key \"c\" appears twice in one object");
  EXPECT_EQ(ParseError(R"({"x~/y": {"k": 1, "k": 1}})"),
            "f.json: /x~0~1y/k: the key \"k\" appears twice in one object");
  // The same key in different objects is fine.
  const Json j = ParseJson(R"({"a": {"k": 1}, "b": {"k": 2}})", "f.json");
  EXPECT_EQ(j["b"]["k"], 2);
}

TEST(JsonInput, ManyKeysKeepTheirOrder) {
  std::string text = "{";
  for (int i = 99999; i >= 0; --i)
    text += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + (i > 0 ? ", " : "}");
  const Json j = ParseJson(text, "f.json");
  ASSERT_EQ(j.size(), 100000u);
  EXPECT_EQ(j.begin().key(), "k99999");
  EXPECT_EQ(j["k0"], 0);
  std::string compact = text;  // dump() writes no space after ":" and ","
  compact.erase(std::remove(compact.begin(), compact.end(), ' '), compact.end());
  EXPECT_EQ(j.dump(), compact);
}

}  // namespace
}  // namespace convscale
