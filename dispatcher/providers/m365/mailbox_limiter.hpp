// relay::provider::m365::MailboxLimiter — per-mailbox admission for Graph:
// at most N requests in flight per mailbox (Graph allows 4 concurrent
// requests per app and mailbox), at most R sends started per sliding minute
// (Exchange Online: ~30 messages a minute per mailbox), and nothing at all
// for a mailbox while a Retry-After from Graph runs (slow_down).
//
// Does: queues acquire() requests per mailbox (FIFO) and grants them when
// allowed; pump(now) grants what has become allowed and says when to look
// again. Time is passed in, so the logic is unit-tested without a loop; the
// provider drives pump() from a uv timer.
// Does not: limit across processes (the design leaves cluster-wide limits to
// PostgreSQL later); know about HTTP.
// Runs on: the loop thread; not thread-safe. Grants run inside
// acquire()/release()/pump().
// Fails: nothing to fail.
#pragma once
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace relay::provider::m365 {

class MailboxLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using Grant = std::function<void()>;

  MailboxLimiter(int max_concurrent, int rate_per_minute);

  void acquire(const std::string& mailbox, Clock::time_point now, Grant grant);
  void release(const std::string& mailbox, Clock::time_point now);
  void slow_down(const std::string& mailbox, Clock::time_point until);
  // Grants everything now allowed; returns when something may next become
  // allowed by time alone (nullopt: only a release can help, or nothing waits).
  std::optional<Clock::time_point> pump(Clock::time_point now);

  int in_flight(const std::string& mailbox) const;
  std::size_t queued() const;

 private:
  struct Box {
    int in_flight = 0;
    std::deque<Clock::time_point> starts;  // within the last minute
    std::deque<Grant> waiting;
    Clock::time_point slowed_until{};
  };
  // When `b` may start one more; `now` if it may right away, nullopt if only
  // a release can help.
  std::optional<Clock::time_point> next_start(Box& b, Clock::time_point now) const;

  int max_concurrent_;
  int rate_;
  std::map<std::string, Box> boxes_;
};

}  // namespace relay::provider::m365
