// relay::config value parsers: durations, sizes, dates, listener addresses,
// sender patterns and ${env:}/${file:} secret references.
//
// Does: turns one scalar's text into a typed value or says what was
// expected. Used by the loader (config.cpp) and exposed for tests.
// Does not: know about YAML nodes, files or line numbers (the loader adds
// those to the message).
// Thread: pure functions (expand_secrets reads the environment and files).
// Fails: std::nullopt / false, with a reason where one helps.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <string_view>

namespace relay::config {

// "2027-06-30" -> days since 1970-01-01; nullopt if not a real date.
std::optional<std::int64_t> parse_date(std::string_view text);

// "127.0.0.1:2525", "[::1]:2525" -> host ("::1" without brackets) and port.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> parse_listen_address(std::string_view text);

// Sender pattern syntax: "user@example.com", "@example.com", "*.example.com".
bool valid_sender_pattern(std::string_view pattern);
// A plain mailbox "local@domain" (for default_sender, notice addresses).
bool valid_address(std::string_view address);

// Replaces every ${env:NAME} and ${file:PATH} in `text`; "$${" stands for a
// literal "${". Relative file paths resolve against `base_dir`; one trailing
// newline (LF or CRLF) of a file is dropped. On failure returns nullopt and
// sets *why (naming the variable or file, never a secret value).
// A ${file:} larger than kMaxSecretFileSize is refused ("... is larger
// than 64 KB"), and so is anything but a regular file (a FIFO would block).
// `resolved`, when given, receives {value, "${env:NAME}"} per reference so
// that error messages can hide the values (Loader::fail).
// Reads a whole regular file of at most `max` bytes: never blocks on a
// FIFO, never reads a device, refuses a larger file before reading it.
// *err is the errno for OpenFailed/ReadFailed. Used for the config file
// itself (config.cpp) and for ${file:} secrets.
enum class ReadStatus { Ok, OpenFailed, ReadFailed, Directory, NotRegular, TooLarge };
ReadStatus read_regular_file(const std::filesystem::path& p, std::size_t max, std::string* out, int* err);

inline constexpr std::size_t kMaxSecretFileSize = 64 * 1024;
std::optional<std::string> expand_secrets(std::string_view text, const std::filesystem::path& base_dir,
                                          std::string* why,
                                          std::vector<std::pair<std::string, std::string>>* resolved = nullptr);

}  // namespace relay::config
