// relay::admin::HostHeartbeat (see host_heartbeat.hpp).
#include "admin-cli/host_heartbeat.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "common/log.hpp"
#include "dispatcher/dlog/migrate.hpp"
#include "dispatcher/dlog/pg.hpp"

#ifndef RELAY_VERSION
#define RELAY_VERSION "unknown"
#endif

namespace relay::admin {
namespace {

constexpr const char* kUpsertSql =
    "INSERT INTO hosts (host, version, schema_version, state, pid, started_at, seen_at, interval_s, queue,"
    " oldest_queued_s, paused) VALUES ($1, $2, $3, $4, $5, to_timestamp($6::double precision / 1000), now(), $7,"
    " $8::jsonb, $9, $10) ON CONFLICT (host) DO UPDATE SET version = EXCLUDED.version,"
    " schema_version = EXCLUDED.schema_version, state = EXCLUDED.state, pid = EXCLUDED.pid,"
    " started_at = EXCLUDED.started_at, seen_at = EXCLUDED.seen_at, interval_s = EXCLUDED.interval_s,"
    " queue = EXCLUDED.queue, oldest_queued_s = EXCLUDED.oldest_queued_s, paused = EXCLUDED.paused";

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int embedded_schema_version() {
  auto all = dlog::embedded_migrations();
  return all.empty() ? 0 : all.back().version;
}

}  // namespace

struct HostHeartbeat::Db {
  dlog::PgConn conn;
};

std::unique_ptr<HostHeartbeat> HostHeartbeat::start(Options opt) {
  if (opt.conninfo.empty()) return nullptr;
  std::unique_ptr<HostHeartbeat> h(new HostHeartbeat(std::move(opt)));
  // The thread inherits the signal mask: with every signal blocked there,
  // SIGTERM/SIGHUP reach the supervisor's signalfd, never this thread
  // (whose default action would end the whole process without a drain).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  h->thread_ = std::thread([p = h.get()] { p->run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return h;
}

HostHeartbeat::HostHeartbeat(Options opt) : opt_(std::move(opt)), started_ms_(wall_ms()), db_(std::make_unique<Db>()) {}

HostHeartbeat::~HostHeartbeat() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HostHeartbeat::set_state(const std::string& state) {
  {
    std::lock_guard lk(mu_);
    state_ = state;
    state_changed_ = true;
  }
  cv_.notify_all();
}

void HostHeartbeat::run() {
  std::string state;
  for (bool last = false; !last;) {
    {
      std::lock_guard lk(mu_);
      state = stopping_ ? "stopped" : state_;
      last = stopping_;
      state_changed_ = false;
    }
    beat(state);
    std::unique_lock lk(mu_);
    if (!last)
      cv_.wait_for(lk, std::chrono::seconds(opt_.interval_s), [&] { return stopping_ || state_changed_; });
  }
}

// One upsert; reconnects first when needed. Errors are logged once per
// distinct reason, so a long outage is one line, not one per interval.
bool HostHeartbeat::beat(const std::string& state) {
  Collected c = collect(opt_.collect);
  std::string queue = "{";
  std::optional<std::int64_t> oldest;
  for (const auto& q : c.queue) {
    queue += fmt::format("{}\"{}\":{}", queue.size() > 1 ? "," : "", q.state, q.entries);
    bool queued = q.state == "new" || q.state == "active" || q.state == "deferred" || q.state == "hold";
    if (queued && q.entries > 0) oldest = std::max<std::int64_t>(oldest.value_or(0), std::int64_t(q.oldest_age_seconds));
  }
  queue += "}";
  std::string error;
  if (!db_->conn || !db_->conn.healthy()) {
    db_->conn = dlog::PgConn::connect(opt_.conninfo, opt_.connect_timeout, &error);
    if (db_->conn) db_->conn.set_timeout_ms(10000);
  }
  if (db_->conn) {
    dlog::PgResult r = db_->conn.exec(
        kUpsertSql, {opt_.host, std::string(RELAY_VERSION), std::to_string(embedded_schema_version()), state,
                     std::to_string(::getpid()), std::to_string(started_ms_), std::to_string(opt_.interval_s), queue,
                     oldest ? std::optional<std::string>(std::to_string(*oldest)) : std::nullopt,
                     c.paused ? "true" : "false"});
    if (r.ok()) {
      if (!last_error_.empty()) log::info("supervisor event=host_heartbeat_ok host={}", log::quote(opt_.host));
      last_error_.clear();
      return true;
    }
    error = r.error();
    if (r.sqlstate() == "42P01") error += " (run `relayctl db migrate`)";
  }
  if (error != last_error_)
    log::warn("supervisor event=host_heartbeat_failed host={} reason={}", log::quote(opt_.host), log::quote(error));
  last_error_ = error;
  return false;
}

}  // namespace relay::admin
