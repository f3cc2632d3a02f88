// relayctl db migrate — relay::dlog::migrate (advisory-locked, idempotent).
// (relayctl log: cmd_log.cpp.)
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config.hpp"
#include "dispatcher/dlog/migrate.hpp"

namespace relay::admin {

int cmd_db_migrate(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  if (cfg->database.conninfo.empty()) {
    fmt::print(ctx.err(), "relayctl: no database configured (database.conninfo in {})\n", cfg->file.string());
    return kFail;
  }
  dlog::MigrateResult r = dlog::migrate(cfg->database.conninfo, cfg->database.connect_timeout);
  if (!r.ok) {
    fmt::print(ctx.err(), "relayctl: db migrate: {}\n", r.error);
    return kFail;
  }
  if (r.applied.empty()) {
    fmt::print(ctx.out(), "schema up to date (version {})\n", r.current);
  } else {
    fmt::print(ctx.out(), "applied {} migration{} ({}); schema at version {}\n", r.applied.size(),
               r.applied.size() == 1 ? "" : "s", fmt::join(r.applied, ", "), r.current);
  }
  return kOk;
}

}  // namespace relay::admin
