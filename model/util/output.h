// Writing outputs so that a failed run loses nothing. WriteFileAtomic (model/util/json.h) writes
// one file this way.
//
// A regular file (or a path that does not exist yet) is written to a temporary file beside it
// and renamed over it, so readers see the old or the new content, never half of it, and a run
// that fails leaves the old file byte-identical. Anything else is written through and never
// replaced: a device (/dev/null), a pipe, a socket, or a symbolic link that leads through /proc
// (/dev/stdout). A symbolic link to a regular file stays a link; the file it names is replaced.
// A set of outputs is written all or nothing: every file is staged first, and nothing is renamed
// into place unless all of them were staged.
#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace convscale {

// (path, content) pairs.
using OutputFiles = std::vector<std::pair<std::string, std::string>>;

// Writes every file or none: a failure (a folder that does not exist, a path that is a
// directory, a full disk) leaves every earlier output as it was.
void WriteFilesAtomic(const OutputFiles& files);

// Writes `files` (names relative to `dir`, "points/a.json" included) into the folder `dir`, all
// or nothing. A folder that does not exist is filled under a temporary name beside it and renamed
// into place when complete; in an existing folder the files are staged and then renamed. Other
// files in the folder are kept. Errors name `dir` or the file.
void WriteFolderAtomic(const std::string& dir, const OutputFiles& files);

// Makes the folder `dir` and every missing folder above it; returns the ones it made, outermost
// first (none when `dir` exists). On failure `ec` says why and nothing made is left.
std::vector<std::string> MakeFolders(const std::string& dir, std::error_code& ec);

// Removes folders MakeFolders made, innermost first, each only if it is empty: a run that fails
// leaves no folder of its own behind.
void RemoveFolders(const std::vector<std::string>& made);

// Refuses, before anything is written, an output that is one of the inputs or two outputs that
// are the same file. Each entry is (what the user wrote it as, path): ("--plan", "p.json").
// Inputs that do not name an existing file (zoo models, built-in clusters) are skipped, as are
// outputs that are not regular files (/dev/null given twice is fine).
void CheckOutputsDistinct(const std::vector<std::pair<std::string, std::string>>& inputs,
                          const std::vector<std::pair<std::string, std::string>>& outputs);

}  // namespace convscale
