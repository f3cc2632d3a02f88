// relayctl — relay's admin CLI. Parses the global options (-c FILE,
// --help, --version) and hands the rest to the command table.
// Exit codes: 0 ok, 1 failure, 2 usage.
// SIGPIPE is ignored: `relayctl queue list | head -1` finishes quietly (the
// escaping stream drops output once the reader is gone, safe_output.hpp)
// instead of dying half-way through a `queue hold ALL`, and no exception
// from a failed write reaches std::terminate.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "admin-cli/command.hpp"
#include "admin-cli/safe_output.hpp"
#include "common/log.hpp"

namespace {

// -c FILE, -cFILE, --config FILE, --config=FILE; nullopt = not this option.
// Sets *bad when the option has no usable file name.
std::optional<std::string> config_option(int argc, char** argv, int* i, bool* bad) {
  std::string a = argv[*i];
  std::optional<std::string> value;
  if (a == "-c" || a == "--config") {
    if (*i + 1 < argc) value = argv[++*i];
  } else if (a.starts_with("--config=")) {
    value = a.substr(9);
  } else if (a.starts_with("-c")) {
    value = a.substr(2);
  } else {
    return std::nullopt;
  }
  *bad = !value || value->empty();
  return value ? value : std::optional<std::string>("");
}

int run(int argc, char** argv) {
  std::optional<std::string> config;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    bool bad = false;
    if (auto c = config_option(argc, argv, &i, &bad)) {
      if (bad) {
        fmt::print(stderr, "relayctl: {} needs a file name\n", a);
        return relay::admin::kUsage;
      }
      config = *c;
    } else if (a == "-h" || a == "--help") {
      relay::admin::print_usage(stdout);
      return relay::admin::kOk;
    } else if (a == "-V" || a == "--version") {
      fmt::print("relayctl 0.1.0\n");
      return relay::admin::kOk;
    } else if (a == "--") {
      ++i;
      break;
    } else if (a.starts_with("-") && a.size() > 1) {
      fmt::print(stderr, "relayctl: unknown option {}\n", relay::admin::printable(a));
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
  int rc = relay::admin::kFail;
  try {
    rc = relay::admin::dispatch(rest, config, out, err);
  } catch (const std::exception& e) {  // a write that failed (disk full), or a bug: one line, exit 1
    std::fflush(err);
    std::fprintf(stderr, "relayctl: %s\n", relay::admin::printable(e.what()).c_str());
  }
  if (out != stdout) std::fclose(out);
  if (err != stderr) std::fclose(err);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  relay::log::set_program("relayctl");
  std::signal(SIGPIPE, SIG_IGN);
  return run(argc, argv);
}
