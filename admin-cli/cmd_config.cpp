// relayctl config check | hash-password — configuration tools.
// config check: loads the file exactly as the daemons do; prints OK or the
// loader's "FILE:LINE: KEY: ..." error and exits 1.
// hash-password: reads a password from stdin (first line) or, on a
// terminal, prompts twice without echo; prints the relay::auth hash for
// receiver.users[].password_hash. The password is never logged.
#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config.hpp"
#include "common/password.hpp"

namespace relay::admin {
namespace {

// Turns terminal echo off for its lifetime.
class NoEcho {
 public:
  explicit NoEcho(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = tcsetattr(fd_, TCSAFLUSH, &t) == 0;
  }
  ~NoEcho() {
    if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

std::string read_line_stdin() {
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string prompt(std::FILE* err, const char* text) {
  fmt::print(err, "{}", text);
  std::fflush(err);
  NoEcho guard(STDIN_FILENO);
  std::string line = read_line_stdin();
  fmt::print(err, "\n");
  return line;
}

}  // namespace

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
    password = prompt(ctx.err(), "Password: ");
    if (prompt(ctx.err(), "Again: ") != password) {
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
