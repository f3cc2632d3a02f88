// relayctl stats [--json] — delivery figures from PostgreSQL (the 002_stats
// views and the attempts table) and queue figures from the spool. Prints
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

bool fill_db(const dlog::PgConn& db, Stats& s, std::FILE* err) {
  auto t = query(db, "stats", "SELECT sent, failed, partial, queued, sent_24h, failed_24h FROM stats_totals", {}, err);
  if (!t) return false;
  s.sent = num(*t, 0, 0), s.failed = num(*t, 0, 1), s.partial = num(*t, 0, 2), s.queued_db = num(*t, 0, 3);
  s.sent_24h = num(*t, 0, 4), s.failed_24h = num(*t, 0, 5);
  auto a = query(db, "stats attempts",
                 "SELECT count(*), count(*) FILTER (WHERE outcome <> 'sent'),"
                 " count(*) FILTER (WHERE started_at > now() - interval '1 day'),"
                 " count(*) FILTER (WHERE outcome <> 'sent' AND started_at > now() - interval '1 day') FROM attempts",
                 {}, err);
  if (!a) return false;
  s.attempts_all = num(*a, 0, 0), s.errors_all = num(*a, 0, 1);
  s.attempts_24h = num(*a, 0, 2), s.errors_24h = num(*a, 0, 3);
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
