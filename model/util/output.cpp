#include "model/util/output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "model/util/error.h"
#include "model/util/json.h"

namespace convscale {

namespace fs = std::filesystem;

namespace {

// How one output is written: `target` is replaced through a temporary file, or, when `through`,
// the path is opened and written.
struct Destination {
  std::string path;    // as the user gave it, for messages
  std::string target;  // the file to replace (the end of a chain of symbolic links)
  bool through = false;
};

// Follows `path`'s symbolic links one at a time. A link into /proc names an open descriptor
// (/dev/stdout -> /proc/self/fd/1), not a place: what it leads to is written through.
Destination Resolve(const std::string& path) {
  Destination d{path, path, false};
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(d.target.c_str(), &st) != 0) return d;  // does not exist (yet): made
    if (S_ISDIR(st.st_mode))
      throw InputError(path + ": cannot write: it is a directory; give a file name");
    if (S_ISREG(st.st_mode)) return d;
    if (!S_ISLNK(st.st_mode)) {
      d.through = true;  // a device, a pipe, a socket
      return d;
    }
    std::error_code ec;
    const fs::path link = fs::read_symlink(d.target, ec);
    if (ec) throw InputError(path + ": cannot write: " + ec.message());
    const fs::path next = link.is_absolute() ? link : fs::path(d.target).parent_path() / link;
    if (next.string().rfind("/proc/", 0) == 0) {
      d.through = true;
      return d;
    }
    d.target = next.string();
  }
  throw InputError(path + ": cannot write: too many levels of symbolic links");
}

// The folder a new file at `d.target` is made in; it must exist.
fs::path FolderOf(const Destination& d) {
  fs::path dir = fs::path(d.target).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (fs::exists(dir, ec))
      throw InputError(d.path + ": cannot write: " + dir.string() + " is not a directory");
    throw InputError(d.path + ": cannot write: directory " + dir.string() + " does not exist");
  }
  return dir;
}

// Writes `content` into a new file `tmp`; on failure removes it and names `d.path`.
void Stage(const Destination& d, const std::string& tmp, const std::string& content) {
  const fs::path dir = FolderOf(d);
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out)
    throw InputError(d.path + ": cannot write: cannot create a file in " + dir.string() + ": " +
                     std::strerror(errno));
  out << content;
  out.flush();
  if (!out) {
    const std::string why = std::strerror(errno);
    std::error_code ec;
    fs::remove(tmp, ec);
    throw InputError(d.path + ": cannot write: " + why);
  }
}

