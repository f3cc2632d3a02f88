// See pg.hpp.
#include "dispatcher/dlog/pg.hpp"

#include <fmt/format.h>

#include <poll.h>

#include <chrono>
#include <ctime>

namespace relay::dlog {

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (r_) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

PgResult::~PgResult() {
  if (r_) PQclear(r_);
}

bool PgResult::ok() const noexcept {
  if (!r_) return false;
  auto st = PQresultStatus(r_);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

std::string PgResult::error() const {
  if (!r_) return "no result (connection lost or no answer within the deadline)";
  if (ok()) return "";
  std::string e = PQresultErrorMessage(r_);
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e.empty() ? std::string(PQresStatus(PQresultStatus(r_))) : e;
}

std::string PgResult::sqlstate() const {
  if (!r_) return "";
  const char* s = PQresultErrorField(r_, PG_DIAG_SQLSTATE);
  return s ? s : "";
}

int PgResult::rows() const noexcept { return r_ ? PQntuples(r_) : 0; }

std::string PgResult::value(int row, int col) const {
  if (!r_ || row >= PQntuples(r_) || col >= PQnfields(r_) || PQgetisnull(r_, row, col)) return "";
  return PQgetvalue(r_, row, col);
}

bool PgResult::is_null(int row, int col) const noexcept {
  return !r_ || PQgetisnull(r_, row, col);
}

PgConn& PgConn::operator=(PgConn&& o) noexcept {
  if (this != &o) {
    if (c_) PQfinish(c_);
    c_ = o.c_;
    timeout_ms_ = o.timeout_ms_;
    broken_ = o.broken_;
    o.c_ = nullptr;
  }
  return *this;
}

PgConn::~PgConn() {
  if (c_) PQfinish(c_);
}

PgConn PgConn::connect(const std::string& conninfo, std::int64_t connect_timeout, std::string* error) {
  if (connect_timeout < 2) connect_timeout = 2;
  std::string timeout = std::to_string(connect_timeout);
  // expand_dbname=1: `conninfo` may itself be a conninfo string or URL; the
  // keepalive defaults come first so that the operator's conninfo overrides
  // them. Over TCP a dead peer (packets dropped, no RST) is noticed after
  // ~5+2*3 s idle or 10 s of unacknowledged data (ignored on unix sockets).
  const char* keys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "tcp_user_timeout", "dbname", "connect_timeout", "application_name", nullptr};
  const char* vals[] = {"1", "5", "2", "3", "10000", conninfo.c_str(), timeout.c_str(), "relay", nullptr};
  PGconn* c = PQconnectdbParams(keys, vals, 1);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    if (error) {
      std::string e = c ? PQerrorMessage(c) : "out of memory";
      while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
      for (auto& ch : e)
        if (ch == '\n') ch = ' ';
      *error = e;
    }
    if (c) PQfinish(c);
    return PgConn();
  }
  // Statements of the delivery log are short; never let one hang forever.
  PgResult r(PQexec(c, "SET statement_timeout = '30s'; SET client_min_messages = warning"));
  return PgConn(c);
}

bool PgConn::healthy() const noexcept { return c_ && !broken_ && PQstatus(c_) == CONNECTION_OK; }

PGresult* PgConn::wait_result() const {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
  PGresult* last = nullptr;
  for (;;) {
    while (PQisBusy(c_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{PQsocket(c_), POLLIN, 0};
      if (left <= 0 || (::poll(&p, 1, static_cast<int>(left)) == 0)) {
        broken_ = true;  // the server (or the path to it) stopped answering: give up on this connection
        if (last) PQclear(last);
        return nullptr;
      }
      if (!PQconsumeInput(c_)) break;  // connection lost: PQgetResult reports it
    }
    PGresult* r = PQgetResult(c_);
    if (!r) return last;
    if (last) PQclear(last);
    last = r;
    if (PQstatus(c_) == CONNECTION_BAD) return last;
  }
}

PgResult PgConn::exec(const char* sql) const {
  if (!c_ || broken_) return PgResult();
  if (timeout_ms_ <= 0) return PgResult(PQexec(c_, sql));
  if (!PQsendQuery(c_, sql)) return PgResult(PQmakeEmptyPGresult(c_, PGRES_FATAL_ERROR));
  return PgResult(wait_result());
}

PgResult PgConn::exec(const char* sql, const std::vector<std::optional<std::string>>& params) const {
  if (!c_ || broken_) return PgResult();
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const int n = static_cast<int>(values.size());
  if (timeout_ms_ <= 0) return PgResult(PQexecParams(c_, sql, n, nullptr, values.data(), nullptr, nullptr, 0));
  if (!PQsendQueryParams(c_, sql, n, nullptr, values.data(), nullptr, nullptr, 0))
    return PgResult(PQmakeEmptyPGresult(c_, PGRES_FATAL_ERROR));
  return PgResult(wait_result());
}

std::string pg_text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string pg_timestamp_us(std::int64_t unix_us) {
  std::time_t secs = static_cast<std::time_t>(unix_us / 1000000);
  long frac = static_cast<long>(unix_us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

}  // namespace relay::dlog
