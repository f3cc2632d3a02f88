// See maintenance.hpp.
#include "dispatcher/dlog/maintenance.hpp"

#include <chrono>
#include <vector>

#include "common/log.hpp"
#include "dispatcher/dlog/pg.hpp"
#include "dispatcher/dlog/records.hpp"
#include "spool/refusal_summary.hpp"

namespace relay::dlog {
namespace {

// Fixed key, distinct from migrate()'s: every dispatcher competes for it.
constexpr const char* kLeadSql = "SELECT pg_try_advisory_lock(7310289358382)";
constexpr std::int64_t kFoldBatch = 10000;
constexpr std::int64_t kClientDays = 31;

enum class Keep { Retention, AtLeast31Days, TwoDays };

struct RetentionTable {
  const char* name;
  const char* sql;  // $1 cut-off, $2 batch
  Keep keep = Keep::Retention;
};

// ctid lists keep each DELETE to one short statement over an index range.
const RetentionTable kTables[] = {
    {"messages", "DELETE FROM messages WHERE ctid = ANY(ARRAY(SELECT ctid FROM messages"
                 " WHERE received_at < $1::timestamptz LIMIT $2::integer))"},
    {"recipients", "DELETE FROM recipients WHERE ctid = ANY(ARRAY(SELECT ctid FROM recipients"
                   " WHERE received_at < $1::timestamptz LIMIT $2::integer))"},
    {"attempts", "DELETE FROM attempts WHERE ctid = ANY(ARRAY(SELECT ctid FROM attempts"
                 " WHERE started_at < $1::timestamptz LIMIT $2::integer))"},
    {"heartbeats", "DELETE FROM heartbeats WHERE ctid = ANY(ARRAY(SELECT ctid FROM heartbeats"
                   " WHERE seen_at < $1::timestamptz LIMIT $2::integer))"},
    {"client_refusals", "DELETE FROM client_refusals WHERE ctid = ANY(ARRAY(SELECT ctid FROM client_refusals"
                        " WHERE last_refused_at < $1::timestamptz LIMIT $2::integer))"},
    {"client_daily", "DELETE FROM client_daily WHERE ctid = ANY(ARRAY(SELECT ctid FROM client_daily"
                     " WHERE day < $1::timestamptz LIMIT $2::integer))", Keep::AtLeast31Days},
    {"client_hourly", "DELETE FROM client_hourly WHERE ctid = ANY(ARRAY(SELECT ctid FROM client_hourly"
                      " WHERE hour < $1::timestamptz LIMIT $2::integer))", Keep::TwoDays},
};
constexpr std::size_t kTableCount = sizeof kTables / sizeof kTables[0];

constexpr const char* kRefusalSql =
    "INSERT INTO client_refusals AS c (host, client_addr, auth_user, refused, tls_refused, first_refused_at,"
    " last_refused_at, last_reason, last_summary)"
    " VALUES ($1, $2, $3, $4::bigint, $5::bigint, to_timestamp($6::bigint), to_timestamp($7::bigint), $8, $9)"
    " ON CONFLICT (host, client_addr, auth_user) DO UPDATE SET refused = c.refused + EXCLUDED.refused,"
    " tls_refused = c.tls_refused + EXCLUDED.tls_refused,"
    " first_refused_at = LEAST(c.first_refused_at, EXCLUDED.first_refused_at),"
    " last_refused_at = GREATEST(c.last_refused_at, EXCLUDED.last_refused_at),"
    " last_reason = CASE WHEN EXCLUDED.last_refused_at >= c.last_refused_at THEN EXCLUDED.last_reason"
    " ELSE c.last_reason END, last_summary = EXCLUDED.last_summary"
    " WHERE c.last_summary < EXCLUDED.last_summary";

std::int64_t mono_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void Maintenance::lost_connection() noexcept {
  if (leader_) log::info("- event=maintenance_leader state=lost reason=\"database connection ended\"");
  leader_ = false;
  in_round_ = false;
  next_lead_try_ms_ = 0;
}

void Maintenance::step(const PgConn& conn, std::int64_t now_ms) {
  if (!opt_.refusal_dir.empty() && now_ms >= next_import_ms_) {
    next_import_ms_ = now_ms + opt_.import_interval_ms;
    import_refusals(conn);
  }
  if (!leader_) {
    try_lead(conn, now_ms);
    if (!leader_) return;
  }
  if (!in_round_) {
    if (now_ms < next_round_ms_) return;
    in_round_ = true;
    table_ = 0;
    deleted_ = batches_ = 0;
    round_us_ = now_us();
  }
  if (round_step(conn, mono_ms() + opt_.step_budget_ms)) {
    in_round_ = false;
    next_round_ms_ = now_ms + opt_.interval_ms;
  }
}

void Maintenance::try_lead(const PgConn& conn, std::int64_t now_ms) {
  if (now_ms < next_lead_try_ms_) return;
  next_lead_try_ms_ = now_ms + opt_.interval_ms;
  PgResult r = conn.exec(kLeadSql);
  if (!r.ok()) {
    log::warn("- event=maintenance_error op=elect reason={}", log::quote(r.error()));
    return;
  }
  if (r.value(0, 0) != "t") return;
  leader_ = true;
  next_round_ms_ = 0;
  log::info("- event=maintenance_leader state=elected retention_s={} batch={}", opt_.retention_s, opt_.batch);
}

bool Maintenance::round_step(const PgConn& conn, std::int64_t deadline_ms) {
  if (table_ == 0 && deleted_ == 0 && batches_ == 0 && !fold(conn, deadline_ms)) return false;
  while (table_ < kTableCount) {
    std::int64_t n = 0;
    if (!delete_batch(conn, &n)) return true;  // logged; the next round tries again
    deleted_ += n;
    ++batches_;
    if (n < opt_.batch) {
      if (deleted_ > 0)
        log::info("- event=retention table={} deleted={} batches={} retention_s={}", kTables[table_].name, deleted_,
                  batches_, opt_.retention_s);
      ++table_;
      deleted_ = batches_ = 0;
    }
    if (mono_ms() >= deadline_ms) return table_ >= kTableCount;
  }
  return true;
}

bool Maintenance::fold(const PgConn& conn, std::int64_t deadline_ms) {
  for (;;) {
    PgResult r = conn.exec("SELECT relay_fold_rollups($1::integer)", {std::to_string(kFoldBatch)});
    if (!r.ok()) {
      log::warn("- event=maintenance_error op=fold reason={}", log::quote(r.error()));
      return true;  // retention still runs
    }
    if (std::stoll(r.value(0, 0)) < kFoldBatch) return true;
    if (mono_ms() >= deadline_ms) return false;  // more next step
  }
}

bool Maintenance::delete_batch(const PgConn& conn, std::int64_t* deleted) {
  const RetentionTable& t = kTables[table_];
  std::int64_t keep_s = opt_.retention_s;
  if (t.keep == Keep::AtLeast31Days && keep_s < kClientDays * 86400) keep_s = kClientDays * 86400;
  if (t.keep == Keep::TwoDays) keep_s = 2 * 86400;  // client_hourly serves the 24 h figure only
  std::string cut = pg_timestamp_us(round_us_ - keep_s * 1000000);
  PgResult r = conn.exec(t.sql, {cut, std::to_string(opt_.batch)});
  if (!r.ok()) {
    log::warn("- event=maintenance_error op=retention table={} reason={}", t.name, log::quote(r.error()));
    return false;
  }
  const char* n = PQcmdTuples(r.get());
  *deleted = n && *n ? std::stoll(n) : 0;
  return true;
}

void Maintenance::import_refusals(const PgConn& conn) {
  int files = 0;
  for (const auto& f : spool::pending_refusal_summaries(opt_.refusal_dir)) {
    if (!import_one(conn, f) || ++files >= 20) break;  // bounded per step
  }
}

bool Maintenance::import_one(const PgConn& conn, const std::filesystem::path& file) {
  std::vector<spool::RefusalEntry> entries;
  std::string error;
  std::error_code ec;
  if (!spool::read_refusal_summary(file, &entries, &error)) {
    log::warn("- event=refusal_import_failed file={} action=renamed_bad reason={}", file.filename().string(),
              log::quote(error));
    std::filesystem::rename(file, file.string() + ".bad", ec);
    return true;
  }
  const std::string summary = file.stem().string();
  bool ok = conn.exec("BEGIN").ok();
  for (std::size_t i = 0; ok && i < entries.size(); ++i) {
    const auto& e = entries[i];
    PgResult r = conn.exec(kRefusalSql, {clean_utf8(opt_.host), clean_utf8(e.client_addr), clean_utf8(e.auth_user),
                                         std::to_string(e.count), std::to_string(e.tls_count),
                                         std::to_string(e.first_at), std::to_string(e.last_at),
                                         clean_utf8(e.last_reason), summary});
    if (!r.ok()) error = r.error();
    ok = r.ok();
  }
  PgResult c = conn.exec(ok ? "COMMIT" : "ROLLBACK");
  if (!ok || !c.ok()) {
    log::warn("- event=refusal_import_failed file={} action=retry_later reason={}", file.filename().string(),
              log::quote(ok ? c.error() : error));
    return false;
  }
  std::filesystem::remove(file, ec);
  log::info("- event=refusal_import file={} entries={}", file.filename().string(), entries.size());
  return true;
}

}  // namespace relay::dlog
