// See uv_util.hpp.
#include "dispatcher/uv_util.hpp"

#include <exception>

#include "common/log.hpp"

namespace relay::dispatch {
namespace {

struct WorkReq {
  uv_work_t req{};
  std::function<void()> work;
  std::function<void()> after;
};

void guarded(const std::function<void()>& fn, const char* where) noexcept {
  try {
    if (fn) fn();
  } catch (const std::exception& e) {
    log::error("- event=internal_error where={} reason={}", where, log::quote(e.what()));
  } catch (...) {
    log::error("- event=internal_error where={} reason=unknown", where);
  }
}

}  // namespace

void queue_work(uv_loop_t* loop, std::function<void()> work, std::function<void()> after) {
  auto* r = new WorkReq;
  r->req.data = r;
  r->work = std::move(work);
  r->after = std::move(after);
  int rc = uv_queue_work(
      loop, &r->req, [](uv_work_t* w) { guarded(static_cast<WorkReq*>(w->data)->work, "work"); },
      [](uv_work_t* w, int) {
        std::unique_ptr<WorkReq> owned(static_cast<WorkReq*>(w->data));
        guarded(owned->after, "after_work");
      });
  if (rc != 0) {  // only fails for invalid arguments; run inline rather than lose it
    std::unique_ptr<WorkReq> owned(r);
    guarded(owned->work, "work");
    guarded(owned->after, "after_work");
  }
}

LoopPoster::LoopPoster(uv_loop_t* loop) : state_(std::make_shared<State>()) {
  uv_async_init(loop, async_.get(), &LoopPoster::on_async);
  async_.get()->data = state_.get();
  state_->async = async_.get();
}

LoopPoster::~LoopPoster() { close(); }

void LoopPoster::post(std::function<void()> fn) {
  std::lock_guard lk(state_->mu);
  if (state_->closed) return;
  state_->fns.push_back(std::move(fn));
  uv_async_send(state_->async);
}

std::function<void(std::function<void()>)> LoopPoster::sink() {
  std::weak_ptr<State> weak = state_;
  return [weak](std::function<void()> fn) {
    auto s = weak.lock();
    if (!s) return;
    std::lock_guard lk(s->mu);
    if (s->closed) return;
    s->fns.push_back(std::move(fn));
    uv_async_send(s->async);
  };
}

void LoopPoster::close() {
  if (!state_) return;
  {
    std::lock_guard lk(state_->mu);
    state_->closed = true;
    state_->fns.clear();
  }
  async_.close();
}

void LoopPoster::on_async(uv_async_t* a) {
  auto* s = static_cast<State*>(a->data);
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard lk(s->mu);
    fns.swap(s->fns);
  }
  for (auto& fn : fns) guarded(fn, "posted");
}

}  // namespace relay::dispatch
