// relay::smtp command parsing — splits a command line into verb and
// argument and parses MAIL FROM / RCPT TO paths with their ESMTP parameters.
//
// Does: syntax only (RFC 5321 4.1.2, lenient where real clients are sloppy:
// optional space after the colon, a bare address without <>). Source routes
// (@a,@b:user@x) are dropped.
// Does not: decide policy (allowed senders, limits) — the Session does.
// Thread: pure functions. Fails: a PathError value, never throws.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::smtp {

inline constexpr std::size_t kMaxAddress = 320;  // 64 local + @ + 255 domain

struct CommandLine {
  std::string_view verb;  // as sent (compare with iequals)
  std::string_view arg;   // trimmed rest of the line
};
CommandLine split_command(std::string_view line) noexcept;

// Another protocol talking to the SMTP port: an HTTP request line (GET,
// POST, CONNECT, ...) or a header line ("Host: x", "User-Agent: y") — what
// browsers, proxies and cross-protocol attacks send. The session drops such
// a client at once (Postfix smtpd_forbidden_commands).
bool is_non_smtp_command(std::string_view line) noexcept;

enum class PathError { None, Syntax, BadAddress, NeedSmtpUtf8 };

struct Param {
  std::string_view key;    // as sent
  std::string_view value;  // "" when the parameter has no '='
  bool has_value = false;
};

struct Path {
  std::string address;  // without <>; "" for the null path <>
  std::vector<Param> params;
  std::string_view params_text;  // the raw parameter text, trimmed
};

// `keyword` is "FROM:" or "TO:". `utf8_ok` allows non-ASCII in the address
// (MAIL ... SMTPUTF8; RCPT after such a MAIL).
PathError parse_path(std::string_view arg, std::string_view keyword, Path& out);
// Address characters: no controls/space outside quotes, no <>; non-ASCII only
// when utf8_ok. Empty is valid (null path) only where the caller allows it.
PathError check_address(std::string_view address, bool utf8_ok);
bool has_non_ascii(std::string_view s) noexcept;
bool valid_utf8(std::string_view s) noexcept;  // RFC 3629 well-formed

}  // namespace relay::smtp
