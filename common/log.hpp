// relay::log — one-line key=value logging to stderr (journald picks it up
// under systemd).
//
// Does: formats "2026-11-25T12:00:00.123Z relay-receiver[123] info: <line>".
// Lines start with the queue id or session id by convention (STYLE.md 10):
//   log::info("{} event=accepted from=<{}> rcpts={} size={}", id, from, n, size);
// Does not: log secrets or bodies (callers must not pass them), rotate files.
// Thread-safe: one write(2) per line.
#pragma once
#include <fmt/format.h>

#include <string_view>

namespace relay::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_program(std::string_view name);  // "relay-receiver"
void set_level(Level level);
bool set_level(std::string_view name);    // false if unknown
Level level() noexcept;
void write(Level level, std::string_view line);

// Quotes a value for key=value output when it contains spaces, quotes,
// control bytes or is empty: `reason="no such user"`.
std::string quote(std::string_view value);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::Debug) write(Level::Debug, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::Info) write(Level::Info, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::Warn) write(Level::Warn, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) {
  write(Level::Error, fmt::format(f, std::forward<Args>(a)...));
}

}  // namespace relay::log
