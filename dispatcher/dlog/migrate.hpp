// relay::dlog::migrate — applies the numbered SQL migrations of schema/
// (embedded into the binary at build time by embed_schema.cmake, so no path
// is needed at run time).
//
// Does: takes a session advisory lock (so concurrent dispatchers and
// `relayctl db migrate` serialise), creates schema_migrations if missing,
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

}  // namespace relay::dlog
