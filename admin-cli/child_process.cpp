// relay::admin child processes (see child_process.hpp).
#include "admin-cli/child_process.hpp"

#include <fmt/format.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string_view>

namespace relay::admin {

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit={}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return fmt::format("signal={}", abbrev ? abbrev : std::to_string(WTERMSIG(status)));
  }
  return fmt::format("status={}", status);
}

// fork + exec with the child in its own process group and a parent-death
// signal. Only async-signal-safe calls after fork(). Returns -1 on failure.
std::vector<std::string> child_environment(const std::vector<std::string>& drop, const std::vector<std::string>& add) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    std::string_view name = kv.substr(0, kv.find('='));
    bool skip = false;
    for (const auto& d : drop) skip = skip || name == d;
    for (const auto& a : add) skip = skip || (a.size() > name.size() && a.compare(0, name.size(), name) == 0 && a[name.size()] == '=');
    if (!skip) out.emplace_back(kv);
  }
  out.insert(out.end(), add.begin(), add.end());
  return out;
}

pid_t spawn_process(const std::filesystem::path& prog, const std::vector<std::string>& args, const sigset_t& mask,
                    bool keep_ambient_caps, const std::vector<std::string>& env) {
  std::vector<std::string> all{prog.string()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = env;  // built before fork: nothing allocates after it
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) {
    if (pid > 0) setpgid(pid, pid);  // both sides set it: no race with kill(-pgid)
    return pid;
  }
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1);
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  if (!keep_ambient_caps) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (env.empty()) execv(argv[0], argv.data());
  else execve(argv[0], argv.data(), envp.data());
  static const char msg[] = "relayctl: exec of child program failed\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  _exit(127);
}

}  // namespace relay::admin
