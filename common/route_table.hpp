// relay::config::RouteTable — which provider may carry a message, by
// sender, AUTH user and size: the one implementation of the routing rules.
// The receiver asks it what it may accept (EHLO SIZE, MAIL FROM SIZE=, end
// of data); the dispatcher's Router asks it where to send. Both load the
// same file, so what the receiver accepts the dispatcher can route.
//
// Rules (docs/routing.md): routes in config order, first match wins. A
// route matches a message when
//   - its sender pattern matches the sender (the envelope MAIL FROM; the
//     header From when the envelope sender is null), or its auth_user is
//     the AUTH user, or it names neither (a route by size alone); and
//   - min_size <= size <= max_size (a bound of 0 is no bound); and
//   - size <= its provider's own limit (provider_max_size).
// No route matches: default_provider when its own limit carries the size,
// else nothing — the receiver refuses such a message (552 5.3.4), the
// dispatcher holds it. Sizes are those of the stored message (the client's
// data plus relay's Received: header: the envelope's size).
// Does not: know provider objects, fallback rules (dispatcher/router.hpp)
// or receiver.limits (the receiver caps what largest() says with it).
// Thread: immutable after construction; share freely. Fails: never.
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace relay::config {

inline constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

// The largest message a provider carries by its own limit; kUnlimited when
// it has none (outbox and smtp with max_message_size 0).
std::uint64_t provider_max_size(const ProviderConfig& p);

struct RouteMatch {
  std::string provider;
  int route = -1;    // index into routes; -1 = default_provider
  std::string rule;  // for logs: "route[2] sender=@x.com max_size=102400", "default"
};

class RouteTable {
 public:
  using Limits = std::map<std::string, std::uint64_t, std::less<>>;  // provider -> own limit

  RouteTable() = default;
  // Providers missing from `limits` carry any size.
  RouteTable(std::vector<Route> routes, std::string default_provider, Limits limits);
  static RouteTable from_config(const Config& cfg);

  // The provider for a message of `size` bytes; nullopt when none carries it.
  std::optional<RouteMatch> match(std::string_view sender, std::string_view auth_user, std::uint64_t size) const;
  // The largest size routable for (sender, auth_user): every size above it
  // is refused by match(). kUnlimited = no bound. sender_known false (null
  // envelope sender, header From not read yet): sender routes may match.
  std::uint64_t largest(std::string_view sender, std::string_view auth_user, bool sender_known = true) const;
  // The largest size any route or the default carries (EHLO SIZE).
  std::uint64_t largest_any() const;
  // The provider's own limit (kUnlimited when it has none).
  std::uint64_t limit_of(std::string_view provider) const;
  bool carries(std::string_view provider, std::uint64_t size) const { return size <= limit_of(provider); }

  const std::vector<Route>& routes() const noexcept { return routes_; }
  const std::string& default_provider() const noexcept { return default_; }

 private:
  // The largest size route `r` carries (its max_size and its provider's
  // limit); nullopt when it carries none (min_size above that).
  std::optional<std::uint64_t> cap(const Route& r) const;

  std::vector<Route> routes_;
  std::string default_;
  Limits limits_;
};

}  // namespace relay::config
