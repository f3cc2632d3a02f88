// relay::config snapshot — the children of `relayctl run` load the config
// bytes the supervisor last accepted, not whatever the file holds now.
//
// Does: load_accepted(file) reads the bytes from $RELAY_CONFIG_SNAPSHOT
// when it is set (a private copy the supervisor writes on start and on
// every accepted reload) and parses them as if they were `file` (relative
// paths, ${file:} and ${env:} secrets and error messages all refer to the
// real file's directory and name), else it is load(file).
// read_bytes(file) is the one way the supervisor reads the file, so the
// bytes it validates are the bytes it snapshots.
// Does not: write the snapshot (admin-cli/run_dir does). Fails: throws
// ConfigError like load().
#pragma once
#include <filesystem>
#include <string>

#include "common/config.hpp"

namespace relay::config {

inline constexpr const char* kSnapshotEnv = "RELAY_CONFIG_SNAPSHOT";

// The whole file; throws ConfigError "FILE: cannot open: ..." on failure.
std::string read_bytes(const std::filesystem::path& file);

// See above.
Config load_accepted(const std::filesystem::path& file, const LoadOptions& opt = {});

}  // namespace relay::config
