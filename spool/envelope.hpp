// relay::spool::Envelope — the small, human-readable `.env` file of an entry.
//
// Does: serialises and parses the envelope. Format (see spool/README.md):
// a first line `relay-envelope 1`, then `key: value` lines (values are
// percent-encoded for bytes < 0x20, '%' and 0x7f so that one record is always
// one line; spaces stay readable), repeated `rcpt: state=.. to=.. params=..
// reply=..` lines (their values also encode the space), and a final line
// `end <crc32 of all previous bytes, 8 lower-case hex digits>` that makes
// truncation and corruption detectable. Unknown keys are ignored (additions
// within version 1); another version number is an error.
// Does not: do I/O. Parse errors are values, never exceptions or aborts.
// Thread-safe (pure functions).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spool/queue_id.hpp"

namespace relay::spool {

enum class RcptState { Pending, Sent, Failed };
std::string_view to_string(RcptState s) noexcept;

struct Recipient {
  std::string address;   // RCPT TO address without <>
  std::string params;    // ESMTP parameters as received (may be empty)
  RcptState state = RcptState::Pending;
  std::string last_reply;  // last provider/upstream reply for this recipient
};

struct Envelope {
  static constexpr int kVersion = 1;

  QueueId id = QueueId::generate();
  std::int64_t received_at = 0;  // unix seconds
  std::string client_addr;       // "1.2.3.4" or "::1"
  std::string client_helo;       // EHLO/HELO argument
  std::string tls;               // "" or e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
  std::string auth_user;         // "" when not authenticated
  std::string mail_from;         // reverse path without <>, "" for null sender
  std::string mail_params;       // e.g. "SIZE=1234 BODY=8BITMIME SMTPUTF8"
  std::vector<Recipient> rcpts;
  std::uint64_t size = 0;        // bytes of the .eml data file
  std::uint32_t data_crc32 = 0;  // CRC-32 of the .eml data file
  int attempts = 0;
  std::int64_t next_attempt = 0;  // unix seconds; 0 = now
  std::string last_error;         // human-readable reason of the last failure
  std::string provider;           // provider name chosen at first attempt ("" until then)

  std::size_t pending_count() const noexcept;
};

std::string serialize(const Envelope& env);

struct ParseError {
  std::string reason;  // e.g. "truncated: no end line", "bad version 7"
};
struct ParseResult {
  std::optional<Envelope> envelope;
  ParseError error;  // meaningful when !envelope
};
ParseResult parse(std::string_view bytes);

// CRC-32 (IEEE, as zlib) — the spool depends on nothing but C++ and POSIX.
std::uint32_t crc32(std::string_view bytes, std::uint32_t seed = 0) noexcept;

}  // namespace relay::spool
