// relay::dispatch::make_provider_factory — the ProviderFactory relay-dispatcher
// uses at start and on every SIGHUP: provider::make() for each configured
// provider, over one loop and one shared CurlMulti.
// Does not: start anything (adapters start their own timers when built).
// Runs on: the loop thread. Fails: nullptr + *error naming the provider
// (config::ConfigError from an adapter, e.g. an unreadable key file).
#pragma once
#include "dispatcher/dispatcher.hpp"

namespace relay::net {
class CurlMulti;
}

namespace relay::dispatch {

[[nodiscard]] ProviderFactory make_provider_factory(uv_loop_t* loop, net::CurlMulti* curl);

}  // namespace relay::dispatch
