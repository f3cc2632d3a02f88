// relay::mail::SenderRules — which allowed-sender patterns apply to a
// message: the AUTH user's own allowed_senders when it has any, else
// senders.allowed. The receiver (MAIL FROM, header From/Sender) and the
// dispatcher (the mailbox a message is sent as) ask the same question here.
// Does not: read headers (header_reader.hpp does) or know the policy
// (reject/rewrite): the callers decide what a miss means.
// Thread: pure; the rules point into the config they were made from.
// Fails: never.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace relay::mail {

struct SenderRules {
  const std::vector<std::string>* patterns = nullptr;
  bool per_user = false;  // the patterns are the AUTH user's own list
  // Empty list: anyone (the null sender too); else the address must match.
  bool allows(std::string_view address) const;
};

SenderRules sender_rules(const std::vector<config::AuthUser>& users, const std::vector<std::string>& allowed,
                         std::string_view auth_user);

}  // namespace relay::mail
