// relay::notify — the sd_notify(3) protocol (libsystemd), used two ways:
// `relayctl run` tells systemd READY=1 / RELOADING=1 / STOPPING=1 /
// STATUS= / WATCHDOG=1, and relay-receiver / relay-dispatcher tell their
// supervisor READY=1 once they serve (the supervisor points their
// NOTIFY_SOCKET at a socket of its own).
// Does: send a state string to $NOTIFY_SOCKET when set; read the watchdog
// interval ($WATCHDOG_USEC, checked against $WATCHDOG_PID by libsystemd).
// Does not: talk to systemd over D-Bus; block (a datagram send).
// Runs on: any thread. Fails: silently (no socket = not supervised); a
// failed send is returned as false for the caller to log.
#pragma once
#include <cstdint>
#include <string>

namespace relay::notify {

// sd_notify(0, state). True when sent; false when there is no
// NOTIFY_SOCKET or the send failed.
bool send(const std::string& state);

// The watchdog interval in microseconds when the service manager expects
// WATCHDOG=1 pings from this process, else 0.
std::uint64_t watchdog_usec();

}  // namespace relay::notify
