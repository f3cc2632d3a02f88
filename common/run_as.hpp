// relay::priv::start_as_configured_user — what relay-receiver and
// relay-dispatcher do about root at start (`user:` in the config).
//
// Does: when running as root with `user:` set, creates the spool directory
// for that user if missing (an existing one must already be theirs), and
// returns the account so that main can open the spool as that user
// (EffectiveUser), bind its ports, and then drop_to() it. Started as root
// without `user:`, logs a warning at every start and keeps running as root.
// Not root: does nothing.
// Fails: nullopt + *error ("user: no such user 'x'", "spool ... belongs to").
#pragma once
#include <optional>
#include <string>

#include "common/config.hpp"
#include "common/privileges.hpp"

namespace relay::priv {

struct StartAs {
  bool switch_user = false;  // root with `user:` set: open the spool as, then drop to, `account`
  Account account;
};
std::optional<StartAs> prepare_start(const config::Config& cfg, std::string* error);

}  // namespace relay::priv
