// relay::admin log query — the filters of `relayctl log` and the one SQL
// statement they become (docs/delivery-log.md).
//
// Does: validates each option value (a clear error naming the option and
// the value; dates are parsed here, not by the server) and builds the
// query from fixed SQL fragments; every value travels as a $n parameter,
// never inside the SQL text. Each filter has an index (schema
// 003_logscale): --to walks recipients_rcpt_idx / recipients_domain_idx in
// received_at order, the others messages_*_idx, so `log` never sorts the
// whole table.
// Does not: connect or print (cmd_log.cpp). Pure; unit-tested.
// Fails: parse_log_filter returns nullopt with *error.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::admin {

class Args;

struct LogFilter {
  std::optional<std::string> id, from, to, status, message_id, subject, provider;
  std::optional<std::int64_t> since, until;  // unix seconds, UTC
  bool failed = false;                       // status failed or partial
  std::int64_t limit = 20;
};

// "2026-12-01", "2026-12-01T10:00", "2026-12-01 10:00:05Z", "...+02:00"
// (no zone = UTC), or an age: "90m", "2h", "7d" (that long before now).
std::optional<std::int64_t> parse_when(std::string_view text, std::int64_t now, std::string* error);

std::optional<LogFilter> parse_log_filter(const Args& args, std::int64_t now, std::string* error);

struct SqlQuery {
  std::string sql;
  std::vector<std::optional<std::string>> params;
};

// Columns: queue_id status received finished mail_from rcpts provider
// attempts size subject last_error message_id client_addr auth_user tls
// recipients (json: [{rcpt, state, reply}]).
SqlQuery build_log_query(const LogFilter& f);

// ILIKE pattern matching `text` as a literal substring (escapes \ % _).
std::string like_substring(std::string_view text);

}  // namespace relay::admin
