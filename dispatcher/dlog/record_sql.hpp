// relay::dlog::write_records — the SQL that stores records.
//
// Does: writes a batch of records in one transaction. Every statement is
// idempotent, so a batch written twice (journal replay after a crash, or a
// COMMIT whose acknowledgement was lost) leaves the same rows:
//   attempts: INSERT ... ON CONFLICT DO NOTHING (unique attempts_once key);
//   messages: upsert that never moves a finished message back to 'queued'
//     and keeps the highest attempt count;
//   heartbeats / secret_status: upsert.
// Does not: connect, retry or journal (DeliveryLog does).
// Runs on: the calling thread; blocking.
// Fails: WriteStatus::Disconnected when the connection broke (nothing of the
// batch may be assumed stored); a record the server rejects while the
// connection is healthy (bad data) is skipped and counted in *rejected with
// its error logged, because retrying it could never succeed.
#pragma once
#include <span>
#include <string>

#include "dispatcher/dlog/records.hpp"

namespace relay::dlog {

class PgConn;

enum class WriteStatus { Ok, Disconnected };

WriteStatus write_records(const PgConn& conn, std::span<const Record> records, std::size_t* rejected,
                          std::string* error);

}  // namespace relay::dlog
