// See loop_lag.hpp.
#include "dispatcher/loop_lag.hpp"

#include <time.h>

#include "common/log.hpp"

namespace relay::dispatch {
namespace {
std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}
}  // namespace

LoopLag::LoopLag(uv_loop_t* loop) {
  if (uv_timer_init(loop, timer_.get()) != 0) return;
  timer_.get()->data = this;
  uv_unref(timer_.handle());
  last_ns_ = uv_hrtime();
  last_cpu_ns_ = thread_cpu_ns();
  uv_timer_start(timer_.get(), &LoopLag::on_tick, kTickMs, kTickMs);
}

void LoopLag::on_tick(uv_timer_t* t) {
  auto* self = static_cast<LoopLag*>(t->data);
  const std::uint64_t now = uv_hrtime();
  const std::uint64_t cpu = thread_cpu_ns();
  const std::uint64_t due = self->last_ns_ + kTickMs * 1000000;
  const std::uint64_t late = now > due ? now - due : 0;
  const std::uint64_t busy = cpu - self->last_cpu_ns_;
  if (late > self->max_ns_) self->max_ns_ = late;
  if (busy > self->max_busy_ns_) self->max_busy_ns_ = busy;
  if (late > 10 * 1000000) ++self->late_;
  // Something held the loop for a tenth of a second: say when, so the log
  // lines around it show what (debug level; the figures are in event=loop_lag).
  if (late > 100 * 1000000) log::debug("- event=loop_stall ms={} busy_ms={}", late / 1000000, busy / 1000000);
  ++self->ticks_;
  self->last_ns_ = now;
  self->last_cpu_ns_ = cpu;
}

}  // namespace relay::dispatch
