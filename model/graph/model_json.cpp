#include "model/graph/model_json.h"

#include <algorithm>
#include <map>
#include <queue>
#include <set>
#include <stdexcept>
#include <utility>

#include "model/util/error.h"

namespace convscale::graph {

namespace {

constexpr int64_t kMaxWindow = 1 << 16;  // bound on kernel, stride, padding, dilation
constexpr int64_t kMaxCount = int64_t{1} << 40;

// The keys every layer has, and those of each type.
const std::vector<std::string> kCommonKeys = {"name", "type", "inputs"};

std::vector<std::string> TypeKeys(LayerType t) {
  switch (t) {
    case LayerType::kConv2d:
      return {"out_channels", "kernel", "stride", "padding", "dilation", "groups", "bias"};
    case LayerType::kLinear:
      return {"out_features", "bias"};
    case LayerType::kMaxPool:
      return {"kernel", "stride", "padding", "ceil_mode"};
    case LayerType::kAvgPool:
      return {"kernel", "stride", "padding", "ceil_mode", "count_include_pad"};
    case LayerType::kAdaptiveAvgPool:
      return {"output_size"};
    case LayerType::kDropout:
      return {"p"};
    default:
      return {};
  }
}

std::vector<std::string> AllLayerKeys() {
  std::set<std::string> keys(kCommonKeys.begin(), kCommonKeys.end());
  for (const auto& name : LayerTypeNames())
    for (const auto& k : TypeKeys(ParseLayerType(name))) keys.insert(k);
  return {keys.begin(), keys.end()};
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// A window size given as one integer (square) or as [height, width].
std::pair<int, int> ReadPair(const JsonObject& o, const char* key, std::pair<int, int> fallback,
                             int64_t min) {
  if (!o.Has(key)) return fallback;
  const Json& v = o.Get(key);
  if (v.is_array()) {
    if (v.size() != 2)
      throw o.Error(key, "expected [height, width], found an array of " + std::to_string(v.size()) +
                             " values");
    const auto hw = o.IntArray(key, min, kMaxWindow);
    return {static_cast<int>(hw[0]), static_cast<int>(hw[1])};
  }
  if (!v.is_number())
    throw o.Error(key,
                  std::string("expected an integer or [height, width], found ") + JsonTypeName(v));
  const int x = static_cast<int>(o.Int(key, min, kMaxWindow));
  return {x, x};
}

Json PairJson(int h, int w) {
  if (h == w) return h;
  return Json::array({h, w});
}

struct FileLayer {
  Layer layer;
  std::vector<std::string> input_names;
  std::vector<int> preds;  // file indices of the inputs; -1 for the network input
};

FileLayer ReadLayer(const JsonObject& o, size_t index) {
  static const std::vector<std::string> all_keys = AllLayerKeys();
  o.CheckKeys(all_keys);
  FileLayer f;
  Layer& l = f.layer;
  l.origin = PointerJoin("/layers", index);
  l.name = o.String("name");
  if (l.name.empty()) throw o.Error("name", "a layer name must not be empty");
  if (l.name == "input")
    throw o.Error("name",
                  "\"input\" names the network input (the top-level \"input\" object); choose "
                  "another layer name");
  const std::string type = o.String("type");
  try {
    l.type = ParseLayerType(type);
  } catch (const std::invalid_argument& e) {
    throw o.Error("type", e.what());
  }
  if (l.type == LayerType::kInput)
    throw o.Error("type",
                  "layer type \"input\" cannot be listed; the network input is the top-level "
                  "\"input\" object, which layers read by the name \"input\"");
  const std::vector<std::string> allowed = TypeKeys(l.type);
  for (const auto& [key, value] : o.Raw().items()) {
    const bool common = std::find(kCommonKeys.begin(), kCommonKeys.end(), key) != kCommonKeys.end();
    const bool own = std::find(allowed.begin(), allowed.end(), key) != allowed.end();
    if (!common && !own)
      throw o.Error(key.c_str(), "key \"" + key + "\" does not apply to a " + type + " layer" +
                                     (allowed.empty() ? " (it takes no parameters)"
                                                      : " (it takes: " + Join(allowed) + ")"));
  }

  const Json& inputs = o.Array("inputs");
  if (inputs.empty()) throw o.Error("inputs", "a layer needs at least one input");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].is_string())
      throw InputError(
          o.File(), PointerJoin(o.PointerOf("inputs"), i),
          std::string("expected a layer name (a string), found ") + JsonTypeName(inputs[i]));
    f.input_names.push_back(inputs[i].get<std::string>());
  }

