// relay::admin::Supervisor — the loop behind `relayctl run` (like
// `postfix start-fg`): one relay-receiver and N relay-dispatcher children.
//
// Does: starts the children (each in its own process group, so a terminal's
// Ctrl-C reaches only the supervisor, which then stops them in order; each
// gets PR_SET_PDEATHSIG=SIGTERM so a kill -9'd supervisor leaves no
// orphans). Children load the config bytes the supervisor last accepted
// (RunDir's snapshot, via $RELAY_CONFIG_SNAPSHOT) and report READY=1 on a
// private notify socket (ChildNotify). A child that was ready and died is
// restarted at once; one that dies during start-up is retried with
// RestartBackoff, and after `max_start_failures` such failures in a row
// the supervisor stops everything and run() returns 1. A child that has
// not reported READY=1 within `start_timeout_ms` of its start is SIGKILLed
// and counts as a start-up failure (a hang must not stall relay, nor
// systemd's start job, forever).
// Towards systemd (Type=notify, all through $NOTIFY_SOCKET when set):
// READY=1 once the receiver and every dispatcher are ready, STATUS= lines,
// RELOADING=1 / READY=1 around a reload, STOPPING=1, and WATCHDOG=1 from
// this loop every WATCHDOG_USEC/2 (no loop, no ping).
// On SIGHUP: reload_check() loads the file; accepted, the bytes become the
// snapshot, SIGHUP goes to every ready child (one still starting gets it
// when it reports READY=1: before that SIGHUP could kill it), the
// dispatcher count and the stop bounds follow; refused, nothing changes. Either way the verdict goes to
// RunDir's reload.status (for `relayctl reload`). On SIGTERM/SIGINT:
// on_stop(), SIGTERM to the receiver (stop accepting), wait (bounded), then the
// dispatchers, SIGKILL whoever outlives the bound, return 0. A second
// SIGTERM/SIGINT while stopping kills at once.
// Does not: read the spool or the database; interpret children's output
// (they log to the same stderr).
// Runs on: the main thread; plain POSIX (signalfd + poll + waitpid). The
// signal mask is restored in the children before exec.
// Fails: run() returns 1 when it cannot set up (signals, run directory,
// notify socket) or a child cannot start; 0 after a requested stop.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace relay::admin {

// What one accepted config asks of the supervisor.
struct SupervisorPlan {
  int dispatchers = 2;
  std::int64_t receiver_stop_ms = 35000;
  std::int64_t dispatcher_stop_ms = 30000;
  int max_start_failures = 5;
  std::int64_t start_timeout_ms = 30000;  // READY=1 within this, or SIGKILL
  std::string config_bytes;  // the accepted file: written to the snapshot
};

struct SupervisorOptions {
  std::filesystem::path receiver;      // program paths
  std::filesystem::path dispatcher;
  std::vector<std::string> child_args;  // e.g. {"-c", "/abs/relay.yaml"}
  std::filesystem::path run_dir;        // RunDir::for_config()
  SupervisorPlan plan;
  // Called on SIGHUP: the new plan, or nullopt with *error set ("FILE:LINE:
  // KEY: ...") when the config is refused (then nothing is forwarded).
  std::function<std::optional<SupervisorPlan>(std::string* error)> reload_check;
  // Called once when the stop begins (SIGTERM/SIGINT), before the receiver
  // is signalled: /healthz turns 503 "draining", the hosts row says so.
  std::function<void()> on_stop;
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions opt);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs until stopped by SIGTERM/SIGINT or a child that cannot start.
  // Returns the exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relay::admin
