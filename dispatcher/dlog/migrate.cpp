// See migrate.hpp.
#include "dispatcher/dlog/migrate.hpp"

#include <fmt/format.h>

#include <set>

#include "dispatcher/dlog/pg.hpp"

namespace relay::dlog {
namespace {

// Arbitrary but fixed: every relay program migrating uses the same key.
constexpr const char* kLockSql = "SELECT pg_advisory_lock(7310289358381)";
constexpr const char* kUnlockSql = "SELECT pg_advisory_unlock(7310289358381)";

bool applied_versions(const PgConn& conn, std::set<int>* out, std::string* error) {
  PgResult r = conn.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY, name text NOT NULL DEFAULT '',"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  if (!r.ok()) {
    *error = "create schema_migrations: " + r.error();
    return false;
  }
  r = conn.exec("SELECT version FROM schema_migrations");
  if (!r.ok()) {
    *error = "read schema_migrations: " + r.error();
    return false;
  }
  for (int i = 0; i < r.rows(); ++i) out->insert(std::stoi(r.value(i, 0)));
  return true;
}

bool apply_one(const PgConn& conn, const Migration& m, std::string* error) {
  PgResult r = conn.exec("BEGIN");
  if (!r.ok()) {
    *error = "begin: " + r.error();
    return false;
  }
  std::string sql(m.sql);
  r = conn.exec(sql.c_str());
  if (!r.ok()) {
    *error = fmt::format("migration {} ({}): {}", m.version, m.name, r.error());
    conn.exec("ROLLBACK");
    return false;
  }
  r = conn.exec("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                {std::to_string(m.version), std::string(m.name)});
  if (!r.ok()) {
    *error = fmt::format("record migration {}: {}", m.version, r.error());
    conn.exec("ROLLBACK");
    return false;
  }
  r = conn.exec("COMMIT");
  if (!r.ok()) {
    *error = fmt::format("commit migration {}: {}", m.version, r.error());
    return false;
  }
  return true;
}

}  // namespace

MigrateResult migrate(const PgConn& conn) {
  MigrateResult res;
  if (!conn.healthy()) {
    res.error = "not connected";
    return res;
  }
  // The connection's 30 s default is for the daemons' small writes.
  conn.exec("SET statement_timeout = 0");
  PgResult lock = conn.exec(kLockSql);
  if (!lock.ok()) {
    res.error = "advisory lock: " + lock.error();
    return res;
  }
  std::set<int> have;
  bool good = applied_versions(conn, &have, &res.error);
  for (const Migration& m : embedded_migrations()) {
    if (!good) break;
    if (have.count(m.version)) continue;
    good = apply_one(conn, m, &res.error);
    if (good) {
      res.applied.push_back(m.version);
      have.insert(m.version);
    }
  }
  conn.exec(kUnlockSql);
  res.ok = good;
  res.current = have.empty() ? 0 : *have.rbegin();
  return res;
}

SchemaCheck check_schema(const PgConn& conn) {
  SchemaCheck res;
  std::set<int> have;
  PgResult r = conn.exec("SELECT version FROM schema_migrations");
  if (r.ok()) {
    for (int i = 0; i < r.rows(); ++i) have.insert(std::stoi(r.value(i, 0)));
  } else if (r.sqlstate() != "42P01") {  // undefined_table: nothing migrated yet
    res.error = "read schema_migrations: " + r.error();
    return res;
  }
  for (const Migration& m : embedded_migrations())
    if (!have.count(m.version)) res.missing.emplace_back(m.name);
  res.ok = true;
  return res;
}

std::string grant_runtime(const PgConn& conn, const std::string& role) {
  PgResult q = conn.exec("SELECT quote_ident($1), quote_ident(current_schema())", {role});
  if (!q.ok()) return q.error();
  const std::string r = q.value(0, 0), schema = q.value(0, 1);
  const std::string sql =
      "GRANT USAGE ON SCHEMA " + schema + " TO " + r +
      "; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + r +
      "; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + r +
      "; REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM " + r;
  PgResult g = conn.exec(sql.c_str());
  return g.ok() ? "" : g.error();
}

MigrateResult migrate(const std::string& conninfo, std::int64_t connect_timeout) {
  std::string error;
  PgConn conn = PgConn::connect(conninfo, connect_timeout, &error);
  if (!conn) {
    MigrateResult res;
    res.error = "connect: " + error;
    return res;
  }
  return migrate(conn);
}

}  // namespace relay::dlog
