// relay::dlog records — what the delivery log stores, and their journal
// line form.
//
// Does: plain structs for the four kinds of rows (message, attempt,
// heartbeat, secret status) and a codec to and from one journal line (a
// JSON object with a sequence number; bytes that are not UTF-8 are
// replaced, never rejected).
// Does not: do I/O. Only message and attempt records are journaled when the
// database is down; heartbeats and secret status are ephemeral.
// Thread-safety: values; the codec is pure.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace relay::dlog {

// Times are unix microseconds; 0 = NULL in the database.
struct MessageRecord {
  std::string queue_id;
  std::string mail_from;
  std::string header_from;
  std::vector<std::string> rcpts;
  std::string subject;
  std::string message_id;
  std::uint64_t size = 0;
  std::string client_addr;
  std::string auth_user;
  std::string provider;
  std::string status = "queued";  // queued | sent | failed | partial
  std::int64_t received_at = 0;
  std::int64_t first_attempt_at = 0;
  std::int64_t finished_at = 0;
  std::string last_error;
  int attempts = 0;
  // 003_logscale: TLS of the client session (envelope), its EHLO name, the
  // dispatcher host, and each recipient's state (pending|sent|failed) and
  // last reply, parallel to rcpts (empty in journal lines of older versions).
  std::string tls;
  std::string client_helo;
  std::string host;
  std::vector<std::string> rcpt_states;
  std::vector<std::string> rcpt_replies;
};

struct AttemptRecord {
  std::string queue_id;
  int attempt_no = 0;
  std::string provider;
  std::string outcome;  // sent | transient | permanent
  int code = 0;
  std::string enhanced;
  std::string response;
  std::vector<std::string> rcpts;
  std::int64_t duration_ms = 0;
  std::string host;
  int pid = 0;
  std::int64_t started_at = 0;
};

struct HeartbeatRecord {
  std::string kind = "dispatcher";
  std::string host;
  int pid = 0;
  std::int64_t started_at = 0;
  std::int64_t seen_at = 0;
  std::string counters_json = "{}";
};

struct SecretRecord {
  std::string provider;
  std::string expires;  // YYYY-MM-DD or ""
  std::optional<std::int64_t> days_left;
  std::string source;
  std::string state;
  std::string detail;
  std::int64_t checked_at = 0;
};

using Record = std::variant<MessageRecord, AttemptRecord, HeartbeatRecord, SecretRecord>;

// Only these survive a database outage (via the journal).
bool journaled(const Record& r) noexcept;
std::string_view kind_name(const Record& r) noexcept;  // "message" "attempt" ...
// Queue id for log lines ("-" when the record has none).
std::string_view record_id(const Record& r) noexcept;

// One journal line (no trailing newline).
std::string to_journal_line(const Record& r, std::uint64_t seq);
struct JournalEntry {
  std::uint64_t seq = 0;
  Record record;
};
// nullopt + *error for a torn or foreign line.
std::optional<JournalEntry> from_journal_line(std::string_view line, std::string* error);

// Valid UTF-8 without NUL bytes (what a PostgreSQL text column accepts):
// invalid sequences become U+FFFD, NUL is dropped.
std::string clean_utf8(std::string_view in);

// Unix microseconds now.
std::int64_t now_us() noexcept;

}  // namespace relay::dlog
