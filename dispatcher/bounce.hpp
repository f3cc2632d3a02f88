// relay::dispatch bounce — the RFC 3464 delivery status notification (DSN)
// sent to a permanently failed message's envelope sender (docs/bounces.md).
//
// Does: decides whether a bounce is due (bounce_reason: on, a non-null
// envelope sender, the message not itself a DSN, some recipient failed) and
// builds it: multipart/report; report-type=delivery-status with
//   1. text/plain: what failed, each recipient with the provider's reply,
//      what the sender can do;
//   2. message/delivery-status: Reporting-MTA, Arrival-Date, and one block
//      per FAILED recipient only (Final-Recipient, Action: failed, Status
//      from the reply's enhanced code, Remote-MTA when known,
//      Diagnostic-Code "smtp; ..." or "X-relay-<type>; ..." for API
//      providers, Last-Attempt-Date), long values folded;
//   3. text/rfc822-headers: the original header block only (at most
//      kMaxReturnedHeaders bytes, cut at a field boundary), never the body.
// The mail carries Auto-Submitted: auto-replied (RFC 3834) and a Message-ID;
// it is queued with the null sender through enqueue_generated
// (generated_mail.hpp), so a bounce that fails is never bounced.
// Does not: send anything; read the spool's envelope.
// Runs on: build_bounce/bounce_reason anywhere (pure); read_header_block and
// enqueue_bounce on a worker thread (blocking file and spool I/O).
// Fails: read_header_block returns "" when the file cannot be read (the DSN
// then says so in part 3); enqueue_bounce returns the spool's Status.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/config.hpp"

#include "dispatcher/message_info.hpp"
#include "spool/spool.hpp"

namespace relay::dispatch {

inline constexpr std::size_t kMaxReturnedHeaders = 64 * 1024;

// Where the DSN comes from and what the failed message's provider was.
struct BounceContext {
  std::string from;             // From: address (dispatcher.bounce_from resolved; never "")
  std::string hostname;         // Reporting-MTA: dns; <hostname>, Message-ID domain
  std::string diagnostic_type;  // "smtp" (smtp provider) or "X-relay-m365", ... ("" = "X-relay")
  std::string remote_mta;       // host that answered ("" = unknown: no Remote-MTA field)
  std::int64_t now = 0;         // unix seconds: Date, Last-Attempt-Date
};

// What the DSN says about a provider (bounce_config.cpp).
struct BounceSource {
  std::string diagnostic_type;  // "smtp" for the smtp provider, "X-relay-<type>" for the others
  std::string remote_mta;       // smtp: its host; m365/gmail: the API host; outbox: ""
};
std::map<std::string, BounceSource, std::less<>> bounce_sources(const config::Config& cfg);
// dispatcher.bounce_from, else senders.default_sender, else postmaster@receiver.hostname.
std::string bounce_from(const config::Config& cfg);

// "" when a DSN is due, else why not ("bounces off", "null sender",
// "message is a delivery status notification", "no failed recipient").
std::string bounce_reason(bool enabled, const spool::Envelope& failed, const MessageInfo& info);

// The RFC 3463 status for a recipient's last reply: its enhanced code when
// it has one ("550 5.1.1 ..." -> "5.1.1"), 4.4.7 for an expired message,
// 5.6.0 for an unparseable one, else 5.0.0.
std::string dsn_status(std::string_view reply);

// "Name: value" folded at whitespace so that no line exceeds 78 octets
// where possible (and 998 always); CR/LF/controls in value become spaces.
// Ends in CRLF.
std::string fold_field(std::string_view name, std::string_view value);

// The header block of the .eml at `path` (up to the empty line), at most
// `max` bytes, cut after the last complete field; "" when unreadable.
std::string read_header_block(const std::filesystem::path& path, std::size_t max = kMaxReturnedHeaders);

std::string build_bounce(const spool::Envelope& failed, const MessageInfo& info, const std::string& original_headers,
                         const BounceContext& ctx);

// Builds the DSN (time(nullptr) as ctx.now) and queues it to failed.mail_from.
spool::Status enqueue_bounce(const spool::Spool& spool, const spool::Envelope& failed, const MessageInfo& info,
                             const std::string& original_headers, BounceContext ctx, std::string* bounce_id);

}  // namespace relay::dispatch
