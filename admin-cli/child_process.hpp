// relay::admin child processes — fork/exec for the supervisor and the
// wait(2) status as a log value.
// Does: spawn_process() starts a program in its own process group with
// PR_SET_PDEATHSIG=SIGTERM (so it dies with a SIGKILLed supervisor) and the
// given signal mask restored before exec; only async-signal-safe calls
// after fork(). Does not: wait for or restart children (Supervisor does).
// Fails: returns -1 (errno set) when fork fails; an exec failure makes the
// child print one line and _exit(127), seen as an exit by the supervisor.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace relay::admin {

// keep_ambient_caps=false clears the ambient capabilities before exec (the
// dispatchers never get the receiver's CAP_NET_BIND_SERVICE). `env`: the
// child's whole environment ("NAME=value"); empty = inherit ours.
pid_t spawn_process(const std::filesystem::path& prog, const std::vector<std::string>& args, const sigset_t& mask,
                    bool keep_ambient_caps = true, const std::vector<std::string>& env = {});

// Our environment without the variables named in `drop` (e.g. the service
// manager's NOTIFY_SOCKET), plus `add` ("NAME=value").
std::vector<std::string> child_environment(const std::vector<std::string>& drop, const std::vector<std::string>& add);
// "exit=1", "signal=KILL"
std::string describe_status(int status);

}  // namespace relay::admin
