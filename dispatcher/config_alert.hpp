// relay::dispatch::ConfigAlerts — one alert per provider configuration-error
// state change, not one per held message.
//
// Does: remembers which providers are in a configuration-error state (a
// transient result with config_error: credentials rejected, permission
// missing, AUTH refused, TLS unavailable, account not ready). The first such
// result raises the alert (the dispatcher logs event=provider_config_error at
// error level); further ones while it lasts are quiet (event=config_error_held
// at info); the first delivery the provider accepts clears it
// (event=provider_config_cleared), so the next problem alerts again.
// Does not: log, hold or re-route mail (the dispatcher does); share state
// between dispatcher processes (each process alerts once).
// Runs on: the dispatcher's loop thread; pure, no I/O.
// Fails: never.
#pragma once
#include <set>
#include <string>
#include <string_view>

#include "dispatcher/providers/provider.hpp"

namespace relay::dispatch {

class ConfigAlerts {
 public:
  enum class Change { None, Raised, Cleared };
  // The result of one attempt on `provider`.
  [[nodiscard]] Change on_result(std::string_view provider, const provider::Result& r);
  bool active(std::string_view provider) const { return active_.find(provider) != active_.end(); }

 private:
  std::set<std::string, std::less<>> active_;
};

}  // namespace relay::dispatch
