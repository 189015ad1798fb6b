// models, model show NAME|FILE, model export NAME -o FILE.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "model/graph/zoo.h"
#include "model/util/units.h"

namespace convscale::cli {

void AddModelCommands(CLI::App& app, Action& action) {
  auto* models = app.add_subcommand("models", "List the built-in model zoo");
  models->callback([&action] {
    action = [] {
      for (const auto& m : graph::ZooModels()) std::cout << m.name << "\n";
      return 0;
    };
  });
  auto* model = app.add_subcommand("model", "Show, export or import a CNN model");
  model->require_subcommand(1);
  auto* show = model->add_subcommand("show", "Print the layer table and totals of a model");
  static std::string name;
  static int64_t batch = 1;
  show->add_option("model", name, "zoo name or model file")->required();
  show->add_option("--batch", batch, "samples per device")->check(CLI::PositiveNumber);
  show->callback([&action] {
    action = [] {
      auto net = graph::LoadModel(name, batch);
      auto t = net.Totals();
      std::cout << net.name() << ": " << t.params << " parameters, "
                << units::FormatCount(t.macs_forward) << " MACs\n";
      return 0;
    };
  });
}

}  // namespace convscale::cli
