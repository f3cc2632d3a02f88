// See router.hpp.
#include "dispatcher/router.hpp"

#include <fmt/format.h>

namespace relay::dispatch {

Router::Router(std::vector<config::Route> routes, std::string default_provider, std::string fallback_provider,
               std::vector<std::string> provider_names, config::RouteTable::Limits limits)
    : fallback_(std::move(fallback_provider)) {
  if (default_provider.empty() && provider_names.size() == 1) default_provider = provider_names.front();
  table_ = config::RouteTable(std::move(routes), std::move(default_provider), std::move(limits));
}

Router Router::from_config(const config::Config& cfg) {
  std::vector<std::string> names;
  config::RouteTable::Limits limits;
  for (const auto& p : cfg.providers) {
    names.push_back(p.name);
    limits[p.name] = config::provider_max_size(p);
  }
  return Router(cfg.routes, cfg.default_provider, cfg.fallback_provider, std::move(names), std::move(limits));
}

std::string Router::validate(const std::set<std::string>& available) const {
  const std::string& def = table_.default_provider();
  if (def.empty()) return "no default_provider (and more than one provider configured)";
  if (!available.count(def)) return fmt::format("default_provider '{}' is not a configured provider", def);
  if (!fallback_.empty() && !available.count(fallback_))
    return fmt::format("fallback_provider '{}' is not a configured provider", fallback_);
  const auto& routes = table_.routes();
  for (std::size_t i = 0; i < routes.size(); ++i)
    if (!available.count(routes[i].provider))
      return fmt::format("routes[{}]: provider '{}' is not a configured provider", i, routes[i].provider);
  return "";
}

RouteChoice Router::primary(const RouteInput& in) const {
  std::string_view sender = in.mail_from.empty() ? in.header_from : in.mail_from;
  if (auto m = table_.match(sender, in.auth_user, in.size)) return {m->provider, false, m->rule};
  return {"", false,
          fmt::format("no route carries a message of {} bytes (largest for this sender: {} bytes)", in.size,
                      table_.largest(sender, in.auth_user))};
}

RouteChoice Router::choose(const RouteInput& in, int failed_attempts) const {
  RouteChoice c = primary(in);
  if (c.provider.empty()) return c;
  if (!fallback_.empty() && c.provider != fallback_ && failed_attempts >= kFallbackAfter &&
      table_.carries(fallback_, in.size))
    return {fallback_, true, fmt::format("fallback after {} transient failures of {}", failed_attempts, c.provider)};
  return c;
}

bool Router::fallback_on_config_error(std::string_view used, std::uint64_t size) const {
  return !fallback_.empty() && used != fallback_ && table_.carries(fallback_, size);
}

}  // namespace relay::dispatch
