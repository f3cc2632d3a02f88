// relay::dispatch::RetryPolicy — when to try a deferred message again, and
// when to give up. A pure function of its inputs (OpenSMTPD keeps the
// scheduler apart from the queue; STYLE.md 3): no clock, no I/O.
//
// Rule:
//   base   = min_backoff * 2^(attempts-1), capped at max_backoff
//   delay  = base * (1 + jitter * u), u uniform in [-1, 1] drawn from `seed`
//            (same seed, same delay), never below 1 s
//   delay  = retry_after (at least 1 s) when the provider said when
//            (Retry-After, a busy mailbox): a 429 with Retry-After: 3 is
//            retried after 3 s, not after the backoff
//   give up (permanent) when now >= received_at + max_lifetime;
//   otherwise the backoff part is clamped so that the last attempt happens
//   at the deadline, but a Retry-After is never shortened.
// Runs on: any thread. Fails: never.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "common/config.hpp"

namespace relay::dispatch {

struct RetryDecision {
  bool give_up = false;
  std::int64_t next_attempt = 0;  // unix seconds (when !give_up)
  std::int64_t delay = 0;         // next_attempt - now
  std::string reason;             // for logs: "backoff", "retry-after", "deadline", "expired"
};

class RetryPolicy {
 public:
  explicit RetryPolicy(config::RetryConfig cfg) : cfg_(cfg) {}

  // attempts: attempts made so far, including the one that just failed (>= 1).
  RetryDecision next(std::int64_t now, std::int64_t received_at, int attempts,
                     std::optional<std::int64_t> retry_after, std::uint64_t seed) const;
  // True once the message is older than max_lifetime.
  bool expired(std::int64_t now, std::int64_t received_at) const noexcept {
    return now >= received_at + cfg_.max_lifetime;
  }
  // Backoff before jitter.
  std::int64_t base_delay(int attempts) const noexcept;
  const config::RetryConfig& config() const noexcept { return cfg_; }

 private:
  config::RetryConfig cfg_;
};

// A seed for next() from a queue id and attempt number: deterministic per
// message and attempt, different between messages (spreads retries).
std::uint64_t retry_seed(std::string_view queue_id, int attempts) noexcept;

}  // namespace relay::dispatch