  LayerParams& p = l.p;
  switch (l.type) {
    case LayerType::kConv2d: {
      p.out_channels = o.Int("out_channels", 1, kMaxCount);
      if (!o.Has("kernel")) o.Get("kernel");  // throws "missing required key"
      std::tie(p.kernel_h, p.kernel_w) = ReadPair(o, "kernel", {0, 0}, 1);
      std::tie(p.stride_h, p.stride_w) = ReadPair(o, "stride", {1, 1}, 1);
      std::tie(p.pad_h, p.pad_w) = ReadPair(o, "padding", {0, 0}, 0);
      std::tie(p.dilation_h, p.dilation_w) = ReadPair(o, "dilation", {1, 1}, 1);
      p.groups = static_cast<int>(o.Int("groups", 1, 1, INT32_MAX));
      p.bias = o.Bool("bias", true);
      break;
    }
    case LayerType::kLinear:
      p.out_features = o.Int("out_features", 1, kMaxCount);
      p.bias = o.Bool("bias", true);
      break;
    case LayerType::kMaxPool:
    case LayerType::kAvgPool: {
      if (!o.Has("kernel")) o.Get("kernel");
      std::tie(p.kernel_h, p.kernel_w) = ReadPair(o, "kernel", {0, 0}, 1);
      // As in PyTorch, the stride defaults to the kernel size.
      std::tie(p.stride_h, p.stride_w) = ReadPair(o, "stride", {p.kernel_h, p.kernel_w}, 1);
      std::tie(p.pad_h, p.pad_w) = ReadPair(o, "padding", {0, 0}, 0);
      p.ceil_mode = o.Bool("ceil_mode", false);
      if (l.type == LayerType::kAvgPool) p.count_include_pad = o.Bool("count_include_pad", true);
      break;
    }
    case LayerType::kAdaptiveAvgPool:
      std::tie(p.out_h, p.out_w) = ReadPair(o, "output_size", {1, 1}, 1);
      break;
    case LayerType::kDropout:
      p.p = o.Number("p", 0.5);
      if (p.p < 0 || p.p >= 1)
        throw o.Error("p", "dropout probability " + o.Get("p").dump() + " must be in [0, 1)");
      break;
    default:
      break;
  }
  return f;
}

// Orders the layers so that every layer comes after its inputs: Kahn's algorithm, taking the
// ready layer listed first in the file, so a file already in order keeps its order. Layers left
// over sit on or behind a cycle; walking back along inputs from the first of them finds it.
std::vector<int> TopologicalOrder(const std::vector<FileLayer>& layers, const std::string& file) {
  const int n = static_cast<int>(layers.size());
  std::vector<int> missing(n, 0);
  std::vector<std::vector<int>> consumers(n);
  for (int v = 0; v < n; ++v)
    for (int u : layers[v].preds)
      if (u >= 0) {
        ++missing[v];
        consumers[u].push_back(v);
      }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int v = 0; v < n; ++v)
    if (missing[v] == 0) ready.push(v);
  std::vector<int> order;
  std::vector<bool> placed(n, false);
  while (!ready.empty()) {
    const int v = ready.top();
    ready.pop();
    order.push_back(v);
    placed[v] = true;
    for (int c : consumers[v])
      if (--missing[c] == 0) ready.push(c);
  }
  if (static_cast<int>(order.size()) == n) return order;

  int start = 0;
  while (placed[start]) ++start;
  std::vector<int> walk;
  std::map<int, size_t> seen;
  int v = start;
  while (!seen.count(v)) {
    seen[v] = walk.size();
    walk.push_back(v);
    for (int u : layers[v].preds)  // an unplaced layer has at least one unplaced input
      if (u >= 0 && !placed[u]) {
        v = u;
        break;
      }
  }
  // walk[k..] goes against the data flow (each reads the next); reverse it to follow the flow
  // and start at the layer listed first in the file.
  std::vector<int> cycle(walk.begin() + static_cast<std::ptrdiff_t>(seen[v]), walk.end());
  std::reverse(cycle.begin(), cycle.end());
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  std::string path;
  for (int c : cycle) path += layers[c].layer.name + " -> ";
  path += layers[cycle[0]].layer.name;
  throw InputError(file, layers[cycle[0]].layer.origin,
                   "the layers form a cycle: " + path + " (\"a -> b\": b reads a's output)");
}

}  // namespace

