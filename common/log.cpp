#include "common/log.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <string>

namespace relay::log {
namespace {
std::atomic<Level> g_level{Level::Info};
std::string g_program = "relay";

const char* level_name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "?";
}
}  // namespace

void set_program(std::string_view name) { g_program = std::string(name); }
void set_level(Level l) { g_level = l; }
Level level() noexcept { return g_level; }

bool set_level(std::string_view name) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"debug", Level::Debug}, {"info", Level::Info}, {"warn", Level::Warn}, {"error", Level::Error}};
  for (const auto& [n, l] : kNames) {
    if (n == name) {
      g_level = l;
      return true;
    }
  }
  return false;
}

void write(Level l, std::string_view line) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm utc{};
  gmtime_r(&tv.tv_sec, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out = fmt::format("{}.{:03}Z {}[{}] {}: {}\n", stamp, tv.tv_usec / 1000, g_program,
                                getpid(), level_name(l), line);
  // One write(2) per line so concurrent processes never interleave mid-line.
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

std::string quote(std::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '\\' || c == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < ' ' || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

}  // namespace relay::log
