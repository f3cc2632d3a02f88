// relay::admin metrics collection — what one scrape of `relayctl run`'s
// admin endpoint knows, gathered from files only.
//
// Does: reads every process's metrics file in <spool>/run/metrics
// (common/metrics_publisher.hpp), sums counters over all slots (a dead
// process's last counts stay part of the total), takes gauges only from
// live slots (a live slot: its lock is held), derives process up/restarts
// from the slots; counts the spool's entries per state and the age of the
// oldest (from the time in its queue id: one readdir per bucket of each
// state (spool/layout.hpp; flat names of an unmigrated spool count too), no stat,
// at most kMaxEntriesPerState names read per state); counts the
// dispatchers' PostgreSQL journal lines (at most 64 MiB read, beyond that
// estimated from the file size); tests the pause marker
// <spool>/control/dispatch-paused.
// A metrics file that is unreadable, too large, lacks the header line or
// has malformed lines is skipped (whole or by line) and counted in
// bad_files/bad_lines: a corrupt file never breaks a scrape.
// Does not: write anything, talk to the processes or the database.
// Runs on: the admin endpoint's thread; blocking reads.
// Fails: never; what cannot be read is left out.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/metrics_text.hpp"

namespace relay::admin {

inline constexpr std::size_t kMaxEntriesPerState = 1000000;

struct CollectOptions {
  std::filesystem::path spool_dir;
  std::filesystem::path journal;  // dispatcher.journal
  int dispatchers = 1;            // slots 1..N are reported even when down
  std::int64_t now_ms = 0;        // 0 = the clock
};

struct SlotState {
  std::string role;  // "receiver" | "dispatcher"
  int index = 0;
  bool up = false;
};

struct QueueState {
  std::string state;
  std::size_t entries = 0;
  double oldest_age_seconds = 0;
};

struct Collected {
  std::map<std::string, metrics::Sample> counters;  // by series key, summed
  std::map<std::string, metrics::Sample> gauges;    // by series key, live slots only
  std::vector<SlotState> slots;
  std::map<std::string, double> restarts;           // role -> restarts
  std::vector<QueueState> queue;
  double journal_backlog = 0;
  bool paused = false;
  int bad_files = 0;
  int bad_lines = 0;
};

Collected collect(const CollectOptions& opt);
// Removes the files of slots no live process holds (relayctl run calls it
// before it starts its children: its counters start at 0, like any
// exporter's after a restart).
void clear_dead_slots(const std::filesystem::path& metrics_dir);

}  // namespace relay::admin
