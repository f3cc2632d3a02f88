// relayctl — relay's admin CLI. Parses the global options (-c FILE,
// --help, --version) and hands the rest to the command table.
// Exit codes: 0 ok, 1 failure, 2 usage.
#include <fmt/format.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "admin-cli/command.hpp"
#include "admin-cli/safe_output.hpp"
#include "common/log.hpp"

int main(int argc, char** argv) {
  relay::log::set_program("relayctl");
  std::optional<std::string> config;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" || a == "--config") {
      if (i + 1 >= argc) {
        fmt::print(stderr, "relayctl: {} needs a file name\n", a);
        return relay::admin::kUsage;
      }
      config = argv[++i];
    } else if (a.starts_with("--config=")) {
      config = a.substr(9);
    } else if (a == "-h" || a == "--help") {
      relay::admin::print_usage(stdout);
      return relay::admin::kOk;
    } else if (a == "-V" || a == "--version") {
      fmt::print("relayctl 0.1.0\n");
      return relay::admin::kOk;
    } else if (a.starts_with("-") && a.size() > 1) {
      fmt::print(stderr, "relayctl: unknown option {}\n", a);
      relay::admin::print_usage(stderr);
      return relay::admin::kUsage;
    } else {
      break;
    }
  }
  std::vector<std::string> rest(argv + i, argv + argc);
  // Everything a command prints may carry bytes from messages, the database
  // or remote servers: filter both streams (safe_output.hpp).
  std::FILE* out = relay::admin::escaping_stream(stdout);
  std::FILE* err = relay::admin::escaping_stream(stderr);
  int rc = relay::admin::dispatch(rest, config, out, err);
  if (out != stdout) std::fclose(out);
  if (err != stderr) std::fclose(err);
  return rc;
}
