// See dispatcher.hpp / config_alert.hpp. This file: Dispatcher::config_notice,
// called when a provider's configuration-error alert is raised; queues the
// notice mail once per provider and day (queue_notice, secret_notice_hook.cpp).
#include <ctime>

#include "dispatcher/dispatcher.hpp"

namespace relay::dispatch {

void Dispatcher::config_notice(const std::string& provider, const std::string& reason) {
  std::string to = settings_.failure_notice_to;
  if (auto it = settings_.secret_notices.find(provider); it != settings_.secret_notices.end() && !it->second.notice_to.empty())
    to = it->second.notice_to;
  if (to.empty() || stopping_) return;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const std::string key = config_notice_key(provider, now);
  queue_notice("config_notice", provider, key, to,
               build_config_notice(provider, reason, to, settings_.notice_from, settings_.hostname, key, now));
}

}  // namespace relay::dispatch
