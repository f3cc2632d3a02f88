// Helpers shared by the config tests (config_test.cpp, config_hardening_test.cpp):
// a minimal valid provider section, the loader's error text for a YAML
// string, and a temporary directory removed at the end of a test.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/config.hpp"

namespace relay::config::test {

// A minimal valid config; tests append or replace parts.
inline const std::string kBase =
    "providers:\n"
    "  outbox: {type: outbox, directory: out}\n";

inline std::string error_of(const std::string& yaml, const std::string& name = "/etc/relay/t.yaml") {
  try {
    load_string(yaml, name);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/relay-config-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

}  // namespace relay::config::test
