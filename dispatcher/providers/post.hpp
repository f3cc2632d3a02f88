// relay::provider::post — run a function on the next iteration of a uv loop.
// Adapters use it to call a Done from send()/test() without re-entering the
// caller (provider.hpp: never from inside send()).
// Runs on: the loop thread. Fails: exceptions from `fn` are caught and logged.
#pragma once
#include <functional>

struct uv_loop_s;

namespace relay::provider {

void post(uv_loop_s* loop, std::function<void()> fn);

}  // namespace relay::provider
