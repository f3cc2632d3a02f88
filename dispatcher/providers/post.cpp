// relay::provider::post (see post.hpp): one heap uv_timer_t per call, freed
// in its close callback.
#include "dispatcher/providers/post.hpp"

#include <uv.h>

#include <exception>

#include "common/log.hpp"

namespace relay::provider {

namespace {
struct Posted {
  uv_timer_t timer;
  std::function<void()> fn;
};
}  // namespace

void post(uv_loop_s* loop, std::function<void()> fn) {
  auto* p = new Posted{{}, std::move(fn)};
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, [](uv_timer_t* t) {
    auto* self = static_cast<Posted*>(t->data);
    try {
      self->fn();
    } catch (const std::exception& e) {
      log::error("- event=posted_callback_threw reason={}", log::quote(e.what()));
    } catch (...) {
      log::error("- event=posted_callback_threw reason=unknown");
    }
    uv_close(reinterpret_cast<uv_handle_t*>(t),
             [](uv_handle_t* h) { delete static_cast<Posted*>(h->data); });
  }, 0, 0);
}

}  // namespace relay::provider
