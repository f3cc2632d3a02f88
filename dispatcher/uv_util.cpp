// See uv_util.hpp.
#include "dispatcher/uv_util.hpp"

#include "dispatcher/providers/post.hpp"

namespace relay::dispatch {

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
  for (auto& fn : fns) provider::run_guarded(fn, "loop_poster");
}

}  // namespace relay::dispatch
