// relayctl stats [--json] — delivery figures from PostgreSQL (the 003
// rollups, the live_processes view, the last failed attempt through
// attempts_errors_idx) and queue figures from the spool. No query reads a
// whole table (docs/delivery-log.md). Prints
// what it can; exits 1 when either source could not be read.
#include <fmt/format.h>

#include <ctime>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/secret_expiry.hpp"
#include "admin-cli/spool_access.hpp"
#include "admin-cli/stats_format.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

std::int64_t num(const dlog::PgResult& r, int row, int col) {
  std::string v = r.value(row, col);
  return v.empty() ? 0 : std::stoll(v);
}

// Totals from the rollups (stats_hourly + the deltas not folded yet):
// bounded by hours x hosts x providers, never by the number of messages.
// "24h" is whole UTC hours: the current hour and the 24 before it.
constexpr const char* kTotalsSql =
    "WITH h AS (SELECT hour, sent, failed, partial, attempts, errors FROM stats_hourly"
    " UNION ALL SELECT hour, sent, failed, partial, attempts, errors FROM rollup_delta WHERE client_addr IS NULL)"
    " SELECT COALESCE(sum(sent), 0)::bigint, COALESCE(sum(failed), 0)::bigint, COALESCE(sum(partial), 0)::bigint,"
    " (SELECT count(*) FROM messages WHERE status = 'queued'),"
    " COALESCE(sum(sent) FILTER (WHERE hour >= relay_hour(now() - interval '24 hours')), 0)::bigint,"
    " COALESCE(sum(failed + partial) FILTER (WHERE hour >= relay_hour(now() - interval '24 hours')), 0)::bigint,"
    " COALESCE(sum(attempts), 0)::bigint, COALESCE(sum(errors), 0)::bigint,"
    " COALESCE(sum(attempts) FILTER (WHERE hour >= relay_hour(now() - interval '24 hours')), 0)::bigint,"
    " COALESCE(sum(errors) FILTER (WHERE hour >= relay_hour(now() - interval '24 hours')), 0)::bigint"
    " FROM h";

bool fill_db(const dlog::PgConn& db, Stats& s, std::FILE* err) {
  auto t = query(db, "stats", kTotalsSql, {}, err);
  if (!t) return false;
  if (t->rows() > 0) {
    s.sent = num(*t, 0, 0), s.failed = num(*t, 0, 1), s.partial = num(*t, 0, 2), s.queued_db = num(*t, 0, 3);
    s.sent_24h = num(*t, 0, 4), s.failed_24h = num(*t, 0, 5);
    s.attempts_all = num(*t, 0, 6), s.errors_all = num(*t, 0, 7);
    s.attempts_24h = num(*t, 0, 8), s.errors_24h = num(*t, 0, 9);
  }
  auto u = query(db, "stats uptime", "SELECT EXTRACT(EPOCH FROM now() - min(started_at))::bigint, count(*) FROM live_processes", {}, err);
  if (!u) return false;
  if (!u->is_null(0, 0)) s.uptime_s = num(*u, 0, 0);
  s.live_processes = static_cast<int>(num(*u, 0, 1));
  auto e = query(db, "stats last error",
                 "SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"'), queue_id, provider,"
                 " outcome, trim(concat_ws(' ', NULLIF(code, 0)::text, NULLIF(enhanced, ''), response))"
                 " FROM attempts WHERE outcome <> 'sent' ORDER BY started_at DESC, id DESC LIMIT 1",
                 {}, err);
  if (!e) return false;
  if (e->rows() > 0)
    s.last_error = Stats::LastError{e->value(0, 0), e->value(0, 1), e->value(0, 2), e->value(0, 3), e->value(0, 4)};
  auto sec = query(db, "stats secrets",
                   "SELECT provider, state, COALESCE(expires::text, ''), detail FROM secret_status ORDER BY provider",
                   {}, err);
  if (!sec) return false;
  for (int i = 0; i < sec->rows(); ++i)
    s.secrets.push_back(Stats::Secret{sec->value(i, 0), sec->value(i, 1), sec->value(i, 2), sec->value(i, 3)});
  s.have_db = true;
  return true;
}

}  // namespace

int cmd_stats(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  Stats s;
  bool ok = true;
  if (auto sp = open_spool(*cfg, ctx.err())) {
    QueueSummary q = summarize(*sp);
    s.have_spool = true;
    s.queue = q.counts;
    s.queued = q.queued;
    if (q.oldest_millis > 0) s.oldest_age_s = std::time(nullptr) - q.oldest_millis / 1000;
  } else {
    ok = false;
  }
  if (auto db = connect_db(*cfg, ctx.err())) {
    ok = fill_db(db, s, ctx.err()) && ok;
    std::erase_if(s.secrets, [&](const Stats::Secret& x) { return !has_client_secret(*cfg, x.provider); });
  } else {
    ok = false;
  }
  fmt::print(ctx.out(), "{}", ctx.args().has("json") ? format_stats_json(s) + "\n" : format_stats_text(s));
  return ok ? kOk : kFail;
}

}  // namespace relay::admin
