// relay::dlog::Journal — the local append-only file that holds delivery-log
// records while PostgreSQL is unreachable (default <spool>/journal).
//
// Does: appends records as one line each (JSON with a sequence number),
// fsync'd before append() returns; replays them in file order to a sink and
// truncates the file once the sink took all of them. Several dispatcher
// processes share one journal: every append and every replay holds
// flock(LOCK_EX) on the file, so a replay never truncates a line it did not
// read. Sequence numbers increase by one per line within one file
// generation (they restart at 1 after a truncation).
// Does not: talk to the database (the sink does) or decide when to replay.
// Runs on: the calling thread; blocking file I/O (the DeliveryLog thread).
// Fails: append/replay return false with *error (ENOSPC, EACCES); a torn
// or unreadable line (a crash in the middle of a write) is skipped with a
// warning and counted, never blocks the rest.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dispatcher/dlog/records.hpp"

namespace relay::dlog {

class Journal {
 public:
  explicit Journal(std::filesystem::path path) : path_(std::move(path)) {}

  const std::filesystem::path& path() const noexcept { return path_; }

  // Appends every journaled() record of `records` (others are ignored).
  bool append(std::span<const Record> records, std::string* error);
  // True when the file is missing or empty (cheap: one stat).
  bool empty() const;

  // Takes the records in chunks, in order; returns false to stop (the file
  // is then kept whole for a later replay; the sink must be idempotent).
  using Sink = std::function<bool(std::span<const Record>)>;
  struct ReplayResult {
    bool ok = false;             // sink took everything and the file was truncated
    std::size_t replayed = 0;    // records handed to the sink
    std::size_t bad_lines = 0;   // torn/unreadable lines skipped
    std::string error;
  };
  ReplayResult replay(const Sink& sink, std::size_t chunk = 500);

  // Every readable entry, for tests and `relayctl`.
  std::vector<JournalEntry> read_all(std::size_t* bad_lines = nullptr) const;

 private:
  std::filesystem::path path_;
};

}  // namespace relay::dlog
