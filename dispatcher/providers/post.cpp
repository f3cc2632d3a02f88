// relay::provider::post / offload / run_guarded (see post.hpp): post uses one
// heap uv_timer_t per call, offload one uv_work_t, each freed when done.
#include "dispatcher/providers/post.hpp"

#include <uv.h>

#include <exception>
#include <memory>

#include "common/log.hpp"

namespace relay::provider {

namespace {
struct Posted {
  uv_timer_t timer;
  std::function<void()> fn;
};

struct Offloaded {
  uv_work_t req;
  std::function<void()> work, after;
};
}  // namespace

void run_guarded(const std::function<void()>& fn, const char* where) noexcept {
  try {
    if (fn) fn();
  } catch (const std::exception& e) {
    log::error("- event=callback_threw where={} reason={}", where, log::quote(e.what()));
  } catch (...) {
    log::error("- event=callback_threw where={} reason=unknown", where);
  }
}

void post(uv_loop_s* loop, std::function<void()> fn) {
  auto* p = new Posted{{}, std::move(fn)};
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, [](uv_timer_t* t) {
    auto* self = static_cast<Posted*>(t->data);
    run_guarded(self->fn, "post");
    uv_close(reinterpret_cast<uv_handle_t*>(t),
             [](uv_handle_t* h) { delete static_cast<Posted*>(h->data); });
  }, 0, 0);
}

void offload(uv_loop_s* loop, std::function<void()> work, std::function<void()> after) {
  auto* o = new Offloaded{{}, std::move(work), std::move(after)};
  o->req.data = o;
  int rc = uv_queue_work(
      loop, &o->req, [](uv_work_t* w) { run_guarded(static_cast<Offloaded*>(w->data)->work, "offload_work"); },
      [](uv_work_t* w, int) {
        std::unique_ptr<Offloaded> owned(static_cast<Offloaded*>(w->data));
        run_guarded(owned->after, "offload_after");
      });
  if (rc != 0) {  // only for invalid arguments: run both here rather than lose the delivery
    std::unique_ptr<Offloaded> owned(o);
    run_guarded(owned->work, "offload_work");
    run_guarded(owned->after, "offload_after");
  }
}

}  // namespace relay::provider
