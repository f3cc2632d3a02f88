// See loop_lag.hpp.
#include "dispatcher/loop_lag.hpp"

namespace relay::dispatch {

LoopLag::LoopLag(uv_loop_t* loop) {
  if (uv_timer_init(loop, timer_.get()) != 0) return;
  timer_.get()->data = this;
  uv_unref(timer_.handle());
  last_ns_ = uv_hrtime();
  uv_timer_start(timer_.get(), &LoopLag::on_tick, kTickMs, kTickMs);
}

void LoopLag::on_tick(uv_timer_t* t) {
  auto* self = static_cast<LoopLag*>(t->data);
  const std::uint64_t now = uv_hrtime();
  const std::uint64_t due = self->last_ns_ + kTickMs * 1000000;
  const std::uint64_t late = now > due ? now - due : 0;
  if (late > self->max_ns_) self->max_ns_ = late;
  if (late > 10 * 1000000) ++self->late_;
  ++self->ticks_;
  self->last_ns_ = now;
}

}  // namespace relay::dispatch
