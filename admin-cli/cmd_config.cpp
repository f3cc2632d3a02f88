// relayctl config check | hash-password — configuration tools.
// config check: loads the file exactly as the daemons do; prints OK or the
// loader's "FILE:LINE: KEY: ..." error and exits 1.
// hash-password: reads a password from stdin (first line) or, on a
// terminal, prompts twice without echo; prints the relay::auth hash for
// receiver.users[].password_hash. The password is never logged.
#include <fmt/format.h>
#include <unistd.h>

#include <string>

#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/password_input.hpp"
#include "common/config.hpp"
#include "common/password.hpp"

namespace relay::admin {

int cmd_config_check(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  for (const auto& w : cfg->warnings) fmt::print(ctx.err(), "relayctl: warning: {}\n", w);
  fmt::print(ctx.out(), "OK: {} ({} listener{}, {} provider{}, {} dispatcher process{})\n", cfg->file.string(),
             cfg->receiver.listeners.size(), cfg->receiver.listeners.size() == 1 ? "" : "s", cfg->providers.size(),
             cfg->providers.size() == 1 ? "" : "s", cfg->dispatcher.processes,
             cfg->dispatcher.processes == 1 ? "" : "es");
  return kOk;
}

int cmd_hash_password(Context& ctx) {
  std::string password;
  if (isatty(STDIN_FILENO)) {
    password = prompt_no_echo(ctx.err(), "Password: ");
    if (prompt_no_echo(ctx.err(), "Again: ") != password) {
      fmt::print(ctx.err(), "relayctl: passwords do not match\n");
      return kFail;
    }
  } else {
    password = read_line_stdin();
  }
  if (password.empty()) {
    fmt::print(ctx.err(), "relayctl: empty password\n");
    return kFail;
  }
  try {
    fmt::print(ctx.out(), "{}\n", auth::hash_password(password));
  } catch (const std::exception& e) {
    fmt::print(ctx.err(), "relayctl: {}\n", e.what());
    return kFail;
  }
  return kOk;
}

}  // namespace relay::admin
