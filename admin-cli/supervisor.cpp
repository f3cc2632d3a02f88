// relay::admin::Supervisor (see supervisor.hpp).
#include "admin-cli/supervisor.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "admin-cli/child_process.hpp"
#include "admin-cli/restart_backoff.hpp"
#include "admin-cli/unique_fd.hpp"
#include "common/log.hpp"

namespace relay::admin {
namespace {

std::int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Blocks signals for the supervisor's lifetime; restores the old mask.
class SignalBlock {
 public:
  explicit SignalBlock(const sigset_t& set) { sigprocmask(SIG_BLOCK, &set, &old_); }
  ~SignalBlock() { sigprocmask(SIG_SETMASK, &old_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;
  const sigset_t& old() const noexcept { return old_; }

 private:
  sigset_t old_{};
};

enum class Role { Receiver, Dispatcher };
enum class Phase { Running, StopReceiver, StopDispatchers, Done };

struct Child {
  std::string name;
  Role role = Role::Dispatcher;
  pid_t pid = 0;
  std::int64_t started_ms = 0;
  std::int64_t restart_at = 0;  // monotonic ms; 0 = none scheduled
  RestartBackoff backoff;
  bool retired = false;         // removed by a reload: do not restart
};

}  // namespace

struct Supervisor::Impl {
  SupervisorOptions opt;
  std::vector<Child> children;
  Phase phase = Phase::Running;
  std::int64_t deadline = 0;
  int next_index = 1;
  sigset_t child_mask{};

  void add_dispatcher() {
    Child c;
    c.name = fmt::format("dispatcher{}", next_index++);
    children.push_back(std::move(c));
  }

  void start(Child& c) {
    const auto& prog = c.role == Role::Receiver ? opt.receiver : opt.dispatcher;
    c.restart_at = 0;
    pid_t pid = spawn_process(prog, opt.child_args, child_mask, /*keep_ambient_caps=*/c.role == Role::Receiver);
    if (pid < 0) {
      std::int64_t delay = c.backoff.next(0);
      c.restart_at = now_ms() + delay;
      log::error("supervisor event=spawn-failed child={} reason={} retry_in={}ms", c.name,
                 log::quote(strerror(errno)), delay);
      return;
    }
    c.pid = pid;
    c.started_ms = now_ms();
    log::info("supervisor event=child-started child={} pid={} program={}", c.name, pid, prog.string());
  }

