// Test helper: a fresh PostgreSQL database on $RELAY_TEST_PG's server
// (contrib/test.sh always sets it). Returns nullopt when unset; a case
// that needs it then calls need_db()/need_pg_base(), which record the skip
// (tests/skip.hpp: the binary exits 77, ctest shows it as skipped).
#pragma once
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "dispatcher/dlog/pg.hpp"
#include "tests/skip.hpp"

namespace relay::test {

inline std::optional<std::string> pg_base() {
  const char* base = std::getenv("RELAY_TEST_PG");
  if (!base || !*base) return std::nullopt;
  return std::string(base);
}

// conninfo of `base` with dbname replaced.
inline std::string with_dbname(const std::string& base, const std::string& db) {
  std::istringstream in(base);
  std::string word, out;
  while (in >> word)
    if (word.rfind("dbname=", 0) != 0) out += word + " ";
  return out + "dbname=" + db;
}

inline std::string unique_db_name() {
  static std::atomic<int> n{0};
  std::random_device rd;
  return "dt_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + "_" + std::to_string(rd() % 100000);
}

inline void create_db(const std::string& base, const std::string& name) {
  std::string err;
  auto c = dlog::PgConn::connect(base, 5, &err);
  REQUIRE_MESSAGE(c, "connect " << base << ": " << err);
  auto r = c.exec(("CREATE DATABASE " + name).c_str());
  REQUIRE_MESSAGE(r.ok(), r.error());
}

// A fresh database; nullopt when RELAY_TEST_PG is unset.
inline std::optional<std::string> fresh_db() {
  auto base = pg_base();
  if (!base) return std::nullopt;
  std::string name = unique_db_name();
  create_db(*base, name);
  return with_dbname(*base, name);
}

// For cases that cannot run without PostgreSQL: nullopt (and a recorded
// skip) when RELAY_TEST_PG is unset.
inline std::optional<std::string> need_db() {
  auto db = fresh_db();
  if (!db) skip("RELAY_TEST_PG unset: needs PostgreSQL");
  return db;
}

inline std::optional<std::string> need_pg_base() {
  auto base = pg_base();
  if (!base) skip("RELAY_TEST_PG unset: needs PostgreSQL");
  return base;
}

inline std::string scalar(const std::string& conninfo, const std::string& sql) {
  std::string err;
  auto c = dlog::PgConn::connect(conninfo, 5, &err);
  REQUIRE_MESSAGE(c, err);
  auto r = c.exec(sql.c_str());
  REQUIRE_MESSAGE(r.ok(), sql << ": " << r.error());
  return r.value(0, 0);
}

}  // namespace relay::test
