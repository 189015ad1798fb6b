#include "model/util/json.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "model/util/units.h"

namespace convscale {

namespace {

// The deepest nesting of arrays and objects any JSON input may have; convscale's own formats use
// fewer than 10 levels. Deeper input is refused before it is parsed (docs/limits.md).
constexpr size_t kMaxJsonDepth = 256;
// The largest JSON file read (2^31 bytes, 2 GiB): a plan of 4,096 GPUs is 1.8 GB.
constexpr size_t kMaxJsonBytes = size_t{1} << 31;

// Converts a byte offset in `text` to "line L, column C".
std::string LineColumn(const std::string& text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

// The byte offset of `number` in `text` as a whole token (not part of a longer number or a
// string's letters), or npos.
size_t FindNumberToken(const std::string& text, const std::string& number) {
  auto part = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+';
  };
  for (size_t at = text.find(number); at != std::string::npos; at = text.find(number, at + 1)) {
    const size_t end = at + number.size();
    if ((at == 0 || !part(text[at - 1])) && (end >= text.size() || !part(text[end]))) return at;
  }
  return std::string::npos;
}

// The first place where arrays and objects nest deeper than kMaxJsonDepth, as "line L, column
// C", or "" when they never do. A linear scan of the brackets outside strings, made before the
// parse so that no deep value is ever built (copying or printing one recurses once per level).
std::string FirstTooDeep(const std::string& text) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return LineColumn(text, i);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return "";
}

// nlohmann's SAX interface, building the same ordered_json its own parser builds, with two
// differences: a key repeated in one object is an error (nlohmann keeps the last value), and a
// key is appended to its object without ordered_map's linear search for an earlier one (which
// made an object of n keys cost n^2); the set of the open objects' keys finds repeats instead.
class DomBuilder {
 public:
  DomBuilder(Json& root, const std::string& name) : root_(root), name_(name) {}

  bool null() { return Value(nullptr) != nullptr; }
  bool boolean(bool b) { return Value(b) != nullptr; }
  bool number_integer(Json::number_integer_t n) { return Value(n) != nullptr; }
  bool number_unsigned(Json::number_unsigned_t n) { return Value(n) != nullptr; }
  bool number_float(Json::number_float_t x, const std::string&) { return Value(x) != nullptr; }
  bool string(Json::string_t& s) { return Value(std::move(s)) != nullptr; }
  bool binary(Json::binary_t& b) { return Value(std::move(b)) != nullptr; }

  bool start_object(size_t) {
    open_.push_back(Value(Json::value_t::object));
    keys_.emplace_back();
    return true;
  }
  bool key(Json::string_t& k) {
    if (!keys_.back().insert(k).second)
      throw InputError(name_, PointerJoin(Pointer(), k),
                       "the key \"" + k + "\" appears twice in one object");
    auto& members =
        static_cast<Json::object_t::Container&>(open_.back()->get_ref<Json::object_t&>());
    members.emplace_back(k, nullptr);
    member_ = &members.back().second;
    return true;
  }
  bool end_object() {
    open_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool start_array(size_t) {
    open_.push_back(Value(Json::value_t::array));
    return true;
  }
  bool end_array() {
    open_.pop_back();
    return true;
  }
  // Rethrown with its own type so that ParseJson's handlers see what Json::parse would throw.
  template <class Exception>
  bool parse_error(size_t, const std::string&, const Exception& e) {
    throw e;
  }

 private:
  // Places a value in the open array, under the last key of the open object, or at the root.
  template <class V>
  Json* Value(V&& v) {
    if (open_.empty()) {
      root_ = Json(std::forward<V>(v));
      return &root_;
    }
    Json* top = open_.back();
    if (top->is_array()) {
      auto& a = top->get_ref<Json::array_t&>();
      a.emplace_back(std::forward<V>(v));
      return &a.back();
    }
    *member_ = Json(std::forward<V>(v));
    return member_;
  }
  // The JSON pointer of the innermost open object or array.
  std::string Pointer() const {
    std::string p;
    for (size_t i = 0; i + 1 < open_.size(); ++i) {
      const Json& parent = *open_[i];
      if (parent.is_array()) {
        p = PointerJoin(p, parent.size() - 1);
      } else {
        const auto& members = parent.get_ref<const Json::object_t&>();
        p = PointerJoin(p, members.back().first);
      }
    }
    return p;
  }

  Json& root_;
  const std::string& name_;
  std::vector<Json*> open_;  // the open arrays and objects, outermost first
  std::vector<std::unordered_set<std::string>> keys_;  // the keys of each open object
  Json* member_ = nullptr;                             // the value of the last key read
};

}  // namespace

const char* JsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    default:
      return "a value";
  }
}

