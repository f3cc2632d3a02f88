// relay::provider::Provider — the one interface every delivery adapter
// (outbox, smtp, m365, gmail) implements (STYLE.md 6).
//
// Does: an adapter builds requests for one message, runs them over the
// shared transport (net::CurlMulti on the dispatcher's uv loop), and
// classifies the outcome as sent / transient / permanent with the
// provider's own code and text. Per-recipient results where the protocol
// has them (SMTP).
// Does not: touch the spool, the database or retry timing (the dispatcher
// and its RetryPolicy do). Mapping outcomes to SMTP/enhanced codes for
// notices lives in provider/outcome_table (one table, Postfix cleanup_strerror).
// Runs on: the loop thread of the uv loop given at construction; `done`
// callbacks are called exactly once each, on that thread, never from inside
// send() itself (post through the loop) so callers need not be re-entrant.
// Fails: never throws out of send(); every failure is a Result.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "spool/queue_id.hpp"

struct uv_loop_s;

namespace relay::net {
class CurlMulti;
}

namespace relay::provider {

enum class Outcome { Sent, Transient, Permanent };
std::string_view to_string(Outcome o) noexcept;  // "sent" "transient" "permanent"

struct RcptResult {
  std::string address;
  Outcome outcome = Outcome::Sent;
  int code = 0;          // SMTP reply code when known
  std::string text;      // upstream's reply text
};

struct Result {
  Outcome outcome = Outcome::Transient;
  int code = 0;               // SMTP reply code or HTTP status; 0 = transport error
  std::string enhanced;       // "4.4.1", "5.7.1", ... ("" when unknown)
  std::string text;           // short provider response / reason, safe to log (no secrets)
  std::optional<std::int64_t> retry_after;  // seconds, from Retry-After or equivalent
  std::vector<RcptResult> rcpts;            // empty = `outcome` applies to all
  bool config_error = false;  // credentials/permissions wrong: alert, keep queued, back off hard
  // The adapter did not contact the provider: its own pacing (a busy or
  // throttled mailbox) held the message back. Not an attempt: the
  // dispatcher defers it for exactly retry_after without counting it.
  bool held = false;
  std::string provider_id;    // e.g. Gmail message id, outbox file name
};

// What an adapter gets to deliver. Only the recipients still pending.
struct Message {
  spool::QueueId id;
  std::string mail_from;                 // envelope sender ("" = null sender)
  std::vector<std::string> rcpts;        // pending envelope recipients
  std::filesystem::path data_path;       // the immutable .eml in the spool
  std::uint64_t size = 0;
  std::string auth_user;                 // SMTP AUTH identity at the receiver
  std::string header_from;               // parsed From: address ("" when missing)
};

// Credential expiry as an adapter knows it (m365 client secret). The
// dispatcher stores it in PostgreSQL (secret_status) for `relayctl secrets`.
struct SecretStatus {
  std::string expires;        // "YYYY-MM-DD" ("" = unknown)
  std::int64_t days_left = 0;
  std::string source;         // "config" | "graph"
  std::string state;          // "ok" | "warning" | "expired" | "unknown"
  std::string detail;         // human-readable, e.g. "expires in 6 days (warn at 7)"
};

// What cancel() could do to a delivery (dispatcher/README.md, "Stopping").
enum class CancelResult {
  Stopped,   // no request of it had started: nothing can reach the provider; its Done is never called
  InFlight,  // a request is running (or the adapter cannot tell): the provider may still accept it,
             // so the caller waits for Done
};

class Provider {
 public:
  using Done = std::function<void(Result)>;
  virtual ~Provider() = default;

  virtual std::string_view name() const noexcept = 0;  // configured name
  virtual std::string_view type() const noexcept = 0;  // "outbox" "smtp" "m365" "gmail"
  // Deliver one message. Many may be in flight at once: the dispatcher
  // caps them per process (dispatcher.max_in_flight) and an adapter with a
  // tighter limit queues the rest itself (smtp: max_connections per
  // provider; m365: per-mailbox concurrency and rate).
  virtual void send(const Message& msg, Done done) = 0;
  // Connection test for `relayctl provider test`: credentials, reachability,
  // permissions; text says exactly what is wrong.
  virtual void test(Done done) = 0;
  // Stops the delivery of `id` if none of its requests has started yet
  // (e.g. still being prepared, or waiting for a mailbox slot). The default
  // answers InFlight: the dispatcher then waits for Done.
  virtual CancelResult cancel(const spool::QueueId& /*id*/) { return CancelResult::InFlight; }
  // Credential expiry, for adapters that have one. Cheap; may be called often.
  virtual std::optional<SecretStatus> secret_status() const { return std::nullopt; }
};

struct Context {
  uv_loop_s* loop = nullptr;
  net::CurlMulti* curl = nullptr;
  const config::Config* config = nullptr;
};

// Builds the adapter for one configured provider. Throws config::ConfigError
// when the provider's settings cannot work (e.g. unreadable key file).
std::unique_ptr<Provider> make(const config::ProviderConfig& cfg, const Context& ctx);

}  // namespace relay::provider
