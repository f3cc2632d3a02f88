// relay::config snapshot (see config_snapshot.hpp).
#include "common/config_snapshot.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace relay::config {

std::string read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string() + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(file.string() + ": read error");
  return ss.str();
}

Config load_accepted(const std::filesystem::path& file, const LoadOptions& opt) {
  const char* snap = std::getenv(kSnapshotEnv);
  if (snap == nullptr || *snap == '\0') return load(file, opt);
  std::string bytes;
  try {
    bytes = read_bytes(snap);
  } catch (const ConfigError& e) {
    throw ConfigError(file.string() + ": the supervisor's accepted copy is unreadable (" + e.what() + ")");
  }
  return load_string(bytes, file, opt);
}

}  // namespace relay::config
