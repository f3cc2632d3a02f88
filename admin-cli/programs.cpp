// relay::admin program lookup (see programs.hpp).
#include "admin-cli/programs.hpp"

#include <unistd.h>

#include <cstdlib>

namespace relay::admin {

namespace fs = std::filesystem;

std::vector<fs::path> program_candidates(std::string_view name, std::string_view build_subdir,
                                         const fs::path& self_dir, const char* override_env, const char* path_env) {
  if (override_env && *override_env) return {fs::path(override_env)};
  std::vector<fs::path> out;
  if (!self_dir.empty()) {
    out.push_back((self_dir / ".." / build_subdir / name).lexically_normal());
    out.push_back(self_dir / name);
    out.push_back((self_dir / ".." / "lib" / "relay" / name).lexically_normal());
  }
  std::string_view path = path_env ? path_env : "";
  while (!path.empty()) {
    auto colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    if (!dir.empty()) out.push_back(fs::path(dir) / name);
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return out;
}

std::optional<fs::path> find_program(std::string_view name, std::string_view build_subdir, const char* override_var,
                                     std::string* tried) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  auto cands = program_candidates(name, build_subdir, ec ? fs::path() : self.parent_path(),
                                  std::getenv(override_var), std::getenv("PATH"));
  tried->clear();
  for (const auto& c : cands) {
    if (::access(c.c_str(), X_OK) == 0 && fs::is_regular_file(c, ec)) return c;
    if (!tried->empty()) *tried += ", ";
    *tried += c.string();
  }
  return std::nullopt;
}

}  // namespace relay::admin
