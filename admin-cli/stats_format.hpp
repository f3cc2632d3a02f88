// relay::admin::Stats — what `relayctl stats` reports and how it is printed
// (text and --json). Pure: filled by cmd_stats.cpp, unit-tested here.
#pragma once
#include <cstdint>
#include <map>
#include <vector>
#include <optional>
#include <string>

namespace relay::admin {

struct Stats {
  // From PostgreSQL (have_db false when it could not be read).
  bool have_db = false;
  std::optional<std::int64_t> uptime_s;  // since the longest-running live process started (heartbeat < 60 s old)
  int live_processes = 0;
  std::int64_t sent = 0, failed = 0, partial = 0, queued_db = 0;
  std::int64_t sent_24h = 0, failed_24h = 0;
  std::int64_t attempts_24h = 0, errors_24h = 0;  // attempts that were not "sent"
  std::int64_t attempts_all = 0, errors_all = 0;
  struct LastError {
    std::string time, queue_id, provider, outcome, text;
  };
  std::optional<LastError> last_error;
  // Credential expiry per provider (secret_status, kept by the dispatchers).
  struct Secret {
    std::string provider, state, expires, detail;
  };
  std::vector<Secret> secrets;
  // Per host (docs/scale-out.md): delivery figures by the host column of
  // the rollups; `--host` restricts every database figure to one host.
  struct Host {
    std::string host;
    std::int64_t sent = 0, failed = 0, sent_24h = 0, failed_24h = 0;
  };
  std::vector<Host> hosts;
  std::string host_filter;  // "" = all hosts
  std::string local_host;   // whose spool the queue figures are
  // From the spool (have_spool false when it could not be opened).
  bool have_spool = false;
  std::map<std::string, std::size_t> queue;  // state -> entries
  std::size_t queued = 0;                   // new + active + deferred + hold
  std::optional<std::int64_t> oldest_age_s;
};

// "2.50% (1 of 40 attempts)"; "-" when there were none.
std::string format_rate(std::int64_t errors, std::int64_t attempts);
std::string format_stats_text(const Stats& s);
std::string format_stats_json(const Stats& s);

}  // namespace relay::admin
