// Test helper: runs relayctl's command dispatch with stdout and stderr
// captured in temporary files, for the admin-cli doctest files.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "admin-cli/command.hpp"

namespace relay::admin::test {

struct Captured {
  int rc;
  std::string out, err;
};

inline std::string slurp(std::FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

inline Captured run_captured(const std::vector<std::string>& argv, std::optional<std::string> cfg) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  int rc = dispatch(argv, cfg, out, err);
  return {rc, slurp(out), slurp(err)};
}

}  // namespace relay::admin::test
