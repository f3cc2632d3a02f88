// relay::admin::Supervisor::Impl — internal to the supervisor, shared by
// supervisor.cpp (loop, signals, reload, stop, systemd) and
// supervisor_children.cpp (start, exit, readiness, restart policy).
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "admin-cli/child_notify.hpp"
#include "admin-cli/restart_backoff.hpp"
#include "admin-cli/run_dir.hpp"
#include "admin-cli/supervisor.hpp"

namespace relay::admin {

enum class Role { Receiver, Dispatcher };
enum class Phase { Running, StopReceiver, StopDispatchers, Done };

std::int64_t now_ms();

struct Child {
  std::string name;
  Role role = Role::Dispatcher;
  pid_t pid = 0;
  std::int64_t started_ms = 0;
  std::int64_t ready_ms = 0;    // when it sent READY=1; 0 = not (yet) ready
  std::int64_t restart_at = 0;  // monotonic ms; 0 = none scheduled
  RestartBackoff backoff;
  bool retired = false;         // removed by a reload: do not restart
  bool start_killed = false;    // SIGKILLed for start_timeout: waiting to reap it
  bool hup_pending = false;     // a reload came before READY=1: SIGHUP it once ready
};

struct Supervisor::Impl {
  SupervisorOptions opt;
  std::vector<Child> children;
  Phase phase = Phase::Running;
  std::int64_t deadline = 0;
  int next_index = 1;
  int exit_code = 0;
  sigset_t child_mask{};
  std::vector<std::string> child_env;
  std::unique_ptr<RunDir> run_dir;
  ChildNotify child_notify;
  bool told_ready = false;            // READY=1 went to the service manager
  std::uint64_t reload_generation = 0;
  std::int64_t watchdog_ms = 0;       // ping interval; 0 = no watchdog
  std::int64_t next_ping = 0;

  // supervisor_children.cpp
  void add_dispatcher();
  void start(Child& c);
  void on_exit(std::size_t i, int status);
  void reap();
  void on_child_message(pid_t pid, std::string_view text);
  void check_ready();
  void check_start_timeouts(std::int64_t now);
  void resize_dispatchers(int want);
  void signal_children(Role role, int sig);
  bool any_running(Role role) const;
  std::string summary() const;  // "receiver ready, 2/2 dispatchers ready"

  // supervisor.cpp
  bool setup(std::string* error);
  void tell(const std::string& state);  // to the service manager, if any
  void on_hup();
  void begin_stop(const char* why);
  void force_stop(int sig);
  void advance_stop();
  void on_timers();
  void ping_watchdog();
  int poll_timeout() const;
  void handle_signals(int sfd);
};

}  // namespace relay::admin
