// RetryPolicy: a pure function, tested without I/O or clocks.
#include <doctest/doctest.h>

#include "dispatcher/retry_policy.hpp"

using relay::config::RetryConfig;
using relay::dispatch::RetryPolicy;

namespace {
RetryConfig cfg(std::int64_t lo, std::int64_t hi, std::int64_t life, double jitter) {
  RetryConfig c;
  c.min_backoff = lo;
  c.max_backoff = hi;
  c.max_lifetime = life;
  c.jitter = jitter;
  return c;
}
}  // namespace

TEST_CASE("backoff doubles from min to max without jitter") {
  RetryPolicy p(cfg(60, 3600, 5 * 86400, 0.0));
  CHECK(p.base_delay(1) == 60);
  CHECK(p.base_delay(2) == 120);
  CHECK(p.base_delay(3) == 240);
  CHECK(p.base_delay(6) == 1920);
  CHECK(p.base_delay(7) == 3600);
  CHECK(p.base_delay(1000) == 3600);  // no overflow for huge counts
  auto d = p.next(1000, 1000, 2, std::nullopt, 42);
  CHECK_FALSE(d.give_up);
  CHECK(d.delay == 120);
  CHECK(d.next_attempt == 1120);
  CHECK(d.reason == "backoff");
}

TEST_CASE("jitter stays within +/- jitter and is deterministic per seed") {
  RetryPolicy p(cfg(100, 100, 86400, 0.2));
  std::int64_t lo = 1000, hi = 0;
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    auto d = p.next(0, 0, 1, std::nullopt, seed);
    lo = std::min(lo, d.delay);
    hi = std::max(hi, d.delay);
    CHECK(d.delay >= 80);
    CHECK(d.delay <= 120);
    CHECK(p.next(0, 0, 1, std::nullopt, seed).delay == d.delay);
  }
  CHECK(lo <= 82);  // the spread is actually used
  CHECK(hi >= 118);
}

TEST_CASE("Retry-After decides: never shortened, and not lengthened to the backoff") {
  RetryPolicy p(cfg(60, 3600, 86400, 0.2));
  auto d = p.next(0, 0, 1, std::int64_t{900}, 7);
  CHECK(d.delay == 900);
  CHECK(d.reason == "retry-after");
  auto small = p.next(1000, 0, 5, std::int64_t{3}, 7);  // the backoff would be ~960 s
  CHECK(small.delay == 3);
  CHECK(small.next_attempt == 1003);
  CHECK(small.reason == "retry-after");
  CHECK(p.next(0, 0, 2, std::int64_t{0}, 7).delay == 1);  // "Retry-After: 0" is not a busy loop
}

TEST_CASE("gives up after max_lifetime since received_at") {
  RetryPolicy p(cfg(60, 3600, 3600, 0.0));
  CHECK(p.next(3600, 0, 3, std::nullopt, 1).give_up);
  CHECK(p.next(3599 + 1, 0, 1, std::nullopt, 1).reason == "expired");
  auto last = p.next(3500, 0, 5, std::nullopt, 1);  // backoff would pass the deadline
  CHECK_FALSE(last.give_up);
  CHECK(last.next_attempt == 3600);
  CHECK(last.reason == "deadline");
  auto ra = p.next(3500, 0, 5, std::int64_t{300}, 1);  // Retry-After beyond the deadline still honoured
  CHECK(ra.next_attempt == 3800);
}

TEST_CASE("degenerate settings never yield a zero delay") {
  RetryPolicy p(cfg(0, 0, 86400, 1.0));
  for (std::uint64_t s = 0; s < 100; ++s) CHECK(p.next(0, 0, 1, std::nullopt, s).delay >= 1);
  CHECK(relay::dispatch::retry_seed("01ABC", 1) != relay::dispatch::retry_seed("01ABC", 2));
  CHECK(relay::dispatch::retry_seed("01ABC", 1) == relay::dispatch::retry_seed("01ABC", 1));
}
