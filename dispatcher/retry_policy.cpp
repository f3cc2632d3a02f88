// See retry_policy.hpp.
#include "dispatcher/retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace relay::dispatch {
namespace {

// splitmix64: small, good enough to spread retries, fully deterministic.
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::int64_t RetryPolicy::base_delay(int attempts) const noexcept {
  std::int64_t lo = std::max<std::int64_t>(1, cfg_.min_backoff);
  std::int64_t hi = std::max(lo, cfg_.max_backoff);
  std::int64_t d = lo;
  for (int i = 1; i < attempts && d < hi; ++i) d = d > hi / 2 ? hi : d * 2;
  return std::min(d, hi);
}

RetryDecision RetryPolicy::next(std::int64_t now, std::int64_t received_at, int attempts,
                                std::optional<std::int64_t> retry_after, std::uint64_t seed) const {
  RetryDecision d;
  if (expired(now, received_at)) {
    d.give_up = true;
    d.reason = "expired";
    return d;
  }
  double jitter = std::clamp(cfg_.jitter, 0.0, 1.0);
  double u = static_cast<double>(mix(seed) >> 11) / static_cast<double>(1ull << 53) * 2.0 - 1.0;  // [-1, 1)
  auto delay = static_cast<std::int64_t>(std::llround(static_cast<double>(base_delay(attempts)) * (1.0 + jitter * u)));
  delay = std::max<std::int64_t>(delay, 1);
  d.reason = "backoff";
  std::int64_t deadline = received_at + cfg_.max_lifetime;
  if (now + delay > deadline) {
    delay = std::max<std::int64_t>(deadline - now, 1);
    d.reason = "deadline";
  }
  if (retry_after) {  // the provider said when: neither sooner nor later
    delay = std::max<std::int64_t>(*retry_after, 1);
    d.reason = "retry-after";
  }
  d.delay = delay;
  d.next_attempt = now + delay;
  return d;
}

std::uint64_t retry_seed(std::string_view queue_id, int attempts) noexcept {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : queue_id) h = (h ^ c) * 1099511628211ull;
  return mix(h ^ static_cast<std::uint64_t>(attempts));
}

}  // namespace relay::dispatch
