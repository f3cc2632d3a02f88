// relay::admin SMTP test client — what `relayctl send-test` uses to hand one
// real message to the configured receiver listener (libcurl SMTP: plain,
// STARTTLS or implicit TLS, AUTH when asked) and read the receiver's
// "queued as <id>" reply.
// Does: one blocking transfer (a CLI); pure helpers for the target URL, the
// test message and the reply parsing, unit-tested.
// Does not: wait for the delivery (cmd_send_test.cpp does).
// Fails: SmtpSendResult.ok false with curl's error text and the last reply.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace relay::admin {

struct SmtpTarget {
  std::string url;       // smtp://127.0.0.1:2525 | smtps://[::1]:2465
  bool require_tls = false;  // STARTTLS must succeed
};
// Target for a listener; `host_override` "HOST:PORT" replaces its address.
SmtpTarget target_for(const config::Listener& l);

// "250 2.0.0 Ok: queued as 01J..." -> "01J..."; nullopt when absent.
std::optional<std::string> parse_queued_as(std::string_view reply);

// A small RFC 5322 message with Date, Message-ID and a recognisable subject.
std::string build_test_message(std::string_view from, std::string_view to, std::string_view subject,
                               std::int64_t unix_time, std::string_view message_id);

struct SmtpSendRequest {
  SmtpTarget target;
  std::string helo = "relayctl.localdomain";
  std::string from, to, message;
  std::string user, password;  // AUTH when user is non-empty
  std::string ca_file;
  bool insecure = false;        // no certificate verification
  long timeout_s = 60;
};
struct SmtpSendResult {
  bool ok = false;
  std::string error;        // curl's error text when !ok
  std::string last_reply;   // the server's last reply line (e.g. the 250 after DATA)
  std::optional<std::string> queue_id;
};
SmtpSendResult smtp_send(const SmtpSendRequest& req);

}  // namespace relay::admin
