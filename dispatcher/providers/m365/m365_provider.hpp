// relay::provider::m365 — the Microsoft 365 (Graph) adapter's entry point.
//
// Does: make_m365() builds the adapter for one `type: m365` provider (see
// m365_adapter.hpp for what it does). provider.cpp's make() calls it.
// Runs on: the thread that owns ctx.loop.
// Fails: throws config::ConfigError when the settings cannot work (no
// tenant/client id, neither secret nor certificate, unreadable key/cert).
#pragma once
#include <memory>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider {

std::unique_ptr<Provider> make_m365(const config::ProviderConfig& cfg, const Context& ctx);

}  // namespace relay::provider
