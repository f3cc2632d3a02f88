// See sender_rules.hpp.
#include "common/sender_rules.hpp"

namespace relay::mail {

bool SenderRules::allows(std::string_view address) const {
  if (patterns == nullptr || patterns->empty()) return true;
  if (address.empty()) return false;
  return config::sender_allowed(address, *patterns);
}

SenderRules sender_rules(const std::vector<config::AuthUser>& users, const std::vector<std::string>& allowed,
                         std::string_view auth_user) {
  if (!auth_user.empty()) {
    for (const auto& u : users) {
      if (u.name == auth_user && !u.allowed_senders.empty()) return SenderRules{&u.allowed_senders, true};
    }
  }
  return SenderRules{&allowed, false};
}

}  // namespace relay::mail
