// See pg_async.hpp.
#include "dispatcher/providers/cloud/pg_async.hpp"

#include <libpq-fe.h>

#include "dispatcher/providers/post.hpp"

namespace relay::provider::cloud {
namespace {

void close_poll(uv_poll_t* p) {
  uv_poll_stop(p);
  uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
}

std::string trimmed(const char* s) {
  std::string e = s ? s : "";
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e.empty() ? "unknown error" : e;
}

}  // namespace

AsyncPg::AsyncPg(uv_loop_t* loop, std::string conninfo, std::int64_t deadline_ms, Notify notify, Lost lost)
    : loop_(loop), conninfo_(std::move(conninfo)), deadline_ms_(deadline_ms), notify_(std::move(notify)),
      lost_(std::move(lost)) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
}

AsyncPg::~AsyncPg() {
  if (poll_) close_poll(poll_);
  if (conn_) PQfinish(conn_);
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void AsyncPg::arm_deadline() {
  uv_timer_start(timer_, [](uv_timer_t* t) { static_cast<AsyncPg*>(t->data)->fail("no answer within the deadline"); },
                 static_cast<std::uint64_t>(deadline_ms_), 0);
}

void AsyncPg::connect(std::function<void()> ready) {
  if (state_ != State::Closed) return;
  // The keepalive settings come first so that the operator's conninfo
  // overrides them (the same defaults as the delivery log, dlog/pg.cpp).
  const std::string secs = std::to_string(std::max<std::int64_t>(2, (deadline_ms_ + 999) / 1000));
  const char* keys[] = {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "tcp_user_timeout", "dbname", "connect_timeout", "application_name", nullptr};
  const char* vals[] = {"1", "5", "2", "3", "10000", conninfo_.c_str(), secs.c_str(), "relay-limits", nullptr};
  conn_ = PQconnectStartParams(keys, vals, 1);
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) {
    const std::string why = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    state_ = State::Connecting;  // fail() reports only a started attempt
    return post(loop_, [this, alive = std::weak_ptr<int>(alive_), why] {  // never call back from inside connect()
      if (!alive.expired()) fail(why);
    });
  }
  state_ = State::Connecting;
  ready_ = std::move(ready);
  arm_deadline();
  watch(UV_WRITABLE);  // PQconnectPoll's contract: first wait until writable
}

void AsyncPg::watch(int events) {
  const int fd = PQsocket(conn_);
  if (fd < 0) return fail("no socket");
  if (poll_ && fd != fd_) {  // libpq moved to another socket (next host or address)
    close_poll(poll_);
    poll_ = nullptr;
  }
  if (!poll_) {
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop_, poll_, fd) != 0) {
      delete poll_;
      poll_ = nullptr;
      return fail("cannot watch the socket");
    }
    poll_->data = this;
    fd_ = fd;
  }
  uv_poll_start(poll_, events, [](uv_poll_t* p, int status, int ev) {
    auto* self = static_cast<AsyncPg*>(p->data);
    run_guarded([&] { self->on_poll(status, ev); }, "pg_async");
  });
}

void AsyncPg::on_poll(int status, int events) {
  if (status < 0) return fail(std::string("socket error: ") + uv_strerror(status));
  if (state_ == State::Connecting) return connect_step();
  if ((events & UV_WRITABLE) && flushing_) {
    const int r = PQflush(conn_);
    if (r < 0) return fail(trimmed(PQerrorMessage(conn_)));
    flushing_ = r == 1;
    if (!flushing_) watch(UV_READABLE);
  }
  if (events & UV_READABLE) read_input();
}

void AsyncPg::connect_step() {
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_READING: return watch(UV_READABLE);
    case PGRES_POLLING_WRITING: return watch(UV_WRITABLE);
    case PGRES_POLLING_OK: {
      uv_timer_stop(timer_);
      PQsetnonblocking(conn_, 1);
      state_ = State::Ready;
      watch(UV_READABLE);  // notifications, and a server that goes away
      auto ready = std::move(ready_);
      ready_ = nullptr;
      if (ready) ready();
      return;
    }
    default: return fail(trimmed(PQerrorMessage(conn_)));
  }
}

void AsyncPg::exec(const char* sql, const std::vector<std::string>& params, Done done) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  if (!PQsendQueryParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0)) {
    const std::string why = trimmed(PQerrorMessage(conn_));
    return post(loop_, [this, alive = std::weak_ptr<int>(alive_), why] {
      if (!alive.expired()) fail(why);
    });
  }
  ++statements_;
  done_ = std::move(done);
  rows_ = PgRows{true, "", {}};
  arm_deadline();
  const int r = PQflush(conn_);
  flushing_ = r == 1;
  watch(flushing_ ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

void AsyncPg::read_input() {
  if (!PQconsumeInput(conn_)) return fail(trimmed(PQerrorMessage(conn_)));
  while (PGnotify* n = PQnotifies(conn_)) {
    const std::string channel = n->relname, payload = n->extra;
    PQfreemem(n);
    if (notify_) notify_(channel, payload);
  }
  if (!done_) return;
  while (!PQisBusy(conn_)) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {  // the statement is complete
      uv_timer_stop(timer_);
      auto done = std::move(done_);
      done_ = nullptr;
      done(std::move(rows_));
      return;
    }
    const auto st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      for (int i = 0; i < PQntuples(r); ++i) {
        std::vector<std::string> row;
        for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
        rows_.rows.push_back(std::move(row));
      }
    } else if (rows_.ok) {
      rows_.ok = false;
      rows_.error = trimmed(PQresultErrorMessage(r));
    }
    PQclear(r);
  }
}

void AsyncPg::fail(const std::string& reason) {
  if (state_ == State::Closed) return;
  uv_timer_stop(timer_);
  if (poll_) close_poll(poll_);
  poll_ = nullptr;
  fd_ = -1;
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  state_ = State::Closed;
  flushing_ = false;
  ready_ = nullptr;
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(PgRows{false, reason, {}});
  if (lost_) lost_(reason);
}

}  // namespace relay::provider::cloud
