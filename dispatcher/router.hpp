// relay::dispatch::Router — which provider delivers a message.
//
// Rules (first match wins, in config order): config::RouteTable
// (common/route_table.hpp), the implementation the receiver shares:
//   routes[i].sender    matches the envelope MAIL FROM (the header From when
//                       the envelope sender is null), using the patterns of
//                       senders.allowed: "a@x.com", "@x.com", "*.x.com"
//                       (config::sender_allowed).
//   routes[i].auth_user matches the SMTP AUTH user exactly.
//   routes[i].min_size / max_size bound the message size; a route never
//                       takes a message over its provider's own limit.
// No match: default_provider ("" = the only configured provider), if its
// own limit carries the message; else no provider at all (primary() gives
// provider "": the dispatcher holds the message, docs/routing.md).
//
// Fallback (fallback_provider, optional), documented in docs and here:
//   1. A transient result with config_error (credentials/permissions wrong,
//      e.g. an expired client secret) from the primary provider is retried at
//      once, in the same attempt, on the fallback provider.
//   2. After `fallback_after` (3) attempts that all failed transiently, every
//      further attempt of that message goes to the fallback provider.
//   A permanent result is never re-routed (the recipient or the message is
//   the problem, not the provider). The fallback is never used for itself,
//   nor for a message over its own size limit.
// Does not: know provider objects or do I/O. Runs on any thread (immutable).
// Fails: validate() names a route that references an unknown provider.
#pragma once
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/route_table.hpp"

namespace relay::dispatch {

struct RouteInput {
  std::string_view mail_from;
  std::string_view header_from;
  std::string_view auth_user;
  std::uint64_t size = 0;  // the stored message (envelope size)
};

struct RouteChoice {
  std::string provider;  // "" = no provider carries a message of this size (rule says why)
  bool fallback = false;
  std::string rule;  // "route[2] sender=@x.com", "default", "fallback after 3 transient"
};

class Router {
 public:
  static constexpr int kFallbackAfter = 3;

  Router() = default;
  // `limits`: each provider's own size limit (config::provider_max_size);
  // a provider missing from it carries any size.
  Router(std::vector<config::Route> routes, std::string default_provider, std::string fallback_provider,
         std::vector<std::string> provider_names, config::RouteTable::Limits limits = {});
  static Router from_config(const config::Config& cfg);

  // "" when every name resolves in `available`; else what is wrong.
  std::string validate(const std::set<std::string>& available) const;

  // The primary provider for a message (rules above).
  RouteChoice primary(const RouteInput& in) const;
  // Provider for the next attempt; `failed_attempts` = transient attempts so far.
  RouteChoice choose(const RouteInput& in, int failed_attempts) const;
  // Rule 1: should a config_error from `used` be retried now on the fallback
  // (which must carry `size`)?
  bool fallback_on_config_error(std::string_view used, std::uint64_t size = 0) const;
  const std::string& fallback() const noexcept { return fallback_; }
  const std::string& default_provider() const noexcept { return table_.default_provider(); }
  const config::RouteTable& table() const noexcept { return table_; }

 private:
  config::RouteTable table_;
  std::string fallback_;
};

}  // namespace relay::dispatch
