// relay::dispatch::Dispatcher — one relay-dispatcher process's work: claim
// spool entries, deliver them through providers, record every attempt,
// retry with backoff.
//
// Does, on one libuv loop:
//  - learns about new entries from uv_fs_event on each bucket of <spool>/new (instant) and
//    a periodic scan of new/ (scan_interval, fallback for missed events);
//  - keeps at most max_in_flight entries in work. Per entry: claim + GMime
//    inspection (uv threadpool) -> provider send (loop; Provider interface)
//    -> outcome applied to the envelope (outcome.hpp, RetryPolicy) -> attempt
//    and message records posted to the DeliveryLog; when they are durable
//    (database or journal) -> Claim::done/defer/fail (+ optional failure
//    notice and the RFC 3464 bounce to the envelope sender, bounce.hpp,
//    each enqueued as a new spool entry with a null sender) on the
//    threadpool. Spool calls are blocking file operations (rename, fsync):
//    all of them run on the uv threadpool, never on the loop (the
//    exceptions: an access(2) per inotify event on new/, to skip events of
//    entries already claimed away, and a stat(2) of the pause marker);
//  - a sweeper (Spool::sweep every sweep_interval) returns dead owners'
//    claims and due deferred entries to new/; a deferral due sooner than
//    that (Retry-After, a busy mailbox) gets a sweep at its due time;
//  - heartbeats row every heartbeat_interval, providers' secret_status()
//    every secret_interval;
//  - claims nothing until the DeliveryLog has a schema verdict, nor while
//    the database lacks a migration (DeliveryLog::Schema::Old): mail stays
//    in new/, nothing is bounced; claiming resumes once `relayctl db
//    migrate` has run (the DeliveryLog re-checks every few seconds). With no
//    database reachable it delivers and journals, as during an outage;
//  - operator pause (relayctl dispatch pause: the marker
//    <spool>/control/dispatch-paused, spool/control.hpp): while it exists no
//    new claim starts (checked before each claim on the threadpool, and
//    noticed through uv_fs_event on control/ plus a 1 s check); in-flight
//    deliveries, sweeps and heartbeats go on; removing it rescans new/ at
//    once. dispatcher_pause.cpp;
//  - SIGTERM/SIGINT: stop claiming, let in-flight deliveries finish for at
//    most drain_timeout; then an entry whose provider can cancel it before
//    any request started is released (Claim::release, back to new/); one
//    whose request may still be accepted is waited for in_flight_grace
//    longer (releasing it would send it twice), then released anyway
//    (event=drain_abandon possible_duplicate=true); close every handle,
//    then call on_stopped (main stops the loop). README.md "Stopping";
//  - SIGHUP: reload the config file; routing, retry, max_in_flight,
//    intervals, failure_notice_to, log.level, database.connect_timeout take
//    effect and the providers are rebuilt from the new file (set_provider_
//    factory): new deliveries use the new set, deliveries in flight finish
//    on the old one, which is destroyed once none is left. Anything invalid
//    is logged and the old settings and providers stay.
// Does not: own the loop or the DeliveryLog (main wires them).
// Runs on: the loop thread; not thread-safe.
// Fails: per entry, never for the process: an unparseable message fails
// permanently, a provider error is a Result. A spool write that fails (disk
// full) keeps the entry claimed with its progress in memory and is retried
// with backoff (1 s doubling to 60 s) until it succeeds, so a delivered
// recipient is never sent again; only at stop past drain_timeout +
// in_flight_grace is it given up (event=progress_lost, crash semantics). Log lines start with the queue id.
#pragma once
#include <uv.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/config.hpp"
#include "dispatcher/bounce.hpp"
#include "dispatcher/config_alert.hpp"
#include "dispatcher/dlog/delivery_log.hpp"
#include "dispatcher/providers/provider.hpp"
#include "dispatcher/retry_policy.hpp"
#include "dispatcher/router.hpp"
#include "dispatcher/secret_notice.hpp"
#include "dispatcher/uv_util.hpp"
#include "spool/spool.hpp"

