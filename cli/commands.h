// The `convscale` command line: one table of subcommand groups (main.cpp). Each group adds its
// subcommands to the app; a subcommand's callback stores what to run in `action`. Actions return
// the exit code; bad input is thrown as InputError (exit 2), run-time failures as RuntimeError
// (exit 1). No command calls exit().
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "model/util/output.h"

namespace convscale::cli {

using Action = std::function<int()>;

struct CommandGroup {
  const char* name;
  void (*add)(CLI::App& app, Action& action);
};

void AddModelCommands(CLI::App& app, Action& action);     // models, model show/export/import
void AddClusterCommands(CLI::App& app, Action& action);   // clusters, cluster show/export-simgrid
void AddPlanCommands(CLI::App& app, Action& action);      // plan, estimate
void AddSimulateCommands(CLI::App& app, Action& action);  // simulate, cluster export-simgrid
void AddSweepCommands(CLI::App& app, Action& action);     // sweep, sweep merge
void AddExecuteCommands(CLI::App& app, Action& action);   // execute, profile
void AddReportCommands(CLI::App& app, Action& action);    // select, compare, report

// Writes `text` to `path` atomically, or to stdout when path is "" or "-".
void Emit(const std::string& path, const std::string& text);

// Writes the (path, text) outputs all or nothing (WriteFilesAtomic), then prints those for
// stdout ("" or "-"). A failed run thus leaves every earlier output of the command as it was.
void EmitAll(const OutputFiles& outputs);

}  // namespace convscale::cli
