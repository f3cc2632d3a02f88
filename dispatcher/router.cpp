// See router.hpp.
#include "dispatcher/router.hpp"

#include <fmt/format.h>

namespace relay::dispatch {

Router::Router(std::vector<config::Route> routes, std::string default_provider, std::string fallback_provider,
               std::vector<std::string> provider_names)
    : routes_(std::move(routes)), default_(std::move(default_provider)), fallback_(std::move(fallback_provider)) {
  if (default_.empty() && provider_names.size() == 1) default_ = provider_names.front();
}

Router Router::from_config(const config::Config& cfg) {
  std::vector<std::string> names;
  for (const auto& p : cfg.providers) names.push_back(p.name);
  return Router(cfg.routes, cfg.default_provider, cfg.fallback_provider, std::move(names));
}

std::string Router::validate(const std::set<std::string>& available) const {
  if (default_.empty()) return "no default_provider (and more than one provider configured)";
  if (!available.count(default_)) return fmt::format("default_provider '{}' is not a configured provider", default_);
  if (!fallback_.empty() && !available.count(fallback_))
    return fmt::format("fallback_provider '{}' is not a configured provider", fallback_);
  for (std::size_t i = 0; i < routes_.size(); ++i)
    if (!available.count(routes_[i].provider))
      return fmt::format("routes[{}]: provider '{}' is not a configured provider", i, routes_[i].provider);
  return "";
}

RouteChoice Router::primary(const RouteInput& in) const {
  std::string_view sender = in.mail_from.empty() ? in.header_from : in.mail_from;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const auto& r = routes_[i];
    if (!r.sender.empty() && !sender.empty() && config::sender_allowed(sender, {r.sender}))
      return {r.provider, false, fmt::format("route[{}] sender={}", i, r.sender)};
    if (!r.auth_user.empty() && r.auth_user == in.auth_user)
      return {r.provider, false, fmt::format("route[{}] auth_user={}", i, r.auth_user)};
  }
  return {default_, false, "default"};
}

RouteChoice Router::choose(const RouteInput& in, int failed_attempts) const {
  RouteChoice c = primary(in);
  if (!fallback_.empty() && c.provider != fallback_ && failed_attempts >= kFallbackAfter)
    return {fallback_, true, fmt::format("fallback after {} transient failures of {}", failed_attempts, c.provider)};
  return c;
}

bool Router::fallback_on_config_error(std::string_view used) const {
  return !fallback_.empty() && used != fallback_;
}

}  // namespace relay::dispatch
