// relay::admin::RestartBackoff — how long the supervisor waits before
// restarting a child that exited: 1 s, doubling up to 60 s; a child that
// ran for at least 60 s counts as healthy and restarts after 1 s again.
// Pure (no clock of its own), unit-tested.
#pragma once
#include <algorithm>
#include <cstdint>

namespace relay::admin {

class RestartBackoff {
 public:
  static constexpr std::int64_t kMinMs = 1000;
  static constexpr std::int64_t kMaxMs = 60000;
  static constexpr std::int64_t kHealthyMs = 60000;

  // Delay before the next start, given how long the last run lasted.
  std::int64_t next(std::int64_t ran_ms) noexcept {
    if (ran_ms >= kHealthyMs) current_ = kMinMs;
    std::int64_t d = current_;
    current_ = std::min(current_ * 2, kMaxMs);
    return d;
  }
  std::int64_t peek() const noexcept { return current_; }

 private:
  std::int64_t current_ = kMinMs;
};

}  // namespace relay::admin
