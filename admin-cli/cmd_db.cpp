// relayctl db migrate | log — the database side of operations.
// db migrate: relay::dlog::migrate (advisory-locked, idempotent), as the
// role of --url CONNINFO (the schema's owner; docs/install.md) or else of
// database.conninfo; --grant ROLE then gives the daemons' runtime role its
// table rights. The only program that migrates: daemons only check.
// log: recent messages from the delivery log, newest first; with --id the
// message's attempts too.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "admin-cli/command.hpp"
#include "admin-cli/db_access.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "common/config.hpp"
#include "dispatcher/dlog/migrate.hpp"
#include "dispatcher/dlog/pg.hpp"

namespace relay::admin {
namespace {

constexpr const char* kUtc = "'YYYY-MM-DD HH24:MI:SS\"Z\"'";

std::string messages_sql() {
  return fmt::format(
      "SELECT queue_id, status, to_char(received_at AT TIME ZONE 'UTC', {0}) AS received,"
      " COALESCE(to_char(finished_at AT TIME ZONE 'UTC', {0}), '') AS finished, mail_from,"
      " array_to_string(rcpts, ',') AS rcpts, provider, attempts, size, subject, last_error"
      " FROM messages WHERE ($1::text IS NULL OR queue_id = $1)"
      " AND (NOT $2::boolean OR status IN ('failed', 'partial'))"
      " ORDER BY received_at DESC, queue_id DESC LIMIT $3::integer",
      kUtc);
}

std::string attempts_sql() {
  return fmt::format(
      "SELECT attempt_no, to_char(started_at AT TIME ZONE 'UTC', {}) AS started, provider, outcome, code,"
      " enhanced, duration_ms, host, pid, response FROM attempts WHERE queue_id = $1 ORDER BY started_at, id",
      kUtc);
}

void print_messages(std::FILE* out, const dlog::PgResult& r) {
  Table t({"RECEIVED", "QUEUE-ID", "STATUS", "FROM", "TO", "PROVIDER", "TRIES", "ERROR"});
  for (int i = 0; i < r.rows(); ++i) {
    t.add({r.value(i, 2), r.value(i, 0), r.value(i, 1), "<" + r.value(i, 4) + ">", r.value(i, 5), r.value(i, 6),
           r.value(i, 7), r.value(i, 10)});
  }
  fmt::print(out, "{}", t.render());
}

void print_attempts(std::FILE* out, const dlog::PgResult& r) {
  Table t({"  #", "STARTED", "PROVIDER", "OUTCOME", "CODE", "MS", "HOST/PID", "RESPONSE"});
  for (int i = 0; i < r.rows(); ++i) {
    std::string code = r.value(i, 4) + (r.value(i, 5).empty() ? "" : " " + r.value(i, 5));
    t.add({"  " + r.value(i, 0), r.value(i, 1), r.value(i, 2), r.value(i, 3), code, r.value(i, 6),
           r.value(i, 7) + "/" + r.value(i, 8), r.value(i, 9)});
  }
  fmt::print(out, "\nattempts:\n{}", t.render());
}

}  // namespace

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

int cmd_log(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  std::string limit = ctx.args().get_or("limit", "20");
  if (limit.empty() || limit.find_first_not_of("0123456789") != std::string::npos) {
    fmt::print(ctx.err(), "relayctl: --limit wants a number (got '{}')\n", limit);
    return kUsage;
  }
  auto db = connect_db(*cfg, ctx.err());
  if (!db) return kFail;
  auto id = ctx.args().get("id");
  std::string failed = ctx.args().has("failed") ? "true" : "false";
  auto rows = query(db, "log", messages_sql().c_str(), {id, failed, limit}, ctx.err());
  if (!rows) return kFail;
  if (ctx.args().has("json")) {
    std::string json = result_json(*rows);
    // --id: the message object carries its attempts, as the text form does.
    if (id && rows->rows() == 1) {
      auto att = query(db, "log attempts", attempts_sql().c_str(), {id}, ctx.err());
      if (!att) return kFail;
      json = json.substr(0, json.size() - 2) + ",\"attempts\":" + result_json(*att) + "}]";
    }
    fmt::print(ctx.out(), "{}\n", json);
    return id && rows->rows() == 0 ? kFail : kOk;
  }
  if (rows->rows() == 0) {
    if (id) {
      fmt::print(ctx.out(), "{}: not in the delivery log\n", *id);
    } else {
      fmt::print(ctx.out(), "no deliveries logged\n");
    }
    return id ? kFail : kOk;
  }
  print_messages(ctx.out(), *rows);
  if (id) {
    auto att = query(db, "log attempts", attempts_sql().c_str(), {id}, ctx.err());
    if (!att) return kFail;
    print_attempts(ctx.out(), *att);
  }
  return kOk;
}

}  // namespace relay::admin
