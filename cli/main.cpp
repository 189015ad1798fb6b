// convscale: predict and measure distributed CNN training. See README.md and docs/.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/util/context.h"
#include "model/util/error.h"

namespace convscale::cli {
namespace {

// The table of subcommand groups. Groups whose component was not built are absent.
const CommandGroup kGroups[] = {
    {"model", AddModelCommands},
#ifdef CONVSCALE_HAVE_TOPOLOGY
    {"cluster", AddClusterCommands},
#endif
#ifdef CONVSCALE_HAVE_PLAN
    {"plan", AddPlanCommands},
#endif
#ifdef CONVSCALE_HAVE_SIMULATE
    {"simulate", AddSimulateCommands},
#endif
#ifdef CONVSCALE_HAVE_EXECUTE
    {"execute", AddExecuteCommands},
#endif
#ifdef CONVSCALE_HAVE_REPORTS
    {"report", AddReportCommands},
#endif
};

// The deepest subcommand the user selected (CLI11 leaves the chain in get_subcommands()).
const CLI::App* Selected(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands())
    if (sub->parsed()) return Selected(*sub);
  return &app;
}

// "did you mean" for unknown subcommands and flags (CLI11 2.1 has none of its own).
std::string Suggest(const CLI::App& app, const std::vector<std::string>& extras) {
  const CLI::App* at = Selected(app);
  std::vector<std::string> subs, flags;
  for (const CLI::App* s : at->get_subcommands([](const CLI::App*) { return true; }))
    subs.push_back(s->get_name());
  for (const CLI::Option* o : at->get_options()) {
    for (const auto& l : o->get_lnames()) flags.push_back("--" + l);
    for (const auto& s : o->get_snames()) flags.push_back("-" + s);
  }
  std::string out;
  bool after_unknown_flag = false;
  for (const auto& e : extras) {
    const bool flag = !e.empty() && e[0] == '-';
    if (!flag && after_unknown_flag) continue;  // the value of the unknown flag
    after_unknown_flag = flag && e.find('=') == std::string::npos;
    std::string word = e.substr(0, e.find('='));
    const std::string hint = DidYouMean(word, flag ? flags : subs);
    out += "convscale: unknown " + std::string(flag ? "option" : "command") + " \"" + word + "\"" +
           (at != &app ? " for \"" + at->get_name() + "\"" : "") + hint + "\n";
  }
  return out;
}

// Finds an unknown subcommand name before CLI11 parses (CLI11 would only say "a subcommand is
// required"). Returns the message, or "" when the command words are all known.
std::string UnknownCommand(const CLI::App& app, int argc, char** argv) {
  const CLI::App* at = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string tok = argv[i];
    if (tok.empty() || tok[0] == '-') return "";
    auto subs = at->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return "";
    const CLI::App* next = nullptr;
    std::vector<std::string> names;
    for (const CLI::App* s : subs) {
      names.push_back(s->get_name());
      if (s->get_name() == tok) next = s;
    }
    if (!next) {
      if (!at->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty())
        return "";
      return "convscale: unknown command \"" + tok + "\"" +
             (at != &app ? " for \"" + at->get_name() + "\"" : "") + DidYouMean(tok, names) + "\n";
    }
    at = next;
  }
  return "";
}

}  // namespace

void Emit(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else {
    convscale::WriteFileAtomic(path, text);
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"convscale: predict and measure how fast a CNN trains on a cluster, and why.",
               "convscale"};
  app.add_flag_callback(
      "--version",
      [] {
        std::cout << "convscale " << Version() << " (" << GitSha() << ")\n";
        throw CLI::Success();
      },
      "Print the version and exit");
  app.require_subcommand(1);
  app.fallthrough(false);
  Action action;
  for (const auto& g : kGroups) g.add(app, action);
  if (std::string m = UnknownCommand(app, argc, argv); !m.empty()) {
    std::cerr << m << "Run \"convscale --help\" for the list of commands.\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError& e) {
    std::vector<std::string> extras;
    const CLI::App* at = Selected(app);
    for (const auto& s : at->remaining()) extras.push_back(s);
    if (extras.empty())
      std::cerr << "convscale: " << e.what() << "\n";
    else
      std::cerr << Suggest(app, extras);
    std::cerr << "Run \"convscale --help\" for the list of commands.\n";
    return 2;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, std::cout, std::cerr);
    return code == 0 ? 0 : 2;
  }
  if (!action) {
    std::cerr << "convscale: no command given\n";
    return 2;
  }
  try {
    return action();
  } catch (const InputError& e) {
    std::cerr << "convscale: " << e.what() << "\n";
    return 2;
  } catch (const RuntimeError& e) {
    std::cerr << "convscale: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "convscale: internal error: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace convscale::cli

int main(int argc, char** argv) {
  return convscale::cli::Main(argc, argv);
}
