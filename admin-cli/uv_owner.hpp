// relay::admin libuv owners for the CLI's short-lived loops (provider test):
// UvLoop closes every handle still open and the loop itself on destruction;
// UvTimer frees its memory in the close callback (uvw style).
// Runs on: the thread that created the loop.
#pragma once
#include <uv.h>

#include <functional>
#include <utility>

namespace relay::admin {

class UvLoop {
 public:
  UvLoop() { uv_loop_init(&loop_); }
  ~UvLoop() {
    uv_walk(&loop_, [](uv_handle_t* h, void*) { if (!uv_is_closing(h)) uv_close(h, nullptr); }, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  UvLoop(const UvLoop&) = delete;
  UvLoop& operator=(const UvLoop&) = delete;
  uv_loop_t* get() noexcept { return &loop_; }

 private:
  uv_loop_t loop_{};
};

class UvTimer {
 public:
  explicit UvTimer(uv_loop_t* loop) : h_(new Handle) {
    uv_timer_init(loop, &h_->timer);
    h_->timer.data = h_;
  }
  ~UvTimer() {
    uv_timer_stop(&h_->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&h_->timer),
             [](uv_handle_t* h) { delete static_cast<Handle*>(h->data); });
  }
  UvTimer(const UvTimer&) = delete;
  UvTimer& operator=(const UvTimer&) = delete;
  void start(std::uint64_t ms, std::function<void()> cb) {
    h_->cb = std::move(cb);
    uv_timer_start(&h_->timer, [](uv_timer_t* t) { static_cast<Handle*>(t->data)->cb(); }, ms, 0);
  }

 private:
  struct Handle {
    uv_timer_t timer{};
    std::function<void()> cb;
  };
  Handle* h_;
};

}  // namespace relay::admin
