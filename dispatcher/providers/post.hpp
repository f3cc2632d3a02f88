// relay::provider::post — run a function on the next iteration of a uv loop.
// Adapters use it to call a Done from send()/test() without re-entering the
// caller (provider.hpp: never from inside send()).
// relay::provider::offload — run blocking work (reading a spooled message,
// parsing MIME) on the libuv threadpool, then a continuation on the loop.
// Runs on: the loop thread (work: a pool thread). Fails: exceptions from
// `fn`, `work` or `after` are caught and logged.
#pragma once
#include <functional>

struct uv_loop_s;

namespace relay::provider {

void post(uv_loop_s* loop, std::function<void()> fn);

// `after` runs on the loop once `work` has returned. Nothing here keeps the
// caller alive: an adapter that may be destroyed meanwhile checks a liveness
// token in `after` (and gives `work` only data it owns).
void offload(uv_loop_s* loop, std::function<void()> work, std::function<void()> after);

// Calls fn (if set); an exception is logged (`event=callback_threw where=...`)
// instead of escaping into libuv. Used by the callbacks above and the
// dispatcher's own (dispatcher/uv_util).
void run_guarded(const std::function<void()>& fn, const char* where) noexcept;

}  // namespace relay::provider
