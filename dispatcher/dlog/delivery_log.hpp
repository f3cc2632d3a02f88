// relay::dlog::DeliveryLog — records message and attempt outcomes in
// PostgreSQL without ever blocking the caller's event loop.
//
// Does: owns one dedicated DB thread and a queue. post() hands records to
// the thread and returns at once. The thread writes queued records in one
// transaction per batch; when PostgreSQL is unreachable it appends them to
// the local Journal (fsync'd) instead, retries the connection with
// exponential backoff (1 s .. max_backoff), and once connected again
// replays the journal in order and truncates it, before any newer record is
// written (so rows arrive in the order they happened). It also replays
// journals left by other processes sharing the same file (checked every few
// seconds). It never migrates: on every new connection it checks that the
// database has every migration this binary embeds (check_schema). While one
// is missing the schema is Old: the connection is dropped, records go to
// the journal, an error names the missing migration and `relayctl db
// migrate`, and the check is repeated every schema_recheck_ms; the
// dispatcher claims nothing meanwhile (watch_schema), so mail stays queued.
// A record's `done` callback says whether it is durable (in the database or
// the journal); it is called on the DB thread, so the caller must hand it
// over to its own loop (the dispatcher uses a uv_async).
// When Options.maintenance is set, it also runs the Maintenance steps
// (retention, rollups, refusal import) between batches on its connection.
// Heartbeat and secret-status records are not journaled: dropped (done=true)
// while the database is down.
// Does not: touch the spool or libuv. relayctl may use the same records and
// write_records() directly without the thread.
// A statement that gets no answer within query_timeout_ms drops the
// connection (the records go to the journal); a TCP connection uses
// keepalives and tcp_user_timeout (pg.hpp), so stop() stays bounded too.
// Fails: connection failures are logged (with reason) and retried forever;
// done(false) only when neither the database nor the journal could take a
// record (disk full) — the caller decides.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dispatcher/dlog/journal.hpp"
#include "dispatcher/dlog/maintenance.hpp"
#include "dispatcher/dlog/records.hpp"

namespace relay::dlog {

class PgConn;

class DeliveryLog {
 public:
  using Done = std::function<void(bool durable)>;
  // What the last connection attempt found. Pending: none finished yet
  // (the first one starts with start()); Unreachable: no database (or none
  // configured), records are journaled; Old: migrations missing.
  enum class Schema { Pending, Unreachable, Current, Old };
  using SchemaWatch = std::function<void(Schema, const std::string& missing)>;

  struct Options {
    std::string conninfo;              // "" = no database: journal only
    std::int64_t connect_timeout = 5;  // seconds (set_connect_timeout() changes it later)
    // Client-side deadline of each statement: a server that stops answering
    // (dropped packets, a hung proxy) sends records to the journal after
    // this long instead of stalling every caller. Migrations get 60 s.
    std::int64_t query_timeout_ms = 10000;
    std::filesystem::path journal;     // required
    std::int64_t schema_recheck_ms = 5000;  // while the schema is Old
    std::int64_t max_backoff_ms = 30000;
    std::int64_t journal_check_ms = 5000;  // replay others' journal lines when connected
    // Retention, rollup folding and refusal import (maintenance.hpp), run
    // between batches while connected; nullopt = none (tests, relayctl).
    std::optional<Maintenance::Options> maintenance;
  };

  struct Stats {
    bool connected = false;
    std::uint64_t written = 0;    // records stored in the database directly
    std::uint64_t journaled = 0;  // records appended to the journal
    std::uint64_t replayed = 0;   // journal records replayed into the database
    std::uint64_t dropped = 0;    // rejected by the server or non-journaled during an outage
    std::size_t queued = 0;
    Schema schema = Schema::Pending;
    std::string schema_missing;  // "002_stats,003_x" while Old
  };

  explicit DeliveryLog(Options opt);
  DeliveryLog(const DeliveryLog&) = delete;
  DeliveryLog& operator=(const DeliveryLog&) = delete;
  ~DeliveryLog();  // stop()

  void start();
  // Thread-safe, never blocks on I/O.
  void post(Record r, Done done = {});
  void post(std::vector<Record> records, Done done = {});
  // Stops accepting, writes or journals what is queued, joins the thread.
  // Bounded: at most one connect attempt (connect_timeout) plus the writes.
  void stop();
  // Blocks until everything posted so far has been handled (tests, relayctl).
  void flush();
  Stats stats() const;
  // Registers fn, called on the DB thread whenever stats().schema changes,
  // and returns the state at registration (no change is missed in between).
  Schema watch_schema(SchemaWatch fn);
  // SIGHUP: database.connect_timeout for the next connection attempt.
  void set_connect_timeout(std::int64_t seconds) noexcept { connect_timeout_.store(seconds); }

 private:
  struct Item {
    std::vector<Record> records;
    Done done;
  };
  void run();
  void handle(std::vector<Item>& items, bool final_round);
  bool ensure_connected();
  bool schema_current(const PgConn& c, std::string* error);
  void set_schema(Schema s, const std::string& missing);
  bool replay_journal();
  bool write_db(std::span<const Record> records);
  void drop_connection(const std::string& reason);

  Options opt_;
  std::atomic<std::int64_t> connect_timeout_;
  Journal journal_;
  std::unique_ptr<PgConn> conn_;
  std::optional<Maintenance> maintenance_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool busy_ = false;
  Stats stats_;
  SchemaWatch schema_watch_;
  // DB-thread only
  std::int64_t next_connect_ms_ = 0;
  std::int64_t backoff_ms_ = 1000;
  std::int64_t next_journal_check_ms_ = 0;
  std::int64_t schema_logged_ms_ = -1;
  bool first_attempt_ = true;
};

}  // namespace relay::dlog
