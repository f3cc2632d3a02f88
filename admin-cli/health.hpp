// relay::admin health — the answer of GET /healthz on `relayctl run`'s
// admin endpoint: is this host receiving and delivering mail?
//
// Does: 200 "ok" (or "ok (delivery paused)" when the operator's pause
// marker exists); 503 with one line naming the first problem found, in this
// order: "draining" (relayctl run got SIGTERM and is stopping: a load
// balancer must send new clients elsewhere, docs/scale-out.md), the spool is not writable (a file cannot be created in tmp/, what
// the receiver does first for every message), the receiver is not running,
// no dispatcher is running, a provider is in a configuration-error state
// (credentials rejected, permission missing: dispatcher/config_alert.hpp;
// its own text follows).
// Does not: contact providers or PostgreSQL (a database outage is not
// unhealthy: the dispatchers journal; see relay_journal_backlog_records).
// Runs on: the admin endpoint's thread; spool_write_problem does file I/O.
// Fails: never.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "admin-cli/metrics_collect.hpp"

namespace relay::admin {

struct Health {
  int status = 200;
  std::string text;  // one line, no trailing newline
};

// "" when a file can be created (and removed) in <spool>/tmp, else why not:
// "tmp/: Permission denied".
std::string spool_write_problem(const std::filesystem::path& spool_dir);
// "" while the spool's filesystem has at least `min_free` bytes and 64
// inodes free for unprivileged writers (the receiver's own test,
// receiver.limits.min_free_space; 0 = no check), else what MAIL gets now:
// "spool short of space: 12 MB free, receiver.limits.min_free_space is 100
// MB (MAIL is answered 452 4.3.1)".
std::string spool_space_problem(const std::filesystem::path& spool_dir, std::uint64_t min_free);
Health evaluate_health(const Collected& c, const std::string& spool_problem, bool draining = false);

}  // namespace relay::admin
