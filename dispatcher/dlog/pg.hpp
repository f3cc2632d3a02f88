// relay::dlog::PgConn / PgResult — owners of libpq handles (STYLE.md 8) and
// the few helpers the delivery log needs.
//
// Does: connects with a bounded timeout and TCP keepalives/tcp_user_timeout
// (a server whose packets are dropped is noticed within seconds, not after
// the kernel's 15-minute retransmission limit), runs parameterised
// statements, optionally with a client-side deadline (set_timeout_ms: a
// server or proxy that accepts the bytes but never answers does not stall
// the caller; the connection is then broken and healthy() false), reports
// errors as strings. Movable, not copyable.
// Does not: retry, reconnect, pool, or know any table. Not thread-safe: one
// connection belongs to one thread at a time.
// Fails: connect() returns an empty PgConn and fills *error; exec() returns
// a PgResult whose ok() is false and error() says why. Never throws.
#pragma once
#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::dlog {

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) noexcept : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  PGresult* get() const noexcept { return r_; }
  // True for PGRES_COMMAND_OK and PGRES_TUPLES_OK.
  bool ok() const noexcept;
  std::string error() const;       // "" when ok
  std::string sqlstate() const;    // e.g. "23505"; "" when unknown
  int rows() const noexcept;
  std::string value(int row, int col) const;  // "" for NULL
  bool is_null(int row, int col) const noexcept;

 private:
  PGresult* r_ = nullptr;
};

class PgConn {
 public:
  PgConn() = default;
  explicit PgConn(PGconn* c) noexcept : c_(c) {}
  PgConn(PgConn&& o) noexcept : c_(o.c_), timeout_ms_(o.timeout_ms_), broken_(o.broken_) { o.c_ = nullptr; }
  PgConn& operator=(PgConn&& o) noexcept;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;
  ~PgConn();

  // connect_timeout in seconds (libpq's minimum is 2). Empty PgConn on failure.
  static PgConn connect(const std::string& conninfo, std::int64_t connect_timeout, std::string* error);

  explicit operator bool() const noexcept { return c_ != nullptr; }
  PGconn* get() const noexcept { return c_; }
  // CONNECTION_OK and not known-broken (a statement ran past its deadline).
  bool healthy() const noexcept;
  // Client-side deadline for each exec() (0 = none, the default): past it the
  // statement's result is empty (error "timeout") and the connection broken.
  void set_timeout_ms(std::int64_t ms) noexcept { timeout_ms_ = ms; }

  PgResult exec(const char* sql) const;
  // Text parameters; std::nullopt is SQL NULL.
  PgResult exec(const char* sql, const std::vector<std::optional<std::string>>& params) const;

 private:
  PGresult* wait_result() const;  // after PQsend*: the last result, or nullptr past the deadline

  PGconn* c_ = nullptr;
  std::int64_t timeout_ms_ = 0;
  mutable bool broken_ = false;
};

// Text form of a PostgreSQL text[] literal: {"a","b\"c"}.
std::string pg_text_array(const std::vector<std::string>& items);
// ISO timestamp with time zone from unix microseconds: "2026-01-02 03:04:05.123456+00".
std::string pg_timestamp_us(std::int64_t unix_us);

}  // namespace relay::dlog
