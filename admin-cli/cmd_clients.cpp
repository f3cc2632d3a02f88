// relayctl clients [--json] — the client inventory (issue 12 item 3): per
// AUTH user and client address, when it was last seen, messages accepted
// in the last 24 h and 30 days, whether it used TLS, how often the
// receiver refused it and the last refusal's reply.
// Reads the rollups only, never the messages table: client_daily (30 days:
// the current UTC day and the 30 before it), client_hourly (24 h: the
// current UTC hour and the 24 before it), the deltas not folded yet, and
// client_refusals. Rows: clients x 31 days + clients x 25 hours.
#include <fmt/format.h>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

constexpr const char* kClientsSql =
    "WITH x AS ("
    " SELECT day AS t, false AS hourly, client_addr, auth_user, messages, tls_messages, last_seen FROM client_daily"
    "  WHERE day >= relay_day(now() - interval '30 days')"
    " UNION ALL"
    " SELECT hour, true, client_addr, auth_user, messages, 0, NULL FROM client_hourly"
    "  WHERE hour >= relay_hour(now() - interval '24 hours')"
    " UNION ALL"
    " SELECT hour, NULL, client_addr, COALESCE(auth_user, ''), received, tls, last_seen FROM rollup_delta"
    "  WHERE client_addr IS NOT NULL AND hour >= relay_day(now() - interval '30 days')),"
    " acc AS ("
    " SELECT client_addr, auth_user,"
    "  sum(messages) FILTER (WHERE hourly OR (hourly IS NULL AND t >= relay_hour(now() - interval '24 hours'))) AS m24,"
    "  sum(messages) FILTER (WHERE NOT hourly OR hourly IS NULL) AS m30, sum(tls_messages) AS tls30,"
    "  max(last_seen) AS last_seen"
    " FROM x GROUP BY 1, 2),"
    " ref AS ("
    " SELECT client_addr, auth_user, sum(refused) AS refused, max(last_refused_at) AS last_refused_at,"
    "  (array_agg(last_reason ORDER BY last_refused_at DESC))[1] AS last_reason"
    " FROM client_refusals GROUP BY 1, 2)"
    " SELECT COALESCE(a.auth_user, f.auth_user) AS auth_user, COALESCE(a.client_addr, f.client_addr) AS client_addr,"
    "  to_char(GREATEST(a.last_seen, f.last_refused_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"') AS last_seen,"
    "  COALESCE(a.m24, 0)::bigint AS messages_24h, COALESCE(a.m30, 0)::bigint AS messages_30d,"
    "  COALESCE(a.tls30, 0)::bigint AS tls_messages_30d,"
    "  CASE WHEN COALESCE(a.m30, 0) = 0 THEN '-' WHEN a.tls30 = a.m30 THEN 'yes' WHEN a.tls30 = 0 THEN 'no'"
    "   ELSE 'mixed' END AS tls,"
    "  COALESCE(f.refused, 0)::bigint AS refused,"
    "  COALESCE(to_char(f.last_refused_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"'), '') AS last_refused,"
    "  COALESCE(f.last_reason, '') AS last_refusal_reason"
    " FROM acc a FULL JOIN ref f ON a.client_addr = f.client_addr AND a.auth_user = f.auth_user"
    " ORDER BY GREATEST(a.last_seen, f.last_refused_at) DESC NULLS LAST, 2, 1";

}  // namespace

int cmd_clients(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  auto db = connect_db(*cfg, ctx.err());
  if (!db) return kFail;
  auto rows = query(db, "clients", kClientsSql, {}, ctx.err());
  if (!rows) return kFail;
  if (ctx.args().has("json")) {
    fmt::print(ctx.out(), "{}\n", result_json(*rows));
    return kOk;
  }
  if (rows->rows() == 0) {
    fmt::print(ctx.out(), "no clients seen in the last 30 days\n");
    return kOk;
  }
  Table t({"LAST-SEEN", "USER", "CLIENT", "24H", "30D", "TLS", "REFUSED", "LAST-REFUSAL"});
  for (int i = 0; i < rows->rows(); ++i) {
    const std::string user = rows->value(i, 0);
    const std::string last = rows->value(i, 9).empty() ? "-" : rows->value(i, 8) + " " + rows->value(i, 9);
    t.add({rows->value(i, 2), user.empty() ? "-" : user, rows->value(i, 1), rows->value(i, 3), rows->value(i, 4),
           rows->value(i, 6), rows->value(i, 7), last});
  }
  fmt::print(ctx.out(), "{}", t.render());
  return kOk;
}

}  // namespace relay::admin