void CheckDocumentKind(const Json& j, const std::string& file, const std::string& expected) {
  if (!j.is_object()) return;
  // What each mark says a document is.
  static const std::vector<std::pair<std::string, std::string>> kFormats = {
      {"convscale-model", "a model"}, {"convscale-cluster", "a cluster description"}};
  static const std::vector<std::pair<std::string, std::string>> kKinds = {
      {"plan", "a plan"},
      {"summary", "a summary (simulate or execute -o)"},
      {"profile", "a profile"},
      {"sweep", "a sweep report"},
      {"sweep-point", "a sweep point"},
      {"select", "a selection report"},
      {"whatif", "a what-if report"},
      {"compare", "a comparison report"},
      {"report", "a report"}};
  auto lookup = [](const auto& table, const std::string& mark) -> std::string {
    for (const auto& [m, what] : table)
      if (m == mark) return what;
    return "";
  };
  std::string pointer, mark, what;
  if (const auto f = j.find("format"); f != j.end() && f->is_string()) {
    pointer = "/format";
    mark = f->get<std::string>();
    if (mark == "convscale-" + expected) return;
    what = lookup(kFormats, mark);
  } else if (const auto c = j.find("context"); c != j.end() && c->is_object()) {
    const auto k = c->find("kind");
    if (k == c->end() || !k->is_string()) return;
    pointer = "/context/kind";
    mark = k->get<std::string>();
    if (mark == expected) return;
    what = lookup(kKinds, mark);
  }
  if (what.empty()) return;  // unmarked, or a mark the reader's own checks will name
  const bool vowel = std::string("aeiou").find(expected[0]) != std::string::npos;
  throw InputError(
      file, pointer,
      "\"" + mark + "\": this is " + what + ", not " + (vowel ? "an " : "a ") + expected);
}

Json ParseJson(const std::string& text, const std::string& name) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError(name + ": the file is empty; expected a JSON object");
  if (const size_t nul = text.find('\0'); nul != std::string::npos)
    throw InputError(name + ": not a JSON text file: binary data (a NUL byte at byte offset " +
                     std::to_string(nul) + ")");
  if (const std::string at = FirstTooDeep(text); !at.empty())
    throw InputError(name + ": " + at + ": arrays and objects nest more than " +
                     std::to_string(kMaxJsonDepth) + " levels deep");
  try {
    Json root;
    DomBuilder builder(root, name);
    Json::sax_parse(text, &builder);
    return root;
  } catch (const Json::parse_error& e) {
    // nlohmann: "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error
    // while parsing value - invalid literal; last read: 'th'". Keep what follows the position.
    const std::string what = e.what();
    size_t from = what.find("parse error");
    from = from == std::string::npos ? std::string::npos : what.find(": ", from);
    const std::string reason = from == std::string::npos ? what : what.substr(from + 2);
    throw InputError(name + ": " + LineColumn(text, e.byte == 0 ? 0 : e.byte - 1) +
                     ": not valid JSON: " + reason);
  } catch (const Json::exception& e) {
    // Not a syntax error but a value nlohmann cannot hold, e.g. out_of_range.406 for "5E022222"
    // (found by scripts/fuzz): "[json.exception.out_of_range.406] number overflow parsing
    // '5E022222'". nlohmann gives no position; the number is found in the text.
    std::string what = e.what();
    if (const size_t close = what.find("] "); close != std::string::npos)
      what = what.substr(close + 2);
    const size_t q1 = what.find('\''), q2 = what.rfind('\'');
    if (what.rfind("number overflow", 0) == 0 && q1 != std::string::npos && q2 > q1 + 1) {
      const std::string number = what.substr(q1 + 1, q2 - q1 - 1);
      const size_t at = FindNumberToken(text, number);
      throw InputError(name + ": " + (at == std::string::npos ? "" : LineColumn(text, at) + ": ") +
                       "the number " + number +
                       " is out of range: JSON numbers must fit a double (at most about 1.8e308)");
    }
    throw InputError(name + ": not valid JSON: " + what);
  }
}

