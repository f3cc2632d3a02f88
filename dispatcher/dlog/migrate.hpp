// relay::dlog::migrate — applies the numbered SQL migrations of schema/
// (every schema/*.sql, embedded into the binary at build time by
// embed_schema.cmake: a new file needs no code change and no path at run
// time); check_schema() tells a daemon whether the database has them all.
//
// Only `relayctl db migrate` migrates, with an owner role (docs/install.md);
// the daemons run with a role that may lack DDL rights and only check.
// Does: takes a session advisory lock (so concurrent `relayctl db migrate`
// runs serialise), lifts the statement timeout (a migration may rewrite a
// large table), creates schema_migrations if missing,
// applies every migration not listed there, each in its own transaction
// together with its schema_migrations row. Idempotent: a second run applies
// nothing.
// Does not: downgrade, or touch migrations newer than this binary knows.
// Runs on: the calling thread; blocking (libpq). Call it from the DB thread
// or a CLI, never from an event loop.
// Fails: MigrateResult.ok == false with the failing version and the server's
// error; the failing migration is rolled back, earlier ones stay applied.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace relay::dlog {

class PgConn;

struct Migration {
  int version;
  std::string_view name;  // "001_init"
  std::string_view sql;
};

// The migrations compiled into this binary, in version order.
std::span<const Migration> embedded_migrations() noexcept;

struct MigrateResult {
  bool ok = false;
  std::string error;
  std::vector<int> applied;  // versions applied by this call
  int current = 0;           // highest version present afterwards
};

MigrateResult migrate(const std::string& conninfo, std::int64_t connect_timeout = 5);
MigrateResult migrate(const PgConn& conn);

// Read-only: which embedded migrations the database lacks (a missing
// schema_migrations table means all of them). ok == false and error when
// the query failed for another reason (connection, permissions).
struct SchemaCheck {
  bool ok = false;
  std::string error;
  std::vector<std::string> missing;  // names ("002_stats"), in version order
};
SchemaCheck check_schema(const PgConn& conn);

// After migrate(): lets `role` (the daemons' runtime role) read and write
// every table and sequence of the current schema and read schema_migrations,
// without DDL rights. Idempotent. "" on success, else the server's error.
std::string grant_runtime(const PgConn& conn, const std::string& role);

}  // namespace relay::dlog
