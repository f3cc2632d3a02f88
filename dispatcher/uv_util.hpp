// relay::dispatch uv helpers — owners for the libuv handles the dispatcher
// uses (memory freed in the close callback, as uvw does; STYLE.md 8) and a
// cross-thread poster. Threadpool jobs: provider::offload (providers/post.hpp).
//
// Does: UvHandle<T> heap-allocates a handle and uv_close()s it on
// destruction; LoopPoster lets another thread (the DeliveryLog's
// DB thread) run a function on the loop thread.
// Does not: run the loop. Exceptions thrown by posted functions are caught
// at this boundary and logged, never propagated into libuv.
// Runs on: the loop thread, except LoopPoster::post (any thread).
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace relay::dispatch {

template <typename H>
class UvHandle {
 public:
  UvHandle() : h_(new H{}) {}
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  ~UvHandle() { close(); }
  H* get() const noexcept { return h_; }
  uv_handle_t* handle() const noexcept { return reinterpret_cast<uv_handle_t*>(h_); }
  bool open() const noexcept { return h_ != nullptr; }
  // Idempotent. An initialised handle is closed (freed in the close
  // callback, so run the loop once more); an uninitialised one is freed now.
  void close() noexcept {
    if (!h_) return;
    auto* h = reinterpret_cast<uv_handle_t*>(h_);
    if (h->type != UV_UNKNOWN_HANDLE && h->loop != nullptr) {
      if (!uv_is_closing(h)) uv_close(h, [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
    } else {
      delete h_;
    }
    h_ = nullptr;
  }

 private:
  H* h_;
};

// Posts functions to the loop thread from any thread (uv_async_t).
class LoopPoster {
 public:
  explicit LoopPoster(uv_loop_t* loop);
  LoopPoster(const LoopPoster&) = delete;
  LoopPoster& operator=(const LoopPoster&) = delete;
  ~LoopPoster();
  // Thread-safe. Dropped after close().
  void post(std::function<void()> fn);
  // Loop thread: stop accepting and close the async handle.
  void close();
  std::function<void(std::function<void()>)> sink();  // post() as a value that outlives nothing

 private:
  struct State {
    std::mutex mu;
    std::vector<std::function<void()>> fns;
    bool closed = false;
    uv_async_t* async = nullptr;
  };
  static void on_async(uv_async_t* a);
  std::shared_ptr<State> state_;
  UvHandle<uv_async_t> async_;
};

}  // namespace relay::dispatch