Json ModelToJson(const Network& net) {
  Json j = Json::object();
  j["format"] = kModelFormat;
  j["version"] = kModelFormatVersion;
  j["name"] = net.name();
  const Shape in = net.input_shape();
  j["input"] = {{"channels", in.c}, {"height", in.h}, {"width", in.w}};
  j["num_classes"] = net.num_classes();
  Json layers = Json::array();
  for (size_t v = 1; v < net.size(); ++v) {
    const Layer& l = net.layer(static_cast<int>(v));
    const LayerParams& p = l.p;
    Json o = Json::object();
    o["name"] = l.name;
    o["type"] = std::string(LayerTypeName(l.type));
    Json inputs = Json::array();
    for (int u : l.inputs) inputs.push_back(net.layer(u).name);
    o["inputs"] = inputs;
    switch (l.type) {
      case LayerType::kConv2d:
        o["out_channels"] = p.out_channels;
        o["kernel"] = PairJson(p.kernel_h, p.kernel_w);
        o["stride"] = PairJson(p.stride_h, p.stride_w);
        o["padding"] = PairJson(p.pad_h, p.pad_w);
        o["dilation"] = PairJson(p.dilation_h, p.dilation_w);
        o["groups"] = p.groups;
        o["bias"] = p.bias;
        break;
      case LayerType::kLinear:
        o["out_features"] = p.out_features;
        o["bias"] = p.bias;
        break;
      case LayerType::kMaxPool:
      case LayerType::kAvgPool:
        o["kernel"] = PairJson(p.kernel_h, p.kernel_w);
        o["stride"] = PairJson(p.stride_h, p.stride_w);
        o["padding"] = PairJson(p.pad_h, p.pad_w);
        o["ceil_mode"] = p.ceil_mode;
        if (l.type == LayerType::kAvgPool) o["count_include_pad"] = p.count_include_pad;
        break;
      case LayerType::kAdaptiveAvgPool:
        o["output_size"] = PairJson(p.out_h, p.out_w);
        break;
      case LayerType::kDropout:
        o["p"] = p.p;
        break;
      default:
        break;
    }
    layers.push_back(std::move(o));
  }
  j["layers"] = std::move(layers);
  return j;
}

std::string ModelToJsonText(const Network& net) {
  return ModelToJson(net).dump(2) + "\n";
}

void ExportModelJson(const Network& net, const std::string& path) {
  WriteFileAtomic(path, ModelToJsonText(net));
}

Network ModelFromJson(const Json& j, const std::string& file) {
  CheckDocumentKind(j, file, "model");
  const JsonObject root(j, file, "");
  root.CheckKeys({"format", "version", "name", "input", "num_classes", "layers"});
  const std::string format = root.String("format");
  if (format != kModelFormat)
    throw root.Error("format",
                     "expected \"" + std::string(kModelFormat) + "\", found \"" + format + "\"");
  const int64_t version = root.Int("version", 1, INT64_MAX);
  if (version != kModelFormatVersion)
    throw root.Error("version", "unsupported version " + std::to_string(version) +
                                    "; this convscale reads version " +
                                    std::to_string(kModelFormatVersion));
  const std::string name = root.String("name");
  const JsonObject input = root.Object("input");
  input.CheckKeys({"channels", "height", "width"});
  const Shape shape{input.Int("channels", 1, kMaxCount), input.Int("height", 1, kMaxCount),
                    input.Int("width", 1, kMaxCount)};
  const int64_t num_classes = root.Int("num_classes", 1, kMaxCount);

  std::vector<FileLayer> layers;
  std::map<std::string, int> index;
  const std::vector<JsonObject> objects = root.ObjectArray("layers");
  if (objects.empty()) throw root.Error("layers", "a network needs at least one layer");
  for (size_t i = 0; i < objects.size(); ++i) {
    FileLayer f = ReadLayer(objects[i], i);
    if (auto it = index.find(f.layer.name); it != index.end())
      throw objects[i].Error("name", "layer name \"" + f.layer.name +
                                         "\" is used twice (first at " +
                                         layers[it->second].layer.origin + ")");
    index[f.layer.name] = static_cast<int>(i);
    layers.push_back(std::move(f));
  }
  std::vector<std::string> known = {"input"};
  for (const auto& f : layers) known.push_back(f.layer.name);
  for (size_t i = 0; i < layers.size(); ++i) {
    for (size_t k = 0; k < layers[i].input_names.size(); ++k) {
      const std::string& in = layers[i].input_names[k];
      if (in == "input") {
        layers[i].preds.push_back(-1);
        continue;
      }
      auto it = index.find(in);
      if (it == index.end())
        throw InputError(file, PointerJoin(PointerJoin(layers[i].layer.origin, "inputs"), k),
                         "unknown layer \"" + in + "\"" + DidYouMean(in, known));
      layers[i].preds.push_back(it->second);
    }
  }

  Network net(name, shape, num_classes);
  net.layer(0).origin = "/input";
  std::vector<int> vertex(layers.size(), -1);
  for (int i : TopologicalOrder(layers, file)) {
    Layer l = layers[i].layer;
    for (int u : layers[i].preds) l.inputs.push_back(u < 0 ? 0 : vertex[u]);
    vertex[i] = net.Add(std::move(l));
  }
  return net;
}

Network LoadModelJson(const std::string& path) {
  return ModelFromJson(ReadJsonFile(path), path);
}

}  // namespace convscale::graph
