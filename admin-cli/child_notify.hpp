// relay::admin::ChildNotify — the socket the supervisor's children send
// sd_notify(3) messages to (READY=1 once the receiver's listeners are bound
// or a dispatcher has started). The supervisor puts its address in each
// child's NOTIFY_SOCKET, so the children never talk to systemd directly.
// Does: binds an abstract-namespace AF_UNIX datagram socket with
// SO_PASSCRED, so every message carries the sender's pid as the kernel saw
// it (a forged READY=1 from another process names another pid).
// Does not: interpret the messages (Supervisor does).
// Runs on: the supervisor's poll loop (non-blocking).
// Fails: open() returns false with *error set.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "admin-cli/unique_fd.hpp"

namespace relay::admin {

class ChildNotify {
 public:
  bool open(std::string* error);
  int fd() const noexcept { return fd_.get(); }
  // "@relay-run-<pid>-<n>": NOTIFY_SOCKET for the children.
  const std::string& address() const noexcept { return address_; }
  // Reads every queued message: fn(sender pid, text).
  void drain(const std::function<void(pid_t, std::string_view)>& fn);

 private:
  UniqueFd fd_;
  std::string address_;
};

}  // namespace relay::admin
