// relay::provider::cloud::MailboxLimiter — per-mailbox (Graph) or per-user
// (Gmail) admission: at most N requests in flight per mailbox (Graph allows
// 4 per app and mailbox; Gmail answers 429 "too many concurrent requests"
// above its own per-user limit), at most R sends started per sliding minute
// (Exchange Online: ~30 a minute per mailbox; 0 = none), and nothing for a
// mailbox while a provider's Retry-After runs (slow_down). Adaptive (Gmail):
// a 429 halves the mailbox's cap (once per second at most) and keeps it
// below the cap that drew it for 5 minutes; every `cap` successes raise it
// by one, up to N.
//
// Waiting here must not hold the dispatcher's slots (dispatcher.max_in_flight
// serves every mailbox and provider): a request waits only while its
// expected wait is short (max_wait). When the mailbox is throttled or out of
// rate for longer, or its queue is longer than it drains within max_wait,
// the request is refused with the time the mailbox is expected to have room
// for it — spaced by the mailbox's pace (60 s / R, or the mean request time
// / cap), and when blocked by time each after the previous refusal, so
// refused requests do not all come back at once. The adapter
// then hands the message back unsent (held(): Result::held, deferred until
// then, not counted as an attempt).
//
// Does: FIFO per mailbox; pump(now) grants or refuses what it can and says
// when to look again. Time is passed in: unit-tested without a loop; the
// adapters drive pump() from a uv timer.
// Does not: limit across processes (SharedLimiter does, through
// PostgreSQL, and falls back to this one with each process's share of the
// limits); know about HTTP.
// Runs on: the loop thread; not thread-safe. Grants run inside
// acquire()/release()/pump(). Fails: nothing to fail.
#pragma once
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider::cloud {

class MailboxLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // busy_until == nullopt: go, and release() when done. Otherwise refused:
  // the mailbox is expected to have room at busy_until; no release().
  using Grant = std::function<void(std::optional<Clock::time_point> busy_until)>;

  MailboxLimiter(int max_concurrent, int rate_per_minute, bool adaptive = false,
                 Clock::duration max_wait = std::chrono::seconds(2));

  void acquire(const std::string& mailbox, Clock::time_point now, Grant grant);
  // ok: the request succeeded (adaptive: counts towards raising the cap).
  void release(const std::string& mailbox, Clock::time_point now, bool ok = true);
  // Nothing starts for `mailbox` before `until`; adaptive: also lowers its cap.
  void slow_down(const std::string& mailbox, Clock::time_point now, Clock::time_point until);
  // Nothing starts for `mailbox` before `until`; no adaptive effect (unlike slow_down).
  void hold_until(const std::string& mailbox, Clock::time_point until);
  // Grants or refuses everything it can now; returns when something may
  // next change by time alone (nullopt: only a release can help, or nothing waits).
  std::optional<Clock::time_point> pump(Clock::time_point now);
  // Counts a request granted elsewhere (by the database: SharedLimiter) as
  // in flight here, with no grant; release() it as usual.
  void adopt(const std::string& mailbox, Clock::time_point now);

  int in_flight(const std::string& mailbox) const;
  int cap(const std::string& mailbox) const;  // current in-flight cap
  std::size_t queued() const;

 private:
  struct Box {
    int in_flight = 0;
    int cap = 0;                            // <= max_concurrent_
    int ceiling = 0;                        // adaptive: cap stays below the one that drew a 429 ...
    Clock::time_point ceiling_until{};      // ... until then
    int successes = 0;                      // since the cap last grew
    Clock::time_point next_shrink{};
    std::deque<Clock::time_point> starts;   // rate window: starts within the last minute
    std::deque<Clock::time_point> running;  // start times of requests in flight (oldest first)
    std::deque<Grant> waiting;
    Clock::time_point slowed_until{};
    Clock::time_point reserved_until{};     // the last busy_until handed out
    Clock::duration mean = std::chrono::milliseconds(200);  // request time, moving average
  };
  Box& box(const std::string& mailbox);
  // When `b` may start one more; nullopt if only a release can help.
  std::optional<Clock::time_point> next_start(Box& b, Clock::time_point now) const;
  Clock::duration pace(const Box& b) const;
  void refuse_long_waits(Box& b, Clock::time_point now, std::optional<Clock::time_point> at,
                         std::vector<std::pair<Grant, Clock::time_point>>* refused);

  int max_concurrent_;
  int rate_;
  bool adaptive_;
  Clock::duration max_wait_;
  std::map<std::string, Box> boxes_;
};

// What an adapter returns for a refused request: Transient, held, with
// retry_after = the wait rounded up to whole seconds (at least 1).
Result held(std::string_view who, MailboxLimiter::Clock::duration wait);

}  // namespace relay::provider::cloud
