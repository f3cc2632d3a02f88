// relay::provider smtp checks — what the smtp provider decides between the
// upstream's EHLO reply and MAIL FROM, from what that EHLO offered
// (SmtpCapabilities): a message the upstream cannot take is never sent.
//
// Does: credentials configured but no AUTH done (not offered, or offered
// only after STARTTLS) -> transient config_error, nothing sent
// unauthenticated; message larger than the announced SIZE -> permanent
// 552 5.3.4 (RFC 1870); 8-bit data to an upstream without 8BITMIME ->
// permanent 554 5.6.3 (RFC 6152 section 3: return it, or convert; relay
// does not convert); a non-ASCII address to an upstream without SMTPUTF8
// -> permanent 553 5.6.7 (RFC 6531). Names what the upstream offered.
// Does not: I/O, except the callback the caller gives to look for 8-bit
// data (called only when the upstream lacks 8BITMIME).
// Runs on: any thread; pure. Fails: never.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dispatcher/providers/provider.hpp"
#include "dispatcher/providers/smtp_transcript.hpp"

namespace relay::provider {

struct SmtpCheckInput {
  bool credentials = false;        // a username is configured
  std::string mechanism;           // configured AUTH mechanism, upper case
  bool tls = false;                // the session runs over TLS
  bool is_test = false;            // test(): only the AUTH check applies
  std::uint64_t size = 0;          // message bytes
  std::string mail_from;
  std::vector<std::string> rcpts;
  std::function<bool()> has_8bit;  // true when the message holds a byte >= 0x80
};

// A Result when the transfer must stop before MAIL; nullopt to go on.
std::optional<Result> check_before_mail(const SmtpCapabilities& caps, bool authenticated, const SmtpCheckInput& in);

// libcurl ended with CURLE_LOGIN_DENIED without sending AUTH: the upstream
// offers none of the mechanisms we may use. A config error naming both.
Result auth_mechanism_missing(const SmtpCapabilities& caps, const std::string& mechanism);

// True when `address` has a non-ASCII byte anywhere: libcurl 7.88 sends an
// internationalized domain as UTF-8 too (no IDNA conversion measured), so
// either part needs SMTPUTF8.
bool needs_smtputf8(const std::string& address);

}  // namespace relay::provider
