// relay::provider::gmail — the Gmail API adapter's entry point.
//
// Does: make_gmail() builds the adapter for one `type: gmail` provider (see
// gmail_adapter.hpp). provider.cpp's make() calls it.
// Runs on: the thread that owns ctx.loop.
// Fails: throws config::ConfigError when the settings cannot work (neither
// a service account key nor client_id + client_secret + refresh_token, an
// unreadable or invalid key file).
#pragma once
#include <memory>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider {

std::unique_ptr<Provider> make_gmail(const config::ProviderConfig& cfg, const Context& ctx);

}  // namespace relay::provider
