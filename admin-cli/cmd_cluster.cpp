// relayctl cluster [--json] — every relay host sharing this database
// (docs/scale-out.md): the hosts table that each host's `relayctl run`
// upserts every cluster.heartbeat_interval (host_heartbeat.hpp).
// A host is "down" when its row is older than 3 of its intervals and it
// did not say "stopped" (killed, crashed, or cut off from the database).
// Exit 1 when a host is down or the database cannot be read; a host that
// was stopped in order is not an error.
#include <fmt/format.h>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

constexpr const char* kClusterSql =
    "SELECT host,"
    " CASE WHEN state = 'stopped' THEN 'stopped'"
    "  WHEN seen_at < now() - make_interval(secs => 3 * interval_s) THEN 'down'"
    "  ELSE state END AS status,"
    " state, version, schema_version, pid,"
    " to_char(seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"') AS last_heartbeat,"
    " GREATEST(EXTRACT(EPOCH FROM now() - seen_at), 0)::bigint AS heartbeat_age_s, interval_s,"
    " to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"') AS started,"
    " queue, oldest_queued_s, to_jsonb(paused) AS paused"
    " FROM hosts ORDER BY host";

// {"new":1,"active":0} -> "new=1 active=0"
std::string queue_text(std::string json) {
  std::string out;
  for (char ch : json) {
    if (ch == '{' || ch == '}' || ch == '"' || ch == ' ') continue;
    out += ch == ':' ? '=' : ch == ',' ? ' ' : ch;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

int cmd_cluster(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  auto db = connect_db(*cfg, ctx.err());
  if (!db) return kFail;
  auto rows = query(db, "cluster", kClusterSql, {}, ctx.err());
  if (!rows) return kFail;
  bool down = false;
  for (int i = 0; i < rows->rows(); ++i) down = down || rows->value(i, 1) == "down";
  if (ctx.args().has("json")) {
    fmt::print(ctx.out(), "{}\n", result_json(*rows));
    return down ? kFail : kOk;
  }
  if (rows->rows() == 0) {
    fmt::print(ctx.out(), "no host has written a heartbeat (is `relayctl run` running, and `relayctl db migrate` done?)\n");
    return kOk;
  }
  Table t({"HOST", "STATUS", "LAST-HEARTBEAT", "AGE", "VERSION", "QUEUE", "OLDEST"});
  for (int i = 0; i < rows->rows(); ++i) {
    std::string status = rows->value(i, 1) + (rows->value(i, 12) == "true" ? ",paused" : "");
    std::string oldest = rows->is_null(i, 11) ? "-" : human_age(std::stoll(rows->value(i, 11)));
    t.add({rows->value(i, 0), status, rows->value(i, 6), human_age(std::stoll(rows->value(i, 7))),
           fmt::format("{} (schema {})", rows->value(i, 3), rows->value(i, 4)), queue_text(rows->value(i, 10)), oldest});
  }
  fmt::print(ctx.out(), "{}", t.render());
  return down ? kFail : kOk;
}

}  // namespace relay::admin
