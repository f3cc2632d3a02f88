// See delivery_log.hpp.
#include "dispatcher/dlog/delivery_log.hpp"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <utility>

#include "common/log.hpp"
#include "dispatcher/dlog/migrate.hpp"
#include "dispatcher/dlog/pg.hpp"
#include "dispatcher/dlog/record_sql.hpp"

namespace relay::dlog {
namespace {

constexpr std::size_t kMaxBatch = 1000;

std::int64_t mono_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// A login the server refused for a reason only the operator can fix: libpq
// carries the server's FATAL text ("password authentication failed", "role
// ... does not exist", "no pg_hba.conf entry", "permission denied for
// database") or its own ("fe_sendauth: no password supplied"). Passing
// states ("the database system is starting up / shutting down", "too many
// clients") and unreachable servers are not matched. A server whose
// lc_messages is not English is not matched either: event=db_unavailable.
bool server_refused_login(std::string_view error) {
  for (std::string_view needle : {"authentication failed", "does not exist", "pg_hba.conf", "permission denied",
                                  "no password supplied"}) {
    if (error.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

DeliveryLog::DeliveryLog(Options opt)
    : opt_(std::move(opt)), connect_timeout_(opt_.connect_timeout), journal_(opt_.journal) {
  if (opt_.conninfo.empty()) stats_.schema = Schema::Unreachable;
  if (opt_.maintenance) maintenance_.emplace(*opt_.maintenance);
}

DeliveryLog::Schema DeliveryLog::watch_schema(SchemaWatch fn) {
  std::lock_guard lk(mu_);
  schema_watch_ = std::move(fn);
  return stats_.schema;
}

void DeliveryLog::set_schema(Schema s, const std::string& missing) {
  SchemaWatch fn;
  {
    std::lock_guard lk(mu_);
    if (stats_.schema == s && stats_.schema_missing == missing) return;
    stats_.schema = s;
    stats_.schema_missing = missing;
    fn = schema_watch_;
  }
  if (fn) fn(s, missing);
}

DeliveryLog::~DeliveryLog() { stop(); }

void DeliveryLog::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void DeliveryLog::post(Record r, Done done) {
  std::vector<Record> v;
  v.push_back(std::move(r));
  post(std::move(v), std::move(done));
}

void DeliveryLog::post(std::vector<Record> records, Done done) {
  {
    std::lock_guard lk(mu_);
    queue_.push_back(Item{std::move(records), std::move(done)});
    stats_.queued = queue_.size();
  }
  cv_.notify_one();
}

void DeliveryLog::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Nothing posted after stop() may be lost: journal it on this thread.
  std::vector<Item> rest;
  {
    std::lock_guard lk(mu_);
    while (!queue_.empty()) {
      rest.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  if (!rest.empty()) handle(rest, true);
}

void DeliveryLog::flush() {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] { return (queue_.empty() && !busy_) || !thread_.joinable(); });
}

DeliveryLog::Stats DeliveryLog::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void DeliveryLog::run() {
  // The schema verdict comes first: the dispatcher claims nothing before it.
  if (std::exchange(first_attempt_, false)) ensure_connected();
  for (;;) {
    std::vector<Item> items;
    bool stopping = false;
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(500), [&] { return stopping_ || !queue_.empty(); });
      std::size_t n = 0;
      while (!queue_.empty() && n < kMaxBatch) {
        n += queue_.front().records.size();
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stats_.queued = queue_.size();
      stopping = stopping_;
      busy_ = true;
    }
    if (!items.empty()) {
      handle(items, stopping);
    } else if (!stopping) {
      // Idle: retry the connection while a journal waits, and pick up lines
      // other processes journaled.
      bool journal_waiting = !journal_.empty();
      std::int64_t now = mono_ms();
      if (journal_waiting && now >= next_journal_check_ms_ && ensure_connected()) {
        next_journal_check_ms_ = now + opt_.journal_check_ms;
        replay_journal();
      } else if (!journal_waiting && stats().schema == Schema::Old) {
        ensure_connected();  // re-check: `relayctl db migrate` may have run
      }
    }
    if (!stopping && maintenance_ && conn_ && conn_->healthy()) maintenance_->step(*conn_, mono_ms());
    std::lock_guard lk(mu_);
    busy_ = false;
    idle_cv_.notify_all();
    if (stopping && queue_.empty()) break;
  }
}

void DeliveryLog::handle(std::vector<Item>& items, bool /*final_round*/) {
  std::vector<Record> records;
  std::vector<bool> needs_journal;
  for (auto& it : items) {
    bool any = false;
    for (auto& r : it.records) {
      any = any || journaled(r);
      records.push_back(std::move(r));
    }
    needs_journal.push_back(any);
  }
  bool stored = false;
  if (ensure_connected() && (journal_.empty() || replay_journal())) stored = write_db(records);
  bool durable = true;
  std::size_t journaled_n = 0, dropped_n = 0;
  if (stored) {
    std::lock_guard lk(mu_);
    stats_.written += records.size();
  } else {
    for (const auto& r : records) (journaled(r) ? journaled_n : dropped_n)++;
    std::string error;
    if (journaled_n && !journal_.append(records, &error)) {
      durable = false;
      log::error("- event=journal_failed records={} path={} reason={}", journaled_n, journal_.path().string(),
                 log::quote(error));
      for (const auto& r : records)
        if (journaled(r)) log::error("{} event=record_lost kind={}", record_id(r), kind_name(r));
    }
    std::lock_guard lk(mu_);
    stats_.journaled += durable ? journaled_n : 0;
    stats_.dropped += dropped_n;
  }
  for (std::size_t i = 0; i < items.size(); ++i)
    if (items[i].done) items[i].done(durable || !needs_journal[i]);
}

bool DeliveryLog::ensure_connected() {
  if (conn_ && conn_->healthy()) return true;
  if (opt_.conninfo.empty()) return false;
  std::int64_t now = mono_ms();
  if (now < next_connect_ms_) return false;
  if (maintenance_) maintenance_->lost_connection();  // a new session: the leader lock is gone
  std::string error;
  PgConn c = PgConn::connect(opt_.conninfo, connect_timeout_.load(), &error);
  if (c) c.set_timeout_ms(opt_.query_timeout_ms);
  if (c && !schema_current(c, &error)) c = PgConn();
  if (!c) {
    if (stats().schema == Schema::Old) {  // only a successful check clears it
      next_connect_ms_ = mono_ms() + opt_.schema_recheck_ms;
      return false;
    }
    next_connect_ms_ = mono_ms() + backoff_ms_;
    if (server_refused_login(error)) {
      // The server answered and said no (wrong password, unknown role or
      // database, pg_hba.conf): waiting will not fix it, an operator must.
      log::error("- event=db_login_refused retry_in_ms={} action=\"fix database.conninfo (user, password, dbname) or "
                 "the server's pg_hba.conf, then restart relay\" reason={}",
                 backoff_ms_, log::quote(error));
    } else {
      log::warn("- event=db_unavailable retry_in_ms={} reason={}", backoff_ms_, log::quote(error));
    }
    backoff_ms_ = std::min(backoff_ms_ * 2, opt_.max_backoff_ms);
    set_schema(Schema::Unreachable, "");
    return false;
  }
  // The server gives up on a statement before this side does.
  auto st = std::to_string(std::max<std::int64_t>(1000, opt_.query_timeout_ms - 2000));
  if (PgResult r = c.exec(("SET statement_timeout = " + st).c_str()); !r.ok())
    log::warn("- event=db_setting_failed setting=statement_timeout reason={}", log::quote(r.error()));
  conn_ = std::make_unique<PgConn>(std::move(c));
  backoff_ms_ = 1000;
  log::info("- event=db_connected");
  {
    std::lock_guard lk(mu_);
    stats_.connected = true;
  }
  set_schema(Schema::Current, "");
  return true;
}

// Daemons never migrate (their role may lack DDL rights, and a migration
// must not run under a 10 s statement deadline): they refuse an old schema
// loudly, at most once a minute, and keep checking.
bool DeliveryLog::schema_current(const PgConn& c, std::string* error) {
  SchemaCheck sc = check_schema(c);
  if (!sc.ok) {
    *error = "schema check: " + sc.error;
    return false;
  }
  if (sc.missing.empty()) return true;
  std::string missing;
  for (const auto& m : sc.missing) missing += (missing.empty() ? "" : ",") + m;
  *error = "schema lacks " + missing;
  const std::int64_t now = mono_ms();
  if (schema_logged_ms_ < 0 || now - schema_logged_ms_ >= 60000 || stats().schema_missing != missing) {
    schema_logged_ms_ = now;
    log::error("- event=db_schema_old missing={} action=\"run relayctl db migrate\" reason={}", missing,
               log::quote("the database lacks migration " + sc.missing.front() +
                          "; records are journaled and no mail is claimed until `relayctl db migrate` has run"));
  }
  set_schema(Schema::Old, missing);
  return false;
}

bool DeliveryLog::replay_journal() {
  auto res = journal_.replay([&](std::span<const Record> recs) { return write_db(recs); });
  if (res.replayed || res.bad_lines || !res.ok)
    log::info("- event=journal_replay ok={} records={} bad_lines={}{}", res.ok, res.replayed, res.bad_lines,
              res.ok ? "" : " reason=" + log::quote(res.error));
  if (res.ok) {
    std::lock_guard lk(mu_);
    stats_.replayed += res.replayed;
  }
  return res.ok;
}

bool DeliveryLog::write_db(std::span<const Record> records) {
  if (!conn_) return false;
  std::size_t rejected = 0;
  std::string error;
  if (write_records(*conn_, records, &rejected, &error) == WriteStatus::Disconnected) {
    drop_connection(error);
    return false;
  }
  if (rejected) {
    std::lock_guard lk(mu_);
    stats_.dropped += rejected;
  }
  return true;
}

void DeliveryLog::drop_connection(const std::string& reason) {
  log::warn("- event=db_lost reason={}", log::quote(reason));
  conn_.reset();
  if (maintenance_) maintenance_->lost_connection();
  next_connect_ms_ = mono_ms() + backoff_ms_;
  std::lock_guard lk(mu_);
  stats_.connected = false;
}

}  // namespace relay::dlog
