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
// Also builds the notice mail for a raised alert (to the provider's
// expiry_notice_to, else dispatcher.failure_notice_to), sent at most once
// per provider and UTC day across processes through the once-only marker of
// secret_notice (enqueue_secret_notice); it is routed like any mail, so it
// may wait in the queue itself when its provider is the broken one (the
// fallback provider takes it when configured).
// Does not: log, hold or re-route mail (the dispatcher does); share the
// alert state between dispatcher processes (each process logs once).
// Runs on: the dispatcher's loop thread; pure, no I/O.
// Fails: never.
#pragma once
#include <cstdint>
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

// "config-error-<provider>-YYYY-MM-DD" for `now` (Unix seconds): the
// once-only key of the notice.
std::string config_notice_key(const std::string& provider, std::int64_t now);
// The notice: what is wrong (the provider's own text), that mail is held,
// what to check. `from` "" = MAILER-DAEMON@hostname.
std::string build_config_notice(const std::string& provider, const std::string& reason, const std::string& notice_to,
                                const std::string& from, const std::string& hostname, const std::string& key,
                                std::int64_t now);

}  // namespace relay::dispatch
