// relay::admin::RestartBackoff — how long the supervisor waits before
// restarting a child that exited, and how many start-ups failed in a row.
//   - A child that reported ready and then died is restarted at once (it
//     ran; a kill -9 must not cost clients a minute). If it died within
//     kFlapMs of being ready it waits kMinMs, so a child that crashes right
//     after start-up cannot spin the CPU. Either way the count of start-up
//     failures and the delay go back to their start.
//   - A child that died before it was ready failed to start (port taken,
//     certificate unreadable): kMinMs, doubling up to kMaxMs, and
//     start_failures() grows; the supervisor gives up at
//     supervisor.max_start_failures.
// Pure (no clock of its own), unit-tested.
#pragma once
#include <algorithm>
#include <cstdint>

namespace relay::admin {

class RestartBackoff {
 public:
  static constexpr std::int64_t kMinMs = 1000;
  static constexpr std::int64_t kMaxMs = 60000;
  static constexpr std::int64_t kFlapMs = 1000;

  // Delay before the next start. `ready_for_ms` < 0: the child never
  // reported ready (a start-up failure); else how long it had been ready.
  std::int64_t next(std::int64_t ready_for_ms) noexcept {
    if (ready_for_ms >= 0) {
      failures_ = 0;
      current_ = kMinMs;
      return ready_for_ms >= kFlapMs ? 0 : kMinMs;
    }
    ++failures_;
    std::int64_t d = current_;
    current_ = std::min(current_ * 2, kMaxMs);
    return d;
  }
  int start_failures() const noexcept { return failures_; }

 private:
  std::int64_t current_ = kMinMs;
  int failures_ = 0;
};

}  // namespace relay::admin
