#include "receiver/smtp/policy.hpp"

#include <algorithm>

#include "receiver/smtp/text.hpp"

namespace relay::smtp {

std::shared_ptr<const Policy> Policy::from_config(const config::Config& cfg, std::string* error) {
  auto p = std::make_shared<Policy>();
  const auto& r = cfg.receiver;
  p->hostname = r.hostname;
  p->limits = r.limits;
  p->auth = r.auth;
  p->users = r.users;
  p->senders_allowed = cfg.senders.allowed;
  p->sender_policy = cfg.senders.policy;
  p->default_sender = cfg.senders.default_sender;
  p->routes = std::make_shared<const config::RouteTable>(config::RouteTable::from_config(cfg));
  std::string why;
  auto nets = net::CidrList::parse(r.client_networks, &why);
  if (!nets) {
    if (error) *error = "receiver.client_networks: " + why;
    return nullptr;
  }
  p->client_networks = std::move(*nets);
  return p;
}

const config::AuthUser* Policy::find_user(std::string_view name) const {
  for (const auto& u : users) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

bool Policy::sender_allowed(std::string_view address, std::string_view auth_user) const {
  return sender_rules(auth_user).allows(address);
}

mail::SenderRules Policy::sender_rules(std::string_view auth_user) const {
  return mail::sender_rules(users, senders_allowed, auth_user);
}

mail::SenderRules Policy::enforced_rules(std::string_view auth_user) const {
  mail::SenderRules r = sender_rules(auth_user);
  if (sender_policy == config::SenderPolicy::Reject || r.per_user) return r;
  return mail::SenderRules{};
}

// An empty list means no restriction (the config default is loopback only).
bool Policy::client_allowed(std::string_view ip) const {
  return client_networks.empty() || client_networks.contains(ip);
}

std::uint64_t Policy::advertised_size() const {
  return routes ? std::min(limits.max_message_size, routes->largest_any()) : limits.max_message_size;
}

std::uint64_t Policy::route_limit(std::string_view sender, std::string_view auth_user, bool sender_known) const {
  return routes ? routes->largest(sender, auth_user, sender_known) : config::kUnlimited;
}

bool Policy::routable(std::string_view sender, std::string_view auth_user, std::uint64_t size) const {
  return !routes || routes->match(sender, auth_user, size).has_value();
}

void AuthThrottle::expire(std::deque<std::int64_t>& q, std::int64_t now) const {
  while (!q.empty() && q.front() <= now - window_) q.pop_front();
}

bool AuthThrottle::blocked(const std::string& ip, std::int64_t now, int pending) {
  int failed = 0;
  if (auto it = failures_.find(ip); it != failures_.end()) {
    expire(it->second, now);
    failed = static_cast<int>(it->second.size());
    if (failed == 0) failures_.erase(it);
  }
  return max_ > 0 && failed + pending >= max_;
}

void AuthThrottle::failure(const std::string& ip, std::int64_t now) {
  auto& q = failures_[ip];
  expire(q, now);
  q.push_back(now);
  while (q.size() > static_cast<std::size_t>(max_ > 0 ? max_ : 1) + 1) q.pop_front();  // bounded memory
}

void AuthThrottle::prune(std::int64_t now) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    expire(it->second, now);
    it = it->second.empty() ? failures_.erase(it) : std::next(it);
  }
}

}  // namespace relay::smtp
