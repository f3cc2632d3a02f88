// See record_sql.hpp.
#include "dispatcher/dlog/record_sql.hpp"

#include "common/log.hpp"
#include "dispatcher/dlog/pg.hpp"

namespace relay::dlog {
namespace {

using Params = std::vector<std::optional<std::string>>;

std::optional<std::string> ts(std::int64_t us) {
  if (us == 0) return std::nullopt;
  return pg_timestamp_us(us);
}

std::string arr(const std::vector<std::string>& v) {
  std::vector<std::string> clean;
  clean.reserve(v.size());
  for (const auto& s : v) clean.push_back(clean_utf8(s));
  return pg_text_array(clean);
}

constexpr const char* kMessageSql =
    "INSERT INTO messages (queue_id, mail_from, header_from, rcpts, subject, message_id, size,"
    " client_addr, auth_user, provider, status, received_at, first_attempt_at, finished_at, last_error, attempts,"
    " tls, client_helo, host)"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
    " ON CONFLICT (queue_id) DO UPDATE SET"
    "  header_from = CASE WHEN EXCLUDED.header_from <> '' THEN EXCLUDED.header_from ELSE messages.header_from END,"
    "  subject = CASE WHEN EXCLUDED.subject <> '' THEN EXCLUDED.subject ELSE messages.subject END,"
    "  message_id = CASE WHEN EXCLUDED.message_id <> '' THEN EXCLUDED.message_id ELSE messages.message_id END,"
    "  provider = EXCLUDED.provider, status = EXCLUDED.status,"
    "  first_attempt_at = LEAST(messages.first_attempt_at, EXCLUDED.first_attempt_at),"
    "  finished_at = COALESCE(EXCLUDED.finished_at, messages.finished_at),"
    "  last_error = EXCLUDED.last_error, attempts = GREATEST(messages.attempts, EXCLUDED.attempts),"
    "  host = CASE WHEN EXCLUDED.host <> '' THEN EXCLUDED.host ELSE messages.host END"
    " WHERE messages.status = 'queued' OR EXCLUDED.status <> 'queued'";

// One row per distinct recipient; a finished state is never moved back to
// pending by an older record replayed late.
constexpr const char* kRecipientSql =
    "INSERT INTO recipients (queue_id, rcpt, state, reply, received_at)"
    " SELECT DISTINCT ON (r.rcpt) $1, r.rcpt, r.state, r.reply, $5::timestamptz"
    " FROM unnest($2::text[], $3::text[], $4::text[]) AS r(rcpt, state, reply) ORDER BY r.rcpt"
    " ON CONFLICT (queue_id, rcpt) DO UPDATE SET state = EXCLUDED.state, reply = EXCLUDED.reply"
    " WHERE recipients.state = 'pending' OR EXCLUDED.state <> 'pending'";

constexpr const char* kAttemptSql =
    "INSERT INTO attempts (queue_id, attempt_no, provider, outcome, code, enhanced, response, rcpts,"
    " duration_ms, host, pid, started_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
    " ON CONFLICT ON CONSTRAINT attempts_once DO NOTHING";

constexpr const char* kHeartbeatSql =
    "INSERT INTO heartbeats (kind, host, pid, started_at, seen_at, counters) VALUES ($1,$2,$3,$4,$5,$6::jsonb)"
    " ON CONFLICT (host, pid, started_at) DO UPDATE SET seen_at = EXCLUDED.seen_at, counters = EXCLUDED.counters";

constexpr const char* kSecretSql =
    "INSERT INTO secret_status (provider, expires, days_left, source, state, detail, checked_at)"
    " VALUES ($1, $2::date, $3, $4, $5, $6, $7) ON CONFLICT (provider) DO UPDATE SET"
    " expires = EXCLUDED.expires, days_left = EXCLUDED.days_left, source = EXCLUDED.source,"
    " state = EXCLUDED.state, detail = EXCLUDED.detail, checked_at = EXCLUDED.checked_at";

PgResult exec_message(const PgConn& c, const MessageRecord& m);

// Recipient state of the record, normalised to what the table accepts.
std::string state_of(const MessageRecord& m, std::size_t i) {
  if (i >= m.rcpt_states.size()) return "pending";
  const std::string& s = m.rcpt_states[i];
  return s == "sent" || s == "failed" ? s : "pending";
}

PgResult exec_recipients(const PgConn& c, const MessageRecord& m) {
  std::vector<std::string> states, replies;
  for (std::size_t i = 0; i < m.rcpts.size(); ++i) {
    states.push_back(state_of(m, i));
    replies.push_back(i < m.rcpt_replies.size() ? m.rcpt_replies[i] : "");
  }
  return c.exec(kRecipientSql, Params{clean_utf8(m.queue_id), arr(m.rcpts), arr(states), arr(replies),
                                      pg_timestamp_us(m.received_at)});
}

PgResult exec_one(const PgConn& c, const MessageRecord& m) {
  PgResult r = exec_message(c, m);
  if (!r.ok() || m.rcpts.empty()) return r;
  return exec_recipients(c, m);
}

PgResult exec_message(const PgConn& c, const MessageRecord& m) {
  return c.exec(kMessageSql,
                Params{clean_utf8(m.queue_id), clean_utf8(m.mail_from), clean_utf8(m.header_from), arr(m.rcpts),
                       clean_utf8(m.subject), clean_utf8(m.message_id), std::to_string(m.size),
                       clean_utf8(m.client_addr), clean_utf8(m.auth_user), clean_utf8(m.provider), m.status,
                       pg_timestamp_us(m.received_at), ts(m.first_attempt_at), ts(m.finished_at),
                       clean_utf8(m.last_error), std::to_string(m.attempts), clean_utf8(m.tls),
                       clean_utf8(m.client_helo), clean_utf8(m.host)});
}

PgResult exec_one(const PgConn& c, const AttemptRecord& a) {
  return c.exec(kAttemptSql,
                Params{clean_utf8(a.queue_id), std::to_string(a.attempt_no), clean_utf8(a.provider), a.outcome,
                       std::to_string(a.code), clean_utf8(a.enhanced), clean_utf8(a.response), arr(a.rcpts),
                       std::to_string(a.duration_ms), clean_utf8(a.host), std::to_string(a.pid),
                       pg_timestamp_us(a.started_at)});
}

PgResult exec_one(const PgConn& c, const HeartbeatRecord& h) {
  return c.exec(kHeartbeatSql, Params{h.kind, clean_utf8(h.host), std::to_string(h.pid), pg_timestamp_us(h.started_at),
                                      pg_timestamp_us(h.seen_at), h.counters_json});
}

PgResult exec_one(const PgConn& c, const SecretRecord& s) {
  std::optional<std::string> expires, days;
  if (!s.expires.empty()) expires = s.expires;
  if (s.days_left) days = std::to_string(*s.days_left);
  return c.exec(kSecretSql, Params{clean_utf8(s.provider), expires, days, clean_utf8(s.source),
                                   clean_utf8(s.state), clean_utf8(s.detail), pg_timestamp_us(s.checked_at)});
}

PgResult exec_record(const PgConn& c, const Record& r) {
  return std::visit([&](const auto& v) { return exec_one(c, v); }, r);
}

// Errors worth retrying later rather than dropping the record: connection
// (08), resources (53), operator intervention/timeouts (57), transaction
// rollback (40), system errors (58).
bool retryable(const PgConn& conn, const PgResult& res) {
  if (!conn.healthy()) return true;
  std::string st = res.sqlstate();
  if (st.size() < 2) return res.get() == nullptr;
  std::string cls = st.substr(0, 2);
  return cls == "08" || cls == "53" || cls == "57" || cls == "40" || cls == "58";
}

// Fallback when the batch transaction failed on a healthy connection: one
// record at a time, so one bad record cannot hold back the rest.
WriteStatus write_each(const PgConn& conn, std::span<const Record> records, std::size_t* rejected,
                       std::string* error) {
  for (const Record& r : records) {
    PgResult res = exec_record(conn, r);
    if (res.ok()) continue;
    if (retryable(conn, res)) {
      *error = res.error();
      return WriteStatus::Disconnected;
    }
    ++*rejected;
    log::error("{} event=dlog_rejected kind={} reason={}", record_id(r), kind_name(r), log::quote(res.error()));
  }
  return WriteStatus::Ok;
}

}  // namespace

WriteStatus write_records(const PgConn& conn, std::span<const Record> records, std::size_t* rejected,
                          std::string* error) {
  *rejected = 0;
  if (records.empty()) return WriteStatus::Ok;
  PgResult r = conn.exec("BEGIN");
  bool good = r.ok();
  for (std::size_t i = 0; good && i < records.size(); ++i) {
    r = exec_record(conn, records[i]);
    good = r.ok();
  }
  if (good) {
    r = conn.exec("COMMIT");
    good = r.ok();
    if (good) return WriteStatus::Ok;
  }
  *error = r.error();
  if (retryable(conn, r)) return WriteStatus::Disconnected;
  conn.exec("ROLLBACK");
  return write_each(conn, records, rejected, error);
}

}  // namespace relay::dlog
