// See route_table.hpp.
#include "common/route_table.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace relay::config {
namespace {

std::uint64_t own_limit(std::uint64_t configured) { return configured == 0 ? kUnlimited : configured; }

// Does the sender / AUTH user part of `r` match? `sender_known` false: any
// sender pattern may still match (the header From decides later).
bool who_matches(const Route& r, std::string_view sender, std::string_view auth_user, bool sender_known) {
  if (!r.sender.empty()) {
    if (!sender_known) return true;
    return !sender.empty() && sender_allowed(sender, std::vector<std::string>{r.sender});
  }
  if (!r.auth_user.empty()) return r.auth_user == auth_user;
  return true;  // a route by size alone
}

std::string describe(const Route& r, std::size_t i) {
  std::string s = fmt::format("route[{}]", i);
  if (!r.sender.empty()) s += " sender=" + r.sender;
  if (!r.auth_user.empty()) s += " auth_user=" + r.auth_user;
  if (r.min_size != 0) s += fmt::format(" min_size={}", r.min_size);
  if (r.max_size != 0) s += fmt::format(" max_size={}", r.max_size);
  return s;
}

}  // namespace

std::uint64_t provider_max_size(const ProviderConfig& p) {
  switch (p.type) {
    case ProviderType::Outbox: return own_limit(p.outbox.max_message_size);
    case ProviderType::Smtp: return own_limit(p.smtp.max_message_size);
    case ProviderType::M365: return own_limit(p.m365.max_message_size);
    case ProviderType::Gmail: return own_limit(p.gmail.max_message_size);
  }
  return kUnlimited;
}

RouteTable::RouteTable(std::vector<Route> routes, std::string default_provider, Limits limits)
    : routes_(std::move(routes)), default_(std::move(default_provider)), limits_(std::move(limits)) {}

RouteTable RouteTable::from_config(const Config& cfg) {
  Limits limits;
  for (const auto& p : cfg.providers) limits[p.name] = provider_max_size(p);
  return RouteTable(cfg.routes, cfg.default_provider, std::move(limits));
}

std::uint64_t RouteTable::limit_of(std::string_view provider) const {
  auto it = limits_.find(provider);
  return it == limits_.end() ? kUnlimited : it->second;
}

std::optional<std::uint64_t> RouteTable::cap(const Route& r) const {
  std::uint64_t upper = std::min(r.max_size == 0 ? kUnlimited : r.max_size, limit_of(r.provider));
  if (r.min_size > upper) return std::nullopt;
  return upper;
}

std::optional<RouteMatch> RouteTable::match(std::string_view sender, std::string_view auth_user,
                                            std::uint64_t size) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    if (!who_matches(r, sender, auth_user, true)) continue;
    auto upper = cap(r);
    if (upper && size >= r.min_size && size <= *upper)
      return RouteMatch{r.provider, static_cast<int>(i), describe(r, i)};
  }
  if (!default_.empty() && carries(default_, size)) return RouteMatch{default_, -1, "default"};
  return std::nullopt;
}

std::uint64_t RouteTable::largest(std::string_view sender, std::string_view auth_user, bool sender_known) const {
  // The route reaching furthest carries its cap: an earlier route that
  // takes a message of that size carries it too.
  std::uint64_t best = default_.empty() ? 0 : limit_of(default_);
  for (const auto& r : routes_) {
    auto upper = cap(r);
    if (upper && who_matches(r, sender, auth_user, sender_known)) best = std::max(best, *upper);
  }
  return best;
}

std::uint64_t RouteTable::largest_any() const {
  std::uint64_t best = default_.empty() ? 0 : limit_of(default_);
  for (const auto& r : routes_)
    if (auto upper = cap(r)) best = std::max(best, *upper);
  return best;
}

}  // namespace relay::config