namespace relay::dispatch {

// The reloadable part of the configuration.
struct Settings {
  int max_in_flight = 32;
  std::int64_t scan_interval = 30;        // seconds
  std::int64_t sweep_interval = 10;
  std::int64_t heartbeat_interval = 10;
  std::int64_t secret_interval = 300;
  std::int64_t drain_timeout = 30;        // SIGTERM: wait this long for in-flight deliveries
  std::int64_t in_flight_grace = 120;     // then this long more for requests the provider may accept
  std::int64_t orphan_grace = 3600;
  std::int64_t failed_keep = 7 * 86400;
  config::RetryConfig retry;
  Router router;
  std::string failure_notice_to;
  std::string hostname = "localhost";     // From: MAILER-DAEMON@hostname of notices
  std::string host_name;                  // in the log's host columns; "" = gethostname (cluster.host_name)
  // Secret-expiry notices (m365 expiry_notice_to), by provider name; From:
  // senders.default_sender so a Graph mailbox can send them.
  std::map<std::string, SecretNoticeConfig, std::less<>> secret_notices;
  std::string notice_from;
  // Bounces to the envelope sender (dispatcher.bounces, bounce.hpp). From:
  // already resolved (bounce_from, default_sender, postmaster@hostname).
  bool bounces = true;
  std::string bounce_from;
  // Per provider name: the DSN's Diagnostic-Code type and Remote-MTA.
  std::map<std::string, BounceSource, std::less<>> bounce_sources;

  static Settings from_config(const config::Config& cfg);
};

using ProviderMap = std::map<std::string, provider::Provider*, std::less<>>;

// The providers built from one configuration. `config` is what their
// provider::Context points at; kept alive as long as the set.
struct ProviderSet {
  std::shared_ptr<const config::Config> config;
  std::vector<std::unique_ptr<provider::Provider>> owned;  // empty when the caller owns them (tests)
  ProviderMap map;
};
// Builds every provider of a configuration; nullptr and *error when one
// cannot be built (dispatcher/provider_set.cpp has the real one).
using ProviderFactory =
    std::function<std::unique_ptr<ProviderSet>(std::shared_ptr<const config::Config>, std::string* error)>;

struct Counters {
  std::uint64_t claimed = 0, sent = 0, deferred = 0, failed = 0, released = 0, notices = 0, bounces = 0;
};

class Dispatcher {
 public:
  using ProviderMap = dispatch::ProviderMap;

  // Providers owned by the caller (not rebuilt on reload unless a factory is set).
  Dispatcher(uv_loop_t* loop, spool::Spool spool, ProviderMap providers, dlog::DeliveryLog& dlog,
             Settings settings);
  Dispatcher(uv_loop_t* loop, spool::Spool spool, std::unique_ptr<ProviderSet> providers, dlog::DeliveryLog& dlog,
             Settings settings);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;
  ~Dispatcher();

  // Validates routing against the providers; "" when fine, else why not.
  std::string check() const;
  // Starts watching and timers. install_signals: SIGTERM/SIGINT/SIGHUP.
  void start(bool install_signals);
  // Graceful stop (what SIGTERM does). on_stopped runs once all is closed.
  void shutdown();
  void set_on_stopped(std::function<void()> fn) { on_stopped_ = std::move(fn); }
  // Config file for SIGHUP; reload() is also callable directly.
  void set_config_file(std::filesystem::path file) { config_file_ = std::move(file); }
  bool reload(const config::Config& cfg, std::string* error);
  // reload() rebuilds the providers with it.
  void set_provider_factory(ProviderFactory f) { factory_ = std::move(f); }

  const Counters& counters() const noexcept { return counters_; }
  std::size_t in_flight() const noexcept { return jobs_.size(); }
  bool stopping() const noexcept { return stopping_; }
  bool paused() const noexcept { return paused_; }