  void on_exit(std::size_t i, int status) {
    Child& c = children[i];
    std::int64_t ran = now_ms() - c.started_ms;
    c.pid = 0;
    if (phase != Phase::Running || c.retired) {
      log::info("supervisor event=child-stopped child={} {} ran={}ms", c.name, describe_status(status), ran);
      if (c.retired) children.erase(children.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
    std::int64_t delay = c.backoff.next(ran);
    c.restart_at = now_ms() + delay;
    log::warn("supervisor event=child-exited child={} {} ran={}ms restart_in={}ms reason=unexpected-exit", c.name,
              describe_status(status), ran, delay);
  }

  void reap() {
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      for (std::size_t i = 0; i < children.size(); ++i) {
        if (children[i].pid == pid) {
          on_exit(i, status);
          break;
        }
      }
    }
  }

  void signal_children(Role role, int sig) {
    for (auto& c : children)
      if (c.pid > 0 && c.role == role) kill(c.pid, sig);
  }

  bool any_running(Role role) const {
    for (const auto& c : children)
      if (c.pid > 0 && c.role == role) return true;
    return false;
  }

  void on_hup() {
    if (phase != Phase::Running) return;
    std::string error;
    auto count = opt.reload_check(&error);
    if (!count) {
      log::error("supervisor event=reload-refused reason={}", log::quote("config check failed: " + error));
      return;
    }
    int forwarded = 0;
    for (auto& c : children) {
      if (c.pid > 0 && !c.retired) {
        kill(c.pid, SIGHUP);
        ++forwarded;
      }
    }
    log::info("supervisor event=reload forwarded_to={} dispatchers={}", forwarded, *count);
    resize_dispatchers(*count);
  }

  void resize_dispatchers(int want) {
    int have = 0;
    for (const auto& c : children) have += c.role == Role::Dispatcher && !c.retired;
    for (; have < want; ++have) {
      add_dispatcher();
      start(children.back());
    }
    for (std::size_t i = children.size(); have > want && i-- > 0;) {
      Child& c = children[i];
      if (c.role != Role::Dispatcher || c.retired) continue;
      --have;
      log::info("supervisor event=child-retired child={} reason=dispatcher-count-lowered", c.name);
      if (c.pid > 0) {
        c.retired = true;
        kill(c.pid, SIGTERM);
      } else {
        children.erase(children.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }

  void begin_stop(int sig) {
    if (phase != Phase::Running) {
      log::warn("supervisor event=stop-forced signal={} reason=second-stop-signal", sigabbrev_np(sig));
      for (auto& c : children)
        if (c.pid > 0) kill(c.pid, SIGKILL);
      return;
    }
    log::info("supervisor event=stopping signal={}", sigabbrev_np(sig));
    for (auto& c : children) c.restart_at = 0;
    phase = Phase::StopReceiver;
    signal_children(Role::Receiver, SIGTERM);
    deadline = now_ms() + opt.receiver_stop_ms;
  }

  // Moves the stop sequence on when the current phase's children are gone.
  void advance_stop() {
    if (phase == Phase::StopReceiver && !any_running(Role::Receiver)) {
      phase = Phase::StopDispatchers;
      signal_children(Role::Dispatcher, SIGTERM);
      deadline = now_ms() + opt.dispatcher_stop_ms;
    }
    if (phase == Phase::StopDispatchers && !any_running(Role::Dispatcher)) phase = Phase::Done;
  }

  void on_timers() {
    std::int64_t now = now_ms();
    if (phase == Phase::Running) {
      for (auto& c : children)
        if (c.pid == 0 && c.restart_at && now >= c.restart_at) start(c);
      return;
    }
    if (phase == Phase::Done || now < deadline) return;
    Role role = phase == Phase::StopReceiver ? Role::Receiver : Role::Dispatcher;
    for (auto& c : children) {
      if (c.pid > 0 && c.role == role) {
        log::warn("supervisor event=child-killed child={} pid={} reason=stop-timeout", c.name, c.pid);
        kill(c.pid, SIGKILL);
      }
    }
    deadline = now + 5000;  // SIGKILL is reaped well within this
  }

  int poll_timeout() const {
    std::int64_t next = -1;
    auto consider = [&](std::int64_t t) {
      if (t > 0 && (next < 0 || t < next)) next = t;
    };
    if (phase == Phase::Running) {
      for (const auto& c : children)
        if (c.pid == 0) consider(c.restart_at);
    } else {
      consider(deadline);
    }
    if (next < 0) return -1;
    return static_cast<int>(std::max<std::int64_t>(0, next - now_ms()));
  }

  void handle_signals(int sfd) {
    signalfd_siginfo si{};
    while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      int sig = static_cast<int>(si.ssi_signo);
      if (sig == SIGHUP) on_hup();
      else if (sig == SIGTERM || sig == SIGINT) begin_stop(sig);
      // SIGCHLD: reaped below
    }
  }
};

Supervisor::Supervisor(SupervisorOptions opt) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(opt);
  Child r;
  r.name = "receiver";
  r.role = Role::Receiver;
  impl_->children.push_back(std::move(r));
  for (int i = 0; i < impl_->opt.dispatchers; ++i) impl_->add_dispatcher();
}

Supervisor::~Supervisor() = default;

int Supervisor::run() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
  SignalBlock block(set);
  impl_->child_mask = block.old();
  UniqueFd sfd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sfd) {
    log::error("supervisor event=start-failed reason={}", log::quote(std::string("signalfd: ") + strerror(errno)));
    return 1;
  }
  log::info("supervisor event=started pid={} dispatchers={}", getpid(), impl_->opt.dispatchers);
  for (auto& c : impl_->children) impl_->start(c);
  while (impl_->phase != Phase::Done) {
    pollfd p{sfd.get(), POLLIN, 0};
    if (poll(&p, 1, impl_->poll_timeout()) < 0 && errno != EINTR) {
      log::error("supervisor event=poll-failed reason={}", log::quote(strerror(errno)));
      sleep(1);
    }
    impl_->handle_signals(sfd.get());
    impl_->reap();
    if (impl_->phase != Phase::Running) impl_->advance_stop();
    impl_->on_timers();
  }
  log::info("supervisor event=stopped reason=signal");
  return 0;
}

}  // namespace relay::admin