Json ReadJsonFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path + ": is a directory; expected a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open: " + std::strerror(errno));
  // Read in pieces, so that a device or pipe that never ends (/dev/zero) is refused at its first
  // NUL byte or at the size limit instead of filling the memory.
  std::string text;
  std::vector<char> piece(1 << 20);
  while (in) {
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    const size_t got = static_cast<size_t>(in.gcount());
    if (const void* nul = std::memchr(piece.data(), '\0', got))
      throw InputError(
          path + ": not a JSON text file: binary data (a NUL byte at byte offset " +
          std::to_string(text.size() + (static_cast<const char*>(nul) - piece.data())) + ")");
    if (text.size() + got > kMaxJsonBytes)
      throw InputError(path + ": larger than a JSON input may be (" +
                       std::to_string(kMaxJsonBytes) + " bytes)");
    text.append(piece.data(), got);
  }
  if (in.bad()) throw InputError(path + ": cannot read: " + std::strerror(errno));
  return ParseJson(text, path);
}

void WriteJsonAtomic(const std::string& path, const Json& j) {
  WriteFileAtomic(path, j.dump(2) + "\n");
}

std::string PointerJoin(const std::string& pointer, const std::string& token) {
  std::string t;
  for (char c : token) {
    if (c == '~')
      t += "~0";
    else if (c == '/')
      t += "~1";
    else
      t += c;
  }
  return pointer + "/" + t;
}

std::string PointerJoin(const std::string& pointer, size_t index) {
  return pointer + "/" + std::to_string(index);
}

JsonObject::JsonObject(const Json& value, std::string file, std::string pointer)
    : value_(&value), file_(std::move(file)), pointer_(std::move(pointer)) {
  if (!value.is_object())
    throw InputError(file_, pointer_.empty() ? "/" : pointer_,
                     std::string("expected an object, found ") + JsonTypeName(value));
}

void JsonObject::CheckKeys(std::initializer_list<const char*> allowed) const {
  CheckKeys(std::vector<std::string>(allowed.begin(), allowed.end()));
}

void JsonObject::CheckKeys(const std::vector<std::string>& allowed) const {
  for (const auto& [key, v] : value_->items()) {
    bool ok = false;
    for (const auto& a : allowed) ok = ok || a == key;
    if (!ok)
      throw InputError(file_, PointerJoin(pointer_, key),
                       "unknown key \"" + key + "\"" + DidYouMean(key, allowed));
  }
}

InputError JsonObject::Error(const std::string& what) const {
  return InputError(file_, pointer_.empty() ? "/" : pointer_, what);
}

InputError JsonObject::Error(const char* key, const std::string& what) const {
  return InputError(file_, PointerJoin(pointer_, key), what);
}

const Json& JsonObject::Get(const char* key) const {
  auto it = value_->find(key);
  if (it == value_->end()) throw Error(std::string("missing required key \"") + key + "\"");
  return *it;
}

std::string JsonObject::String(const char* key) const {
  const Json& v = Get(key);
  if (!v.is_string()) throw Error(key, std::string("expected a string, found ") + JsonTypeName(v));
  return v.get<std::string>();
}

std::string JsonObject::String(const char* key, const std::string& fallback) const {
  return Has(key) ? String(key) : fallback;
}

int64_t JsonObject::Int(const char* key, int64_t min, int64_t max) const {
  const Json& v = Get(key);
  int64_t x = 0;
  // "must be between 1 and 64" for the limits (min, max).
  auto range = [&] {
    if (min == INT64_MIN && max == INT64_MAX) return std::string("a 64-bit integer");
    if (max == INT64_MAX) return ">= " + std::to_string(min);
    if (min == INT64_MIN) return "<= " + std::to_string(max);
    return "between " + std::to_string(min) + " and " + std::to_string(max);
  };
  if (v.is_number_integer() || v.is_number_unsigned()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      throw Error(key, v.dump() + " is out of range: must be " + range());
    x = v.get<int64_t>();
  } else if (v.is_number_float()) {
    // nlohmann reads integers beyond 64 bits (18446744073709551616) and exponents (1e30) as
    // doubles: whole numbers too large to be exact are out of range, fractions not integers.
    const double d = v.get<double>();
    if (d != std::floor(d)) throw Error(key, "expected an integer, found " + v.dump());
    if (std::fabs(d) > 9e15) throw Error(key, v.dump() + " is out of range: must be " + range());
    x = static_cast<int64_t>(d);
  } else {
    throw Error(key, std::string("expected an integer, found ") + JsonTypeName(v));
  }
  if (x < min || x > max)
    throw Error(key, std::to_string(x) + " is out of range: must be " + range());
  return x;
}

