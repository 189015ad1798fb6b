// models, model show NAME|FILE, model export NAME -o FILE, model import FILE.onnx -o FILE.
//
// Counting conventions (docs/model-format.md): MACs are the multiply-adds of convolutions and
// linear layers (torchvision's "GFLOPS" column); FLOPs count every layer with 1 MAC = 2 FLOPs;
// G = 1e9; bytes assume fp32.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/graph/model_json.h"
#include "model/graph/zoo.h"
#include "model/util/context.h"
#include "model/util/error.h"
#include "model/util/json.h"
#include "model/util/units.h"
#ifdef CONVSCALE_HAVE_ONNX
#include "model/onnx/onnx_import.h"
#endif

namespace convscale::cli {
namespace {

constexpr int kModelSchemaVersion = 1;

// Whole numbers as JSON integers (FLOP and byte counts are whole but held in doubles).
Json Number(double x) {
  if (x == std::floor(x) && std::fabs(x) < 9e15) return static_cast<int64_t>(x);
  return x;
}

Json ShapeJson(const graph::Shape& s) {
  return Json::array({s.c, s.h, s.w});
}

std::string Fixed(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

// A text table; `align` has one letter per column: 'l' left, 'r' right (numbers).
class Table {
 public:
  Table(std::vector<std::string> header, std::string align) : align_(std::move(align)) {
    rows_.push_back(std::move(header));
  }
  void Row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const {
    std::vector<size_t> width(rows_[0].size(), 0);
    for (const auto& r : rows_)
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    std::string out;
    for (const auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) {
        const std::string pad(width[i] - r[i].size(), ' ');
        if (i > 0) line += "  ";
        line += align_[i] == 'l' ? r[i] + pad : pad + r[i];
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  std::string align_;
  std::vector<std::vector<std::string>> rows_;
};

std::string ModelsText() {
  Table t({"name", "parameters", "GFLOPs(MACs)", "input", "description"}, "lrrll");
  for (const auto& m : graph::ZooModels()) {
    const graph::Network net = graph::LoadModel(m.name, 1);
    const auto totals = net.Totals();
    t.Row({m.name, std::to_string(totals.params), Fixed(totals.macs_forward / 1e9, 3),
           graph::ToString(m.input), m.description});
  }
  return "# GFLOPs(MACs): G multiply-adds of conv and linear layers per image (batch 1), G = 1e9,\n"
         "# as torchvision's \"GFLOPS\" column; 1 MAC = 2 FLOPs.\n" +
         t.Render();
}

Json ModelsJson() {
  Json j = Json::object();
  j["context"] = MakeContext("models", kModelSchemaVersion);
  Json list = Json::array();
  for (const auto& m : graph::ZooModels()) {
    const graph::Network net = graph::LoadModel(m.name, 1);
    const auto totals = net.Totals();
    list.push_back({{"name", m.name},
                    {"params", totals.params},
                    {"macs_forward", Number(totals.macs_forward)},
                    {"gmacs", totals.macs_forward / 1e9},
                    {"input_shape", ShapeJson(m.input)},
                    {"num_classes", net.num_classes()},
                    {"description", m.description}});
  }
  j["models"] = std::move(list);
  return j;
}

Json ShowJson(const graph::Network& net, const std::string& source) {
  const auto t = net.Totals();
  Json j = Json::object();
  j["context"] = MakeContext("model", kModelSchemaVersion);
  j["name"] = net.name();
  j["source"] = source;
  j["batch"] = net.batch();
  j["input_shape"] = ShapeJson(net.input_shape());
  j["num_classes"] = net.num_classes();
  j["params"] = t.params;
  j["macs_forward"] = Number(t.macs_forward);
  j["flops_forward"] = Number(t.flops_forward);
  j["flops_backward"] = Number(t.flops_backward);
  j["flops_backward_data"] = Number(t.flops_backward_data);
  j["flops_backward_weight"] = Number(t.flops_backward_weight);
  j["weight_bytes"] = Number(t.weight_bytes);
  j["saved_bytes"] = Number(t.saved_bytes);
  Json layers = Json::array();
  for (size_t v = 0; v < net.size(); ++v) {
    const graph::Layer& l = net.layer(static_cast<int>(v));
    Json inputs = Json::array();
    for (int u : l.inputs) inputs.push_back(net.layer(u).name);
    layers.push_back({{"name", l.name},
                      {"type", std::string(graph::LayerTypeName(l.type))},
                      {"inputs", inputs},
                      {"output_shape", ShapeJson(l.out)},
                      {"params", l.cost.params},
                      {"macs_forward", Number(l.cost.macs_forward)},
                      {"flops_forward", Number(l.cost.flops_forward)},
                      {"flops_backward_data", Number(l.cost.flops_backward_data)},
                      {"flops_backward_weight", Number(l.cost.flops_backward_weight)},
                      {"output_bytes", Number(l.cost.output_bytes)},
                      {"saved_bytes", Number(l.cost.saved_bytes)}});
  }
  j["layers"] = std::move(layers);
  return j;
}

std::string ShowText(const graph::Network& net) {
  const auto t = net.Totals();
  std::ostringstream out;
  out << "# " << net.name() << ": input " << graph::ToString(net.input_shape()) << ", batch "
      << net.batch() << ", " << net.num_classes() << " classes\n"
      << "# MACs: multiply-adds of conv/linear; FLOPs: every layer, 1 MAC = 2 FLOPs; "
         "FLOPs and bytes for the whole batch, fp32\n";
  Table table({"layer", "type", "output", "params", "MACs", "FLOPs fwd", "FLOPs bwd", "saved"},
              "lllrrrrr");
  for (size_t v = 0; v < net.size(); ++v) {
    const graph::Layer& l = net.layer(static_cast<int>(v));
    const auto& c = l.cost;
    table.Row({l.name, std::string(graph::LayerTypeName(l.type)), graph::ToString(l.out),
               std::to_string(c.params), units::FormatCount(c.macs_forward),
               units::FormatCount(c.flops_forward),
               units::FormatCount(c.flops_backward_data + c.flops_backward_weight),
               units::FormatBytes(c.saved_bytes)});
  }
  table.Row({"total", "", "", std::to_string(t.params), units::FormatCount(t.macs_forward),
             units::FormatCount(t.flops_forward), units::FormatCount(t.flops_backward),
             units::FormatBytes(t.saved_bytes)});
  out << table.Render();
  out << "\nparameters       " << t.params << " (" << units::FormatBytes(t.weight_bytes)
      << " fp32)\n"
      << "MACs forward     " << Fixed(t.macs_forward / 1e9, 3) << " G\n"
      << "FLOPs forward    " << Fixed(t.flops_forward / 1e9, 3) << " G\n"
      << "FLOPs backward   " << Fixed(t.flops_backward / 1e9, 3) << " G (data "
      << Fixed(t.flops_backward_data / 1e9, 3) << " G, weight "
      << Fixed(t.flops_backward_weight / 1e9, 3) << " G)\n"
      << "saved activations " << units::FormatBytes(t.saved_bytes) << "\n";
  return out.str();
}

struct ModelOptions {
  bool models_json = false;
  std::string model;
  int64_t batch = 1;
  bool json = false;
  std::string output;
  std::string export_model;
  std::string export_output;
  std::string import_file;
  std::string import_output;
};

}  // namespace

void AddModelCommands(CLI::App& app, Action& action) {
  auto opt = std::make_shared<ModelOptions>();
#ifdef CONVSCALE_HAVE_ONNX
  // Every command that reads a model (graph::LoadModel) then reads .onnx files too.
  graph::RegisterModelFileReader(".onnx", graph::ImportOnnx);
#endif

  auto* models = app.add_subcommand("models", "List the built-in model zoo");
  models->add_flag("--json", opt->models_json, "Print JSON instead of a table");
  models->callback([&action, opt] {
    action = [opt] {
      Emit("", opt->models_json ? ModelsJson().dump(2) + "\n" : ModelsText());
      return 0;
    };
  });

  auto* model = app.add_subcommand("model", "Show, export or import a CNN model");
  model->require_subcommand(1);

  auto* show = model->add_subcommand("show", "Print the layer table and totals of a model");
  show->add_option("model", opt->model, "zoo name or model file (JSON, docs/model-format.md)")
      ->required();
  show->add_option("--batch", opt->batch, "samples per device (default 1)")
      ->check(CLI::PositiveNumber);
  show->add_flag("--json", opt->json, "Print one JSON object instead of a table");
  show->add_option("-o", opt->output, "write to this file (atomically) instead of stdout");
  show->callback([&action, opt] {
    action = [opt] {
      const bool zoo = graph::IsZooModel(opt->model);
      const graph::Network net = graph::LoadModel(opt->model, opt->batch);
      Emit(opt->output,
           opt->json ? ShowJson(net, zoo ? "zoo" : opt->model).dump(2) + "\n" : ShowText(net));
      return 0;
    };
  });

  auto* exp = model->add_subcommand("export", "Write a model in the JSON model format");
  exp->add_option("model", opt->export_model, "zoo name or model file")->required();
  exp->add_option("-o", opt->export_output, "output file (\"-\" for stdout)")->required();
  exp->callback([&action, opt] {
    action = [opt] {
      const graph::Network net = graph::LoadModel(opt->export_model, 1);
      Emit(opt->export_output, graph::ModelToJsonText(net));
      return 0;
    };
  });

  auto* imp = model->add_subcommand(
      "import", "Read an ONNX model (docs/onnx.md) and write it in the JSON model format");
  imp->add_option("file", opt->import_file, "ONNX file (.onnx)")->required();
  imp->add_option("-o", opt->import_output, "output file (\"-\" for stdout)")->required();
  imp->callback([&action, opt] {
    action = [opt]() -> int {
      const std::string& file = opt->import_file;
      const auto ext = std::filesystem::path(file).extension().string();
      if (ext != ".onnx" && ext != ".ONNX")
        throw InputError(file +
                         ": \"model import\" reads ONNX files (.onnx); for a zoo name or a "
                         "JSON model use \"model export\"");
#ifdef CONVSCALE_HAVE_ONNX
      graph::Network net = graph::ImportOnnx(file);
      net.Infer(1, file);
      Emit(opt->import_output, graph::ModelToJsonText(net));
      return 0;
#else
      throw InputError(file +
                       ": this convscale was built without ONNX support (install "
                       "libonnx-dev and libprotobuf-dev, then reconfigure and rebuild)");
#endif
    };
  });
}

}  // namespace convscale::cli
