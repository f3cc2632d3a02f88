// See config_alert.hpp.
#include "dispatcher/config_alert.hpp"

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

}  // namespace relay::dispatch
