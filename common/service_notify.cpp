// relay::notify (see service_notify.hpp): thin wrapper over libsystemd.
#include "common/service_notify.hpp"

#include <systemd/sd-daemon.h>

namespace relay::notify {

bool send(const std::string& state) { return sd_notify(0, state.c_str()) > 0; }

std::uint64_t watchdog_usec() {
  std::uint64_t usec = 0;
  return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

}  // namespace relay::notify
