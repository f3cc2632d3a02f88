// relay::smtp::Policy — the receiver's policy snapshot: limits, AUTH mode and
// users, allowed senders, client networks — and AuthThrottle, the per-IP
// failed-AUTH counter.
//
// Does: built once from a config::Config (at start and on SIGHUP); sessions
// hold a shared_ptr<const Policy>, so a reload never changes a session's
// rules in the middle of a transaction. Answers "may this sender send?"
// (per-user allowed_senders, else senders.allowed: common/sender_rules, the
// same rules the dispatcher applies), and which message sizes some route
// carries (config::RouteTable, the dispatcher's own rules). With senders.policy rewrite the
// global list is the dispatcher's to enforce (it rewrites), but a user's
// own allowed_senders is still enforced here: rewriting would still send
// mail for a user from a mailbox outside its list.
// Does not: verify passwords (the server does that off the loop) or do I/O.
// Thread: Policy is immutable after construction (share freely).
// AuthThrottle belongs to the loop thread.
// Fails: from_config() returns nullptr and sets *error on bad CIDRs.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/cidr.hpp"
#include "common/config.hpp"
#include "common/route_table.hpp"
#include "common/sender_rules.hpp"

namespace relay::smtp {

struct Policy {
  std::string hostname = "localhost";
  config::Limits limits;
  config::AuthMode auth = config::AuthMode::Off;
  std::vector<config::AuthUser> users;
  std::vector<std::string> senders_allowed;
  config::SenderPolicy sender_policy = config::SenderPolicy::Reject;
  std::string default_sender;  // what the dispatcher sends a message without From as
  net::CidrList client_networks;
  // The dispatcher's routing rules (common/route_table.hpp); null (a Policy
  // not made from a config, in tests) = every size is routable.
  std::shared_ptr<const config::RouteTable> routes;

  static std::shared_ptr<const Policy> from_config(const config::Config& cfg, std::string* error);

  const config::AuthUser* find_user(std::string_view name) const;
  // Per-user allowed_senders when the user has any, else senders.allowed
  // (empty list = any sender). The null sender "" is allowed only with an
  // empty list.
  bool sender_allowed(std::string_view address, std::string_view auth_user) const;
  mail::SenderRules sender_rules(std::string_view auth_user) const;
  // The rules a sender must pass at SMTP time: all of them with policy
  // reject; with rewrite only the user's own list (the null SenderRules
  // allows anything).
  mail::SenderRules enforced_rules(std::string_view auth_user) const;
  bool client_allowed(std::string_view ip) const;
  // Message sizes. advertised_size(): EHLO SIZE, limits.max_message_size
  // lowered to the largest any route carries. route_limit(): the largest
  // message (stored bytes) some route carries for this sender and AUTH user
  // (sender_known false for the null sender: its header From decides the
  // route later); kUnlimited without routes. limits.max_message_size stays
  // the absolute cap on the client's data, checked on its own.
  std::uint64_t advertised_size() const;
  std::uint64_t route_limit(std::string_view sender, std::string_view auth_user, bool sender_known) const;
  bool routable(std::string_view sender, std::string_view auth_user, std::uint64_t size) const;
};

class AuthThrottle {
 public:
  AuthThrottle(int max_failures, std::int64_t window) : max_(max_failures), window_(window) {}
  void configure(int max_failures, std::int64_t window) { max_ = max_failures, window_ = window; }
  // `pending`: attempts still being verified count toward the limit too.
  bool blocked(const std::string& ip, std::int64_t now, int pending = 0);
  void failure(const std::string& ip, std::int64_t now);
  void prune(std::int64_t now);  // drops expired entries (called periodically)
  std::size_t tracked() const noexcept { return failures_.size(); }

 private:
  void expire(std::deque<std::int64_t>& q, std::int64_t now) const;
  int max_;
  std::int64_t window_;
  std::unordered_map<std::string, std::deque<std::int64_t>> failures_;
};

}  // namespace relay::smtp
