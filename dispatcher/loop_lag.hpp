// relay::dispatch::LoopLag — how long the dispatcher's uv loop was ever
// kept from running its callbacks (a stall: a big copy, a parse, a blocking
// call on the loop thread).
//
// Does: a repeating 5 ms timer notes, with uv_hrtime, how much later than
// due each tick ran; the largest lateness is the longest stall seen (to
// within the tick). It also notes the loop thread's own CPU time between
// two ticks (CLOCK_THREAD_CPUTIME_ID): a stall with little CPU was the
// thread waiting (not scheduled on a busy machine, a page fault, a lock),
// one with as much CPU as wall time was work done on the loop. main.cpp
// logs both at exit (`event=loop_lag max_ms=... max_busy_ms=...`);
// contrib/bench/memory-bench reads them (docs/memory.md).
// Does not: keep the loop alive (the timer is unref'd), sample anything else.
// Runs on: the loop thread. Fails: cannot (a uv_timer_init error leaves it off).
#pragma once
#include <uv.h>

#include <cstdint>

#include "dispatcher/uv_util.hpp"

namespace relay::dispatch {

class LoopLag {
 public:
  static constexpr std::uint64_t kTickMs = 5;
  explicit LoopLag(uv_loop_t* loop);
  void stop() { timer_.close(); }
  double max_ms() const noexcept { return static_cast<double>(max_ns_) / 1e6; }
  double max_busy_ms() const noexcept { return static_cast<double>(max_busy_ns_) / 1e6; }
  std::uint64_t ticks() const noexcept { return ticks_; }
  std::uint64_t late_ticks() const noexcept { return late_; }  // ticks over 10 ms late

 private:
  static void on_tick(uv_timer_t* t);
  UvHandle<uv_timer_t> timer_;
  std::uint64_t last_ns_ = 0;
  std::uint64_t max_ns_ = 0;
  std::uint64_t last_cpu_ns_ = 0;
  std::uint64_t max_busy_ns_ = 0;  // most loop-thread CPU between two ticks
  std::uint64_t ticks_ = 0, late_ = 0;
};

}  // namespace relay::dispatch
