// relay::dlog::Maintenance — keeps the delivery log small and its rollups
// current (issue 12 items 2 and 3; docs/delivery-log.md).
//
// Does, in bounded steps on the DeliveryLog's thread and connection:
//  - every dispatcher: imports the receiver's refusal summaries from
//    <spool>/refusals/ (spool/refusal_summary.hpp) into client_refusals,
//    one file per transaction, then deletes the file; an import is
//    idempotent (client_refusals.last_summary), so two dispatchers of one
//    host may both read a file; an unreadable file is renamed *.bad;
//  - one elected dispatcher (pg_try_advisory_lock, a session lock: it is
//    the leader until its connection ends, then another one takes over
//    within `interval`): folds rollup_delta into the hourly rollups, and
//    deletes rows older than `retention` from messages, recipients,
//    attempts, heartbeats and client_refusals (client_hourly: 31 days or
//    the retention, whichever is longer) in batches of `batch` rows, each
//    DELETE its own short transaction, so no lock is held for long; one
//    step stops after ~100 ms so records waiting to be written are not
//    held up; a round logs event=retention per table that lost rows.
// Does not: open connections, or decide when the thread is idle (the
// DeliveryLog calls step()).
// Runs on: the DeliveryLog thread; blocking libpq and file I/O.
// Fails: a failed statement is logged and the step ends; the next step
// retries. A broken connection: the DeliveryLog calls lost_connection().
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace relay::dlog {

class PgConn;

class Maintenance {
 public:
  struct Options {
    std::int64_t retention_s = 90 * 86400;
    std::int64_t batch = 1000;
    std::filesystem::path refusal_dir;  // "" = no refusal import
    std::string host;                   // this dispatcher's host name
    std::int64_t interval_ms = 60000;   // between leader rounds (and leader election tries)
    std::int64_t import_interval_ms = 5000;
    std::int64_t step_budget_ms = 100;
  };

  explicit Maintenance(Options opt) : opt_(std::move(opt)) {}

  void step(const PgConn& conn, std::int64_t now_ms);
  void lost_connection() noexcept;
  bool leader() const noexcept { return leader_; }

 private:
  void import_refusals(const PgConn& conn);
  bool import_one(const PgConn& conn, const std::filesystem::path& file);
  void try_lead(const PgConn& conn, std::int64_t now_ms);
  // One bounded piece of the leader's round; true when the round is done.
  bool round_step(const PgConn& conn, std::int64_t deadline_ms);
  bool fold(const PgConn& conn, std::int64_t deadline_ms);
  bool delete_batch(const PgConn& conn, std::int64_t* deleted);

  Options opt_;
  bool leader_ = false;
  std::int64_t next_lead_try_ms_ = 0;
  std::int64_t next_round_ms_ = 0;
  std::int64_t next_import_ms_ = 0;
  bool in_round_ = false;
  std::size_t table_ = 0;          // index into the retention table list
  std::int64_t round_us_ = 0;      // wall clock of the round's start (cut-offs)
  std::int64_t deleted_ = 0;       // current table, this round
  std::int64_t batches_ = 0;
};

}  // namespace relay::dlog
