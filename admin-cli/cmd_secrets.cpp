// relayctl secrets [--json] — client secret expiry per provider. Rows the
// dispatchers stored in secret_status (they may know the real date from
// Graph) win; providers without a row are computed from the config's
// client_secret_expires. Rows of providers the config no longer has (renamed,
// removed, now a certificate) are stale and not shown. The secret state is
// cluster-wide (one row per provider); HOST names the host whose dispatcher
// recorded it last (docs/scale-out.md). Exit 1 when any secret is expired or inside its
// warning window, so monitoring can run it as a check.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/secret_expiry.hpp"
#include "common/config.hpp"

namespace relay::admin {
namespace {

struct Row {
  std::string provider, expires, days_left, source, state, detail, checked, host;
};

std::vector<Row> rows_from_db(const config::Config& cfg, std::FILE* err) {
  std::vector<Row> out;
  if (cfg.database.conninfo.empty()) return out;
  std::string error;
  auto db = dlog::PgConn::connect(cfg.database.conninfo, cfg.database.connect_timeout, &error);
  if (!db) {
    fmt::print(err, "relayctl: database: {} (using the config only)\n", error);
    return out;
  }
  if (!relation_exists(db, "secret_status")) return out;
  // host: which host's dispatcher checked last (004_cluster; '' before it).
  auto r = query(db, "secret_status",
                 "SELECT provider, COALESCE(expires::text, ''), COALESCE(days_left::text, ''), source, state, detail,"
                 " to_char(checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"Z\"'),"
                 " COALESCE(to_jsonb(s) ->> 'host', '') FROM secret_status s ORDER BY provider",
                 {}, err);
  if (!r) return out;
  for (int i = 0; i < r->rows(); ++i)
    out.push_back({r->value(i, 0), r->value(i, 1), r->value(i, 2), r->value(i, 3), r->value(i, 4), r->value(i, 5),
                   r->value(i, 6), r->value(i, 7)});
  return out;
}

std::string display_state(const std::string& state) {
  if (state == "ok" || state == "unknown") return state;
  std::string up = state;
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return up;
}

}  // namespace

int cmd_secrets(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  std::vector<Row> rows = rows_from_db(*cfg, ctx.err());
  std::erase_if(rows, [&](const Row& r) { return !has_client_secret(*cfg, r.provider); });  // stale rows
  std::int64_t today = std::time(nullptr) / 86400;
  for (const auto& p : cfg->providers) {
    if (p.type != config::ProviderType::M365) continue;
    bool stored = false;
    for (const auto& r : rows) stored |= r.provider == p.name;
    if (stored) continue;
    SecretExpiry e = secret_expiry(p.m365.client_secret_expires, p.m365.expiry_warn_days, today);
    rows.push_back({p.name, e.expires, e.state == "unknown" ? "" : std::to_string(e.days_left), "config", e.state,
                    e.detail, "", ""});
  }
  bool alarm = false;
  for (const auto& r : rows) alarm |= r.state == "expired" || r.state == "warning";
  if (ctx.args().has("json")) {
    std::string out = "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      out += fmt::format("{}{{\"provider\":{},\"expires\":{},\"days_left\":{},\"source\":{},\"state\":{},\"detail\":{},\"host\":{}}}",
                         i ? "," : "", json_string(r.provider), json_string(r.expires),
                         r.days_left.empty() ? "null" : r.days_left, json_string(r.source), json_string(r.state),
                         json_string(r.detail), json_string(r.host));
    }
    fmt::print(ctx.out(), "{}]\n", out);
    return alarm ? kFail : kOk;
  }
  if (rows.empty()) {
    fmt::print(ctx.out(), "no provider with a client secret configured\n");
    return kOk;
  }
  Table t({"PROVIDER", "EXPIRES", "DAYS", "STATE", "SOURCE", "HOST", "DETAIL"});
  for (const auto& r : rows)
    t.add({r.provider, r.expires.empty() ? "-" : r.expires, r.days_left.empty() ? "-" : r.days_left,
           display_state(r.state), r.source, r.host.empty() ? "-" : r.host, r.detail});
  fmt::print(ctx.out(), "{}", t.render());
  return alarm ? kFail : kOk;
}

}  // namespace relay::admin
