// relay::admin::Supervisor — the loop behind `relayctl run` (like
// `postfix start-fg`): one relay-receiver and N relay-dispatcher children.
//
// Does: starts the children (each in its own process group, so a terminal's
// Ctrl-C reaches only the supervisor, which then stops them in order; each
// gets PR_SET_PDEATHSIG=SIGTERM so a kill -9'd supervisor leaves no
// orphans); restarts a child that exits with RestartBackoff (1 s..60 s);
// on SIGHUP re-checks the config and, only if it loads, forwards SIGHUP to
// every child and adapts the number of dispatchers; on SIGTERM/SIGINT sends
// SIGTERM to the receiver (stop accepting), waits for it (bounded), then to
// the dispatchers (finish or release claims), SIGKILLs whoever outlives the
// bound, and returns 0. A second SIGTERM/SIGINT while stopping kills at once.
// Does not: read the spool or the database; interpret children's output
// (they log to the same stderr).
// Runs on: the main thread; plain POSIX (signalfd + poll + waitpid). The
// signal mask is restored in the children before exec.
// Fails: run() returns 1 only when it cannot set up signals; child failures
// are logged (key=value) and retried.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace relay::admin {

struct SupervisorOptions {
  std::filesystem::path receiver;      // program paths
  std::filesystem::path dispatcher;
  std::vector<std::string> child_args;  // e.g. {"-c", "/abs/relay.yaml"}
  int dispatchers = 2;
  std::int64_t receiver_stop_ms = 35000;
  std::int64_t dispatcher_stop_ms = 30000;
  // Called on SIGHUP: the new dispatcher count, or nullopt with *error set
  // when the config does not load (then nothing is forwarded).
  std::function<std::optional<int>(std::string* error)> reload_check;
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions opt);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs until stopped by SIGTERM/SIGINT. Returns the exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relay::admin
