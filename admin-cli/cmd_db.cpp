// relayctl db migrate | log — the database side of operations.
// db migrate: relay::dlog::migrate (advisory-locked, idempotent), as the
// role of --url CONNINFO (the schema's owner; docs/install.md) or else of
// database.conninfo; --grant ROLE then gives the daemons' runtime role its
// table rights. The only program that migrates: daemons only check.
// (relayctl log: cmd_log.cpp.)
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config.hpp"
#include "dispatcher/dlog/migrate.hpp"
#include "dispatcher/dlog/pg.hpp"

namespace relay::admin {

int cmd_db_migrate(Context& ctx) {
  // --url needs no config file: an installer may migrate before writing it.
  std::string conninfo = ctx.args().get_or("url", "");
  std::int64_t timeout = 10;
  if (conninfo.empty()) {
    const config::Config* cfg = ctx.config();
    if (!cfg) return kFail;
    conninfo = cfg->database.conninfo;
    timeout = cfg->database.connect_timeout;
    if (conninfo.empty()) {
      fmt::print(ctx.err(), "relayctl: no database configured (database.conninfo in {}, or --url)\n",
                 cfg->file.string());
      return kFail;
    }
  }
  std::string error;
  dlog::PgConn conn = dlog::PgConn::connect(conninfo, timeout, &error);
  if (!conn) {
    fmt::print(ctx.err(), "relayctl: db migrate: connect: {}\n", error);
    return kFail;
  }
  dlog::MigrateResult r = dlog::migrate(conn);
  if (!r.ok) {
    fmt::print(ctx.err(), "relayctl: db migrate: {}\n", r.error);
    if (r.error.find("permission denied") != std::string::npos || r.error.find("must be owner") != std::string::npos)
      fmt::print(ctx.err(), "relayctl: hint: migrate as the schema's owner: relayctl db migrate --url 'CONNINFO'\n");
    return kFail;
  }
  if (r.applied.empty()) {
    fmt::print(ctx.out(), "schema up to date (version {})\n", r.current);
  } else {
    fmt::print(ctx.out(), "applied {} migration{} ({}); schema at version {}\n", r.applied.size(),
               r.applied.size() == 1 ? "" : "s", fmt::join(r.applied, ", "), r.current);
  }
  if (auto role = ctx.args().get("grant")) {
    if (std::string e = dlog::grant_runtime(conn, *role); !e.empty()) {
      fmt::print(ctx.err(), "relayctl: db migrate: grant to {}: {}\n", *role, e);
      return kFail;
    }
    fmt::print(ctx.out(), "granted {} read/write on the relay tables (no DDL)\n", *role);
  }
  return kOk;
}

}  // namespace relay::admin
