// relay::config::host_name — the name this host goes by in the shared
// database (docs/scale-out.md): cluster.host_name, else gethostname().
// Does: one lookup, no I/O beyond gethostname. Does not: resolve DNS.
// Runs on: any thread. Fails: never ("localhost" when gethostname fails).
#pragma once
#include <string>

namespace relay::config {

struct Config;

std::string host_name(const Config& cfg);

}  // namespace relay::config