// Opens `d.path` and writes `content` into it (a device, a pipe).
void WriteThrough(const Destination& d, const std::string& content) {
  const int fd = ::open(d.path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw InputError(d.path + ": cannot write: " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(n < 0 ? errno : EIO);
      ::close(fd);
      throw InputError(d.path + ": cannot write: " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) throw InputError(d.path + ": cannot write: " + std::strerror(errno));
}

// Makes the folders inside `dir` that the files' names hold ("points/a.json" needs "points") and
// returns those it made, outermost first, so that a run that fails can remove them again.
std::vector<std::string> MakeSubfolders(const std::string& dir, const OutputFiles& files) {
  std::vector<std::string> made;
  try {
    for (const auto& [name, content] : files) {
      const fs::path sub = fs::path(dir) / fs::path(name).parent_path();
      std::error_code ec;
      for (std::string& f : MakeFolders(sub.string(), ec)) made.push_back(std::move(f));
      if (ec || !fs::is_directory(sub, ec))
        throw InputError(sub.string() + ": cannot create the folder: " +
                         (ec ? ec.message() : std::string("a file of that name exists")));
    }
  } catch (...) {
    RemoveFolders(made);
    throw;
  }
  return made;
}

std::string TemporaryName(const std::string& target) {
  return target + ".tmp." + std::to_string(::getpid());
}

}  // namespace

void WriteFilesAtomic(const OutputFiles& files) {
  // Everything is checked and staged before the first rename, so a failure replaces nothing.
  std::vector<Destination> where;
  for (const auto& [path, content] : files) where.push_back(Resolve(path));
  std::vector<std::pair<std::string, std::string>> staged;  // temporary, target
  auto discard = [&staged] {
    std::error_code ec;
    for (const auto& [tmp, target] : staged) fs::remove(tmp, ec);
  };
  try {
    for (size_t i = 0; i < files.size(); ++i) {
      if (where[i].through) continue;
      const std::string tmp = TemporaryName(where[i].target);
      Stage(where[i], tmp, files[i].second);
      staged.push_back({tmp, where[i].target});
    }
    for (size_t i = 0; i < files.size(); ++i)
      if (where[i].through) WriteThrough(where[i], files[i].second);
  } catch (...) {
    discard();
    throw;
  }
  for (size_t i = 0; i < staged.size(); ++i)
    if (std::rename(staged[i].first.c_str(), staged[i].second.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      std::error_code ec;
      for (size_t j = i; j < staged.size(); ++j) fs::remove(staged[j].first, ec);
      throw InputError(staged[i].second + ": cannot write: " + why);
    }
}

void WriteFileAtomic(const std::string& path, const std::string& content) {
  WriteFilesAtomic({{path, content}});
}

void WriteFolderAtomic(const std::string& dir, const OutputFiles& files) {
  OutputFiles inside;
  for (const auto& [name, content] : files)
    inside.push_back({(fs::path(dir) / name).string(), content});
  std::error_code ec;
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw InputError(dir + ": cannot create the report folder: a file of that name exists");
    const std::vector<std::string> made = MakeSubfolders(dir, files);
    try {
      WriteFilesAtomic(inside);
    } catch (...) {
      RemoveFolders(made);
      throw;
    }
    return;
  }
  if (errno != ENOENT)
    throw InputError(dir + ": cannot create the report folder: " + std::strerror(errno));
  // A new folder: its missing parents are made, the files are written into a temporary folder
  // beside it, and that folder is renamed into place. A failure removes what was made.
  fs::path folder = fs::path(dir).lexically_normal();
  if (!folder.has_filename()) folder = folder.parent_path();  // "report/" names "report"
  const fs::path parent = folder.parent_path();
  std::vector<std::string> parents;
  if (!parent.empty()) {
    parents = MakeFolders(parent.string(), ec);
    if (ec || !fs::is_directory(parent, ec)) {
      RemoveFolders(parents);
      throw InputError(dir + ": cannot create the report folder: " +
                       (ec ? ec.message() : std::string("a file of that name exists")));
    }
  }
  const std::string tmp = TemporaryName(folder.string());
  if (!fs::create_directory(tmp, ec) || ec) {
    RemoveFolders(parents);
    throw InputError(dir + ": cannot create the report folder: " +
                     (ec ? ec.message() : std::string("a file of that name exists")));
  }
  try {
    MakeSubfolders(tmp, files);
    for (size_t i = 0; i < files.size(); ++i) {
      const Destination d{inside[i].first, (fs::path(tmp) / files[i].first).string(), false};
      Stage(d, d.target, files[i].second);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    RemoveFolders(parents);
    throw;
  }
  if (std::rename(tmp.c_str(), folder.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    fs::remove_all(tmp, ec);
    RemoveFolders(parents);
    throw InputError(dir + ": cannot create the report folder: " + why);
  }
}

std::vector<std::string> MakeFolders(const std::string& dir, std::error_code& ec) {
  ec.clear();
  std::vector<fs::path> missing;  // innermost first
  for (fs::path p = fs::path(dir).lexically_normal(); !p.empty(); p = p.parent_path()) {
    std::error_code absent;  // a path that does not exist sets it too
    if (p.has_filename() && fs::exists(fs::symlink_status(p, absent))) break;
    if (p.has_filename()) missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::vector<std::string> made;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (!fs::create_directory(*it, ec) || ec) {
      const std::error_code failed = ec;
      RemoveFolders(made);
      ec = failed ? failed : std::make_error_code(std::errc::file_exists);
      return {};
    }
    made.push_back(it->string());
  }
  return made;
}

void RemoveFolders(const std::vector<std::string>& made) {
  std::error_code ec;
  for (auto it = made.rbegin(); it != made.rend(); ++it) fs::remove(*it, ec);  // only if empty
}

void CheckOutputsDistinct(const std::vector<std::pair<std::string, std::string>>& inputs,
                          const std::vector<std::pair<std::string, std::string>>& outputs) {
  std::error_code ec;
  // Regular-file outputs (or new ones), with the absolute path they will have.
  std::vector<std::pair<size_t, fs::path>> files;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& path = outputs[i].second;
    if (path.empty() || path == "-" || fs::is_directory(path, ec)) continue;  // stdout, folders
    const Destination d = Resolve(path);
    if (d.through) continue;
    for (const auto& [flag, in] : inputs) {
      if (in.empty() || !fs::is_regular_file(in, ec)) continue;
      if (fs::exists(d.target, ec) && fs::equivalent(d.target, in, ec))
        throw InputError(path + ": " + outputs[i].first + " names an input of the command (" +
                         flag + "); write the output to another file");
    }
    const fs::path full = fs::weakly_canonical(fs::absolute(d.target, ec), ec);
    for (const auto& [j, other] : files)
      if (other == full)
        throw InputError(path + ": " + outputs[j].first + " and " + outputs[i].first +
                         " name the same file; give each output its own file");
    files.push_back({i, full});
  }
}

}  // namespace convscale
