// See config_alert.hpp.
#include "dispatcher/config_alert.hpp"

#include <fmt/format.h>

#include <cctype>
#include <ctime>

#include "dispatcher/secret_notice.hpp"

namespace relay::dispatch {

ConfigAlerts::Change ConfigAlerts::on_result(std::string_view provider, const provider::Result& r) {
  if (r.outcome == provider::Outcome::Transient && r.config_error) {
    return active_.emplace(provider).second ? Change::Raised : Change::None;
  }
  bool accepted = r.outcome == provider::Outcome::Sent;
  for (const auto& rc : r.rcpts) accepted = accepted || rc.outcome == provider::Outcome::Sent;
  if (!accepted) return Change::None;  // a timeout proves nothing about the configuration
  auto it = active_.find(provider);
  if (it == active_.end()) return Change::None;
  active_.erase(it);
  return Change::Cleared;
}

std::string config_notice_key(const std::string& provider, std::int64_t now) {
  std::string safe;
  for (char c : provider) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return "config-error-" + safe + "-" + utc_day(now);
}

std::string build_config_notice(const std::string& provider, const std::string& reason, const std::string& notice_to,
                                const std::string& from, const std::string& hostname, const std::string& key,
                                std::int64_t now) {
  std::string out = notice_header(
      from, notice_to, "relay: provider " + provider + " has a configuration error; mail is held", hostname,
      key + ".config-notice", now);
  out += fmt::format("Provider '{}' refused a delivery for a reason that is its configuration,\r\n"
                     "not the message:\r\n\r\n  {}\r\n\r\n", notice_one_line(provider), notice_one_line(reason));
  out += "Mail for this provider stays queued (it is not bounced) and is retried; it goes\r\n"
         "to the fallback provider when one is configured. Fix the credentials,\r\n"
         "permissions or TLS settings the reason names, then check with\r\n"
         "`relayctl provider test " + notice_one_line(provider) + "`. This notice is sent at most once a day.\r\n";
  return out;
}

}  // namespace relay::dispatch
