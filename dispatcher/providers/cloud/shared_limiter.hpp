// relay::provider::cloud::SharedLimiter — per-mailbox (Graph) and per-user
// (Gmail) limits that hold for the whole cluster: every dispatcher process
// on every host that shares one PostgreSQL coordinates through it
// (schema/004_mailbox_limits.sql, docs/mailbox-limits.md).
//
// Concurrency: a request in flight holds one of N lease rows of its mailbox
// (mailbox_lease); leases are renewed every TTL/3 while held and expire
// after the TTL when their holder dies (kill -9, host lost). Rate: a
// sliding one-minute window of starts per mailbox, and a shared pause (a
// provider's Retry-After) that every host honours. Both are taken in one
// statement, relay_mailbox_step(), which also releases slots: requests for
// one mailbox that wait together, and slots given back together, share a
// statement. Without a rate limit a finished request hands its lease
// straight to the next local waiter (no statement at all). A release
// NOTIFYs relay_mailbox_free; waiters blocked by other hosts' leases ask
// again then (and every poll interval, for leases that only expire).
//
// Same interface as MailboxLimiter (the adapters swap one for the other),
// plus on_wake(): the limiter calls it when an answer from the database
// changed something, and the adapter pumps (kick) then.
// Waiting here holds no dispatcher slot: like MailboxLimiter, a request
// whose expected wait exceeds max_wait is refused with the time the
// mailbox is expected to have room (the adapter hands the message back
// unsent, Result::held).
//
// Fallback: with coordination "local", no database.conninfo, or while the
// database is unreachable (connect or statement failure or no answer
// within the deadline), it is a MailboxLimiter with this process's static
// share (limit / fallback_divisor). Other hosts' requests that the
// database granted are not visible then: for twice the mean request time
// (0.5 s .. TTL) after the switch nothing new starts. The switch logs event=limiter_fallback
// reason=... once; requests granted by the database keep counting against
// the share until they finish; leases held then simply expire. Every 5 s it
// reconnects; once the database answers it logs event=limiter_coordinated
// and coordinates again.
// Runs on: the loop thread; not thread-safe. Grants run inside
// acquire()/release()/pump() or a database callback. Fails: nothing
// escapes; a database problem means fallback.
#pragma once
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dispatcher/providers/cloud/mailbox_limiter.hpp"
#include "dispatcher/providers/cloud/pg_async.hpp"

namespace relay::provider::cloud {

struct SharedLimits {
  std::string conninfo;        // "" = local only (no database, or limits.coordination: local)
  std::string scope;           // key prefix in the tables: "m365", "gmail"
  std::string who;             // provider name, for logs
  int slots = 4;               // requests in flight per mailbox, cluster-wide
  int rate = 0;                // starts per minute per mailbox, cluster-wide (0 = none)
  bool adaptive = false;       // Gmail: 429s lower the cap (MailboxLimiter)
  int fallback_divisor = 1;    // dispatcher.processes x limits.hosts: the static share
  std::int64_t ttl_ms = 30000; // lease expiry (limits.lease_ttl)
};

// An adapter's limits from the process's configuration: database.conninfo
// unless limits.coordination is local (or there is no config or loop), the
// TTL, and the divisor dispatcher.processes x limits.hosts.
SharedLimits shared_limits(const Context& ctx, std::string scope, std::string who, int slots, int rate,
                           bool adaptive);

class SharedLimiter {
 public:
  using Clock = MailboxLimiter::Clock;
  using Grant = MailboxLimiter::Grant;

  SharedLimiter(uv_loop_t* loop, SharedLimits limits, Clock::duration max_wait = std::chrono::seconds(2));
  ~SharedLimiter();

  void acquire(const std::string& mailbox, Clock::time_point now, Grant grant);
  void release(const std::string& mailbox, Clock::time_point now, bool ok = true);
  void slow_down(const std::string& mailbox, Clock::time_point now, Clock::time_point until);
  std::optional<Clock::time_point> pump(Clock::time_point now);
  int cap(const std::string& mailbox) const;
  void on_wake(std::function<void()> f) { wake_ = std::move(f); }

  bool coordinated() const noexcept { return mode_ == Mode::Database; }
  std::uint64_t statements() const noexcept;            // database round trips so far
  std::uint64_t granted() const noexcept { return granted_; }  // requests started under the database's limits

 private:
  enum class Mode { Local, Database, Fallback };
  struct Waiter {
    Grant grant;
    Clock::time_point since;
  };
  struct Box {
    std::deque<Waiter> waiting;
    std::vector<int> busy;        // slots of requests in flight
    std::vector<int> spare;       // slots held, not yet handed to a waiter
    std::vector<int> to_release;  // given back with the next statement
    std::vector<int> releasing;   // in the statement in flight
    int pause_ms = 0;             // Retry-After to share with the next statement
    bool in_query = false;
    Clock::time_point retry_at{};     // the database said: no room before then (rate, pause)
    Clock::time_point poll_at{};      // blocked by other holders: ask again then (or on NOTIFY)
    Clock::time_point reserved_until{};
    Clock::duration mean = std::chrono::milliseconds(200);
    std::deque<Clock::time_point> running;
  };

  // shared_limiter_db.cpp: the statements.
  void schedule(const std::string& mailbox);
  void run_next();
  void step(const std::string& mailbox);
  void stepped(const std::string& mailbox, int want, const PgRows& r);
  void renew();
  void connected();
  void lost(const std::string& reason);
  void fall_back(const std::string& reason);
  void start_retry_timer();
  // shared_limiter.cpp
  void hand_out(const std::string& mailbox, Box& b, Clock::time_point now);
  void refuse_long_waits(const std::string& mailbox, Box& b, Clock::time_point now);
  Clock::duration pace(const Box& b) const;
  int slots_for(const std::string& mailbox) const;
  void changed();

  uv_loop_t* loop_;
  SharedLimits limits_;
  Clock::duration max_wait_;
  Mode mode_;
  MailboxLimiter local_;    // the static share: Local and Fallback modes
  MailboxLimiter caps_;     // Database mode: the adaptive cap per mailbox (no waiting in it)
  std::unique_ptr<AsyncPg> pg_;
  std::string holder_;      // host:pid:boot:nonce in mailbox_lease.holder
  std::map<std::string, Box> boxes_;
  std::set<std::string> dirty_;  // boxes with something to tell the database
  Clock::time_point renew_at_{};
  Clock::time_point quiet_until_{};  // fallback: the share waits for other hosts' requests until then
  std::string last_reason_;      // fallback reason last logged (logged once per change)
  uv_timer_t* retry_timer_ = nullptr;  // reconnect in Fallback; freed in its close callback
  std::function<void()> wake_;
  std::uint64_t granted_ = 0;
  std::uint64_t old_statements_ = 0;  // of connections since lost
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace relay::provider::cloud