 private:
  struct Job;
  // dispatcher.cpp: intake
  void watch_new();  // uv_fs_event on every bucket of new/
  void schedule_scan();
  void add_candidate(const std::string& id);
  void pump();
  void start_claim(const spool::QueueId& id);
  void on_schema(dlog::DeliveryLog::Schema s, const std::string& missing);
  void on_claimed(Job& job);
  // dispatcher_pause.cpp: the operator's pause marker
  void start_pause_watch();
  void check_pause();
  void set_paused(bool paused);
  // dispatcher_send.cpp: delivery
  void begin_attempt(Job& job);
  void send(Job& job, const std::string& provider_name, bool fallback);
  void on_sent(const std::string& id, std::uint64_t seq, provider::Result r);
  void on_held(Job& job, provider::Result r);
  void hold_unroutable(Job& job, const std::string& reason);  // no route carries it: to hold/
  void count_attempt(const std::string& provider, const char* outcome, std::int64_t duration_ms);  // metrics
  void publish_alert(const std::string& provider, bool raised, const std::string& reason);        // metrics
  void fail_unparseable(Job& job);
  void record_and_finish(Job& job);
  void finish(const std::string& id, bool durable);
  void on_finished(Job& job);
  bool retry_finish(Job& job);
  // bounce_hook.cpp: the DSN to the envelope sender of a failed entry
  bool wants_bounce(const Job& job) const;
  BounceContext bounce_context(const Job& job) const;
  void log_bounce(const Job& job);
  // Worker thread: queues the failure notice and the DSN (each once per
  // job), and only then moves the entry to failed/; a spool error leaves it
  // claimed in active/ for retry_finish (nothing generated is ever dropped).
  spool::Status fail_with_notices(Job& job, const std::string* notice_to, const std::string& notice_from,
                                  const std::string& hostname, const BounceContext* bounce,
                                  const std::string& headers);
  // dispatcher_timers.cpp: housekeeping, signals, shutdown
  void start_timers();
  void sweep();
  // A deferral due before the next regular sweep (a Retry-After of a few
  // seconds, a busy mailbox) gets a sweep at its own time: the provider,
  // not sweep_interval, decides when it is retried.
  void wake_at(std::int64_t due_s);
  void arm_wake();
  void heartbeat();
  // only_changed: just the providers whose status differs from the last
  // report (checked with every heartbeat, so a date learnt from Graph shows
  // within heartbeat_interval instead of secret_interval).
  void report_secrets(bool only_changed = false);
  void secret_notice(const std::string& provider, const provider::SecretStatus& s);  // secret_notice_hook.cpp
  void config_notice(const std::string& provider, const std::string& reason);  // config_notice_hook.cpp
  void queue_notice(const char* event, const std::string& provider, const std::string& key, const std::string& to,
                    const std::string& text);  // secret_notice_hook.cpp
  void retry_notices();  // secret_notice_hook.cpp: from sweep(), the notices whose spool write failed
  void on_signal(int signum);              // dispatcher_reload.cpp
  void retire(std::unique_ptr<ProviderSet> set);
  void collect_retired();
  void drain_tick();
  void release_sending(bool hard);
  void close_all();

  uv_loop_t* loop_;
  spool::Spool spool_;
  std::unique_ptr<ProviderSet> providers_;              // the current set
  std::vector<std::unique_ptr<ProviderSet>> retired_;   // older sets with deliveries in flight
  ProviderFactory factory_;
  dlog::DeliveryLog& dlog_;
  Settings settings_;
  RetryPolicy policy_;
  LoopPoster poster_;
  std::filesystem::path config_file_;
  std::function<void()> on_stopped_;

  std::map<std::string, std::unique_ptr<Job>, std::less<>> jobs_;  // by queue id
  std::deque<std::string> candidates_;
  std::set<std::string, std::less<>> candidate_set_;
  Counters counters_;
  ConfigAlerts config_alerts_;  // one provider_config_error log line per state change
  std::uint64_t send_seq_ = 0;
  int background_work_ = 0;  // scans and sweeps on the threadpool
  bool scan_running_ = false;
  bool scan_again_ = false;  // a scan was asked for while one ran (e.g. resume)
  bool paused_ = false;      // the pause marker was seen; no new claims
  bool sweep_running_ = false;
  bool sweep_again_ = false;             // a wake-up came while a sweep ran
  std::set<std::int64_t> wake_times_;    // unix seconds of short deferrals (wake_at), earliest first
  struct PendingNotice {  // a secret/config notice the spool refused (ENOSPC, EACCES): tried again
    std::string event, provider, to, text;
    std::uint64_t due_ms = 0, delay_ms = 0;  // loop time of the next try; 0 due = being tried
  };
  std::map<std::string, PendingNotice, std::less<>> notice_retry_;  // by once-only key
  bool stopping_ = false;
  bool schema_hold_ = true;  // see on_schema
  bool closed_ = false;
  std::int64_t started_us_ = 0;
  std::uint64_t drain_deadline_ms_ = 0;
  std::uint64_t hard_deadline_ms_ = 0;
  std::string host_;
  std::map<std::string, std::string, std::less<>> secret_reported_;  // provider -> last reported status

  std::vector<UvHandle<uv_fs_event_t>> watches_;  // one per bucket of new/ (spool watch_dirs)
  UvHandle<uv_fs_event_t> control_watch_;
  UvHandle<uv_timer_t> scan_timer_, sweep_timer_, heartbeat_timer_, secret_timer_, drain_timer_, wake_timer_, pause_timer_;
  UvHandle<uv_signal_t> sigterm_, sigint_, sighup_;
};

}  // namespace relay::dispatch
