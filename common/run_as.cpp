// relay::priv::prepare_start — see run_as.hpp.
#include "common/run_as.hpp"

#include <unistd.h>

#include "common/log.hpp"

namespace relay::priv {

std::optional<StartAs> prepare_start(const config::Config& cfg, std::string* error) {
  StartAs s;
  if (::geteuid() != 0) return s;
  if (cfg.user.empty()) {
    log::warn("- event=running_as_root reason={}",
              log::quote("started as root and `user:` is not set in " + cfg.file.string() +
                         "; set it to run as an unprivileged account after start-up"));
    return s;
  }
  auto who = lookup_user(cfg.user, error);
  if (!who) {
    *error = cfg.file.string() + ": user: " + *error;
    return std::nullopt;
  }
  if (!ensure_owned_dir(cfg.spool.directory, *who, error)) {
    *error = "spool: " + *error;
    return std::nullopt;
  }
  s.switch_user = who->uid != 0;
  s.account = *who;
  return s;
}

}  // namespace relay::priv