int64_t JsonObject::Int(const char* key, int64_t fallback, int64_t min, int64_t max) const {
  return Has(key) ? Int(key, min, max) : fallback;
}

double JsonObject::Number(const char* key) const {
  const Json& v = Get(key);
  if (!v.is_number()) throw Error(key, std::string("expected a number, found ") + JsonTypeName(v));
  return v.get<double>();
}

double JsonObject::Number(const char* key, double fallback) const {
  return Has(key) ? Number(key) : fallback;
}

bool JsonObject::Bool(const char* key, bool fallback) const {
  if (!Has(key)) return fallback;
  const Json& v = Get(key);
  if (!v.is_boolean())
    throw Error(key, std::string("expected true or false, found ") + JsonTypeName(v));
  return v.get<bool>();
}

std::vector<int64_t> JsonObject::IntArray(const char* key, int64_t min, int64_t max) const {
  const Json& a = Array(key);
  std::vector<int64_t> out;
  for (size_t i = 0; i < a.size(); ++i) {
    Json wrap = Json::object();
    wrap["v"] = a[i];
    JsonObject w(wrap, file_, PointerJoin(pointer_, key));
    try {
      out.push_back(w.Int("v", min, max));
    } catch (const InputError& e) {
      std::string m = e.what();
      const std::string from = PointerJoin(PointerJoin(pointer_, key), "v");
      const std::string to = PointerJoin(PointerJoin(pointer_, key), i);
      if (auto p = m.find(from); p != std::string::npos) m.replace(p, from.size(), to);
      throw InputError(m);
    }
  }
  return out;
}

double JsonObject::Quantity(const char* key, double (*parse)(std::string_view),
                            bool positive) const {
  const Json& v = Get(key);
  if (!v.is_string())
    throw Error(key,
                std::string("expected a string with a unit (for example \"100Gbps\"), found ") +
                    JsonTypeName(v) + " " + v.dump());
  double x = 0;
  try {
    x = parse(v.get<std::string>());
  } catch (const std::invalid_argument& e) {
    throw Error(key, e.what());
  }
  if (positive && x <= 0)
    throw Error(key, "\"" + v.get<std::string>() + "\" must be greater than zero");
  return x;
}

double JsonObject::Bandwidth(const char* key, bool positive) const {
  return Quantity(key, units::ParseBandwidth, positive);
}
double JsonObject::Bytes(const char* key, bool positive) const {
  return Quantity(key, units::ParseBytes, positive);
}
double JsonObject::Time(const char* key) const {
  // A cluster's latencies and per-kernel overheads are micro- to milliseconds; the bound keeps
  // iteration times and throughputs printable and finite.
  constexpr double kMaxTime_s = 1;
  const double t = Quantity(key, units::ParseTime, false);
  if (t > kMaxTime_s)
    throw Error(key, "\"" + Get(key).get<std::string>() +
                         "\" is more than 1 s, the longest latency or overhead convscale accepts "
                         "(see docs/limits.md)");
  return t;
}
double JsonObject::FlopRate(const char* key, bool positive) const {
  return Quantity(key, units::ParseFlopRate, positive);
}
std::optional<double> JsonObject::OptionalBandwidth(const char* key) const {
  return Has(key) ? std::optional<double>(Bandwidth(key)) : std::nullopt;
}
std::optional<double> JsonObject::OptionalBytes(const char* key) const {
  return Has(key) ? std::optional<double>(Bytes(key)) : std::nullopt;
}
std::optional<double> JsonObject::OptionalTime(const char* key) const {
  return Has(key) ? std::optional<double>(Time(key)) : std::nullopt;
}
std::optional<double> JsonObject::OptionalFlopRate(const char* key) const {
  return Has(key) ? std::optional<double>(FlopRate(key)) : std::nullopt;
}

JsonObject JsonObject::Object(const char* key) const {
  return JsonObject(Get(key), file_, PointerJoin(pointer_, key));
}

const Json& JsonObject::Array(const char* key) const {
  const Json& v = Get(key);
  if (!v.is_array()) throw Error(key, std::string("expected an array, found ") + JsonTypeName(v));
  return v;
}

std::vector<JsonObject> JsonObject::ObjectArray(const char* key) const {
  const Json& a = Array(key);
  std::vector<JsonObject> out;
  for (size_t i = 0; i < a.size(); ++i)
    out.emplace_back(a[i], file_, PointerJoin(PointerJoin(pointer_, key), i));
  return out;
}

}  // namespace convscale
