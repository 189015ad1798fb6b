// Reading hand-written JSON with located errors, and writing outputs atomically.
//
// JsonObject is a checked view of one JSON object inside a file: every accessor knows the file
// name and the JSON pointer of the value, so every error reads
//   cluster.json: /fabric/levels/1/bandwidth: "40Gbs" is not a bandwidth ...; did you mean
//   "40Gbps"?
// Unknown keys are rejected (CheckKeys) with a "did you mean", never ignored.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/util/error.h"

namespace convscale {

using Json = nlohmann::ordered_json;

// Parses a file; a syntax error names the file, line and column. A missing file is an InputError.
Json ReadJsonFile(const std::string& path);
// Parses text that came from `name` (a file name used in messages).
Json ParseJson(const std::string& text, const std::string& name);

// Writes `content` to `path` atomically (temporary file in the same directory, then rename), so
// a failed run never leaves a half-written file and never destroys an earlier one.
void WriteFileAtomic(const std::string& path, const std::string& content);
// JSON with 2-space indentation and a trailing newline, written atomically.
void WriteJsonAtomic(const std::string& path, const Json& j);

// Appends a JSON pointer token, escaping "~" and "/".
std::string PointerJoin(const std::string& pointer, const std::string& token);
std::string PointerJoin(const std::string& pointer, size_t index);

class JsonObject {
 public:
  // Throws InputError if `value` is not an object.
  JsonObject(const Json& value, std::string file, std::string pointer);

  // Rejects any key not in `allowed`, with "did you mean".
  void CheckKeys(std::initializer_list<const char*> allowed) const;
  void CheckKeys(const std::vector<std::string>& allowed) const;

  bool Has(const char* key) const { return value_->contains(key); }
  const Json& Raw() const { return *value_; }
  const Json& Get(const char* key) const;  // required; error if missing
  const std::string& File() const { return file_; }
  const std::string& Pointer() const { return pointer_; }
  std::string PointerOf(const char* key) const { return PointerJoin(pointer_, key); }

  std::string String(const char* key) const;
  std::string String(const char* key, const std::string& fallback) const;
  // Integers: must be whole numbers within [min, max].
  int64_t Int(const char* key, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  int64_t Int(const char* key, int64_t fallback, int64_t min, int64_t max) const;
  double Number(const char* key) const;
  double Number(const char* key, double fallback) const;
  bool Bool(const char* key, bool fallback) const;
  std::vector<int64_t> IntArray(const char* key, int64_t min = INT64_MIN,
                                int64_t max = INT64_MAX) const;

  // Quantities with units (model/util/units.h). `positive` rejects zero.
  double Bandwidth(const char* key, bool positive = true) const;
  double Bytes(const char* key, bool positive = true) const;
  double Time(const char* key) const;
  double FlopRate(const char* key, bool positive = true) const;
  std::optional<double> OptionalBandwidth(const char* key) const;
  std::optional<double> OptionalBytes(const char* key) const;
  std::optional<double> OptionalTime(const char* key) const;
  std::optional<double> OptionalFlopRate(const char* key) const;

  JsonObject Object(const char* key) const;
  // Each element must be an object.
  std::vector<JsonObject> ObjectArray(const char* key) const;
  // The array at `key` (error if missing or not an array).
  const Json& Array(const char* key) const;

  // An InputError located at this object, or at one of its keys.
  InputError Error(const std::string& what) const;
  InputError Error(const char* key, const std::string& what) const;

 private:
  double Quantity(const char* key, double (*parse)(std::string_view), bool positive) const;

  const Json* value_;
  std::string file_;
  std::string pointer_;
};

// "a number", "a string", ...: for messages.
const char* JsonTypeName(const Json& j);

// Refuses a document that marks itself as another of convscale's formats, before its keys are
// checked, so a cluster given as a plan reads "this is a cluster description" rather than an
// unknown key. `expected` is "model", "cluster", "plan" or "profile"; the marks are "format"
// ("convscale-model", "convscale-cluster") and "context"/"kind" ("plan", "summary", ...).
void CheckDocumentKind(const Json& j, const std::string& file, const std::string& expected);

}  // namespace convscale
