// relay::admin::Supervisor (see supervisor.hpp). This file: the loop,
// signals, reload, the stop sequence and what systemd is told.
#include "admin-cli/supervisor.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "admin-cli/child_process.hpp"
#include "admin-cli/supervisor_impl.hpp"
#include "common/config_snapshot.hpp"
#include "common/log.hpp"
#include "common/service_notify.hpp"

namespace relay::admin {
namespace {

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

}  // namespace

// Run directory with the accepted config, the children's notify socket and
// their environment (which never carries systemd's NOTIFY_SOCKET or
// watchdog: only this process answers to systemd).
bool Supervisor::Impl::setup(std::string* error) {
  run_dir = std::make_unique<RunDir>(opt.run_dir);
  if (!run_dir->open(error) || !run_dir->write_snapshot(opt.plan.config_bytes, error) ||
      !run_dir->write_verdict(ReloadVerdict{0, 0, true, {}}, error))
    return false;
  if (!child_notify.open(error)) return false;
  child_env = child_environment({"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"},
                                {"NOTIFY_SOCKET=" + child_notify.address(),
                                 std::string(config::kSnapshotEnv) + "=" + run_dir->snapshot().string()});
  if (std::uint64_t us = notify::watchdog_usec()) {
    watchdog_ms = std::max<std::int64_t>(1, static_cast<std::int64_t>(us / 2000));
    log::info("supervisor event=watchdog interval={}ms", watchdog_ms);
  }
  return true;
}

void Supervisor::Impl::tell(const std::string& state) { notify::send(state); }

void Supervisor::Impl::on_hup() {
  ReloadVerdict v{++reload_generation, 0, false, {}};
  std::string werr;
  if (phase != Phase::Running) {
    v.error = "relay is stopping";
  } else {
    if (told_ready) tell(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading", now_ms() * 1000));
    auto plan = opt.reload_check(&v.error);
    if (plan && !run_dir->write_snapshot(plan->config_bytes, &werr)) {
      v.error = "cannot write the accepted config: " + werr;
      plan.reset();
    }
    if (plan) {
      opt.plan = std::move(*plan);
      v.ok = true;
    }
  }
  if (!v.ok) {
    log::error("supervisor event=reload-refused generation={} reason={}", v.generation,
               log::quote("config check failed: " + v.error));
  } else {
    int forwarded = 0;
    for (auto& c : children) {
      if (c.pid <= 0 || c.retired) continue;
      // Before READY=1 a child may not have its handler yet: SIGHUP's
      // default action would kill it (a start-up failure). It gets the
      // SIGHUP when it reports ready, in case it read the old snapshot.
      if (c.ready_ms == 0) {
        c.hup_pending = true;
        continue;
      }
      kill(c.pid, SIGHUP);
      ++forwarded;
    }
    log::info("supervisor event=reload forwarded_to={} dispatchers={} generation={}", forwarded, opt.plan.dispatchers,
              v.generation);
    resize_dispatchers(opt.plan.dispatchers);
  }
  if (!run_dir->write_verdict(v, &werr)) log::error("supervisor event=status-write-failed reason={}", log::quote(werr));
  if (told_ready && phase == Phase::Running)
    tell("READY=1\nSTATUS=" + (v.ok ? "reloaded; " + summary() : "reload refused: " + v.error));
}

void Supervisor::Impl::begin_stop(const char* why) {
  log::info("supervisor event=stopping {}", why);
  tell("STOPPING=1\nSTATUS=stopping: receiver first, then dispatchers");
  for (auto& c : children) c.restart_at = 0;
  if (opt.on_stop) opt.on_stop();  // health "draining" before the listener closes
  phase = Phase::StopReceiver;
  signal_children(Role::Receiver, SIGTERM);
  deadline = now_ms() + opt.plan.receiver_stop_ms;
}

void Supervisor::Impl::force_stop(int sig) {
  log::warn("supervisor event=stop-forced signal={} reason=second-stop-signal", sigabbrev_np(sig));
  for (auto& c : children)
    if (c.pid > 0) kill(c.pid, SIGKILL);
}

// Moves the stop sequence on when the current phase's children are gone.
void Supervisor::Impl::advance_stop() {
  if (phase == Phase::StopReceiver && !any_running(Role::Receiver)) {
    phase = Phase::StopDispatchers;
    tell("STATUS=stopping: dispatchers");
    signal_children(Role::Dispatcher, SIGTERM);
    deadline = now_ms() + opt.plan.dispatcher_stop_ms;
  }
  if (phase == Phase::StopDispatchers && !any_running(Role::Dispatcher)) phase = Phase::Done;
}

void Supervisor::Impl::on_timers() {
  std::int64_t now = now_ms();
  if (phase == Phase::Running) {
    for (auto& c : children)
      if (c.pid == 0 && c.restart_at && now >= c.restart_at) start(c);
    check_start_timeouts(now);
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

// Called once per loop turn: a loop that stops turning stops the pings,
// and systemd's WatchdogSec= then restarts relay.
void Supervisor::Impl::ping_watchdog() {
  if (watchdog_ms == 0) return;
  std::int64_t now = now_ms();
  if (now < next_ping) return;
  tell("WATCHDOG=1");
  next_ping = now + watchdog_ms;
}

int Supervisor::Impl::poll_timeout() const {
  std::int64_t next = -1;
  auto consider = [&](std::int64_t t) {
    if (t > 0 && (next < 0 || t < next)) next = t;
  };
  if (phase == Phase::Running) {
    for (const auto& c : children) {
      if (c.pid == 0) consider(c.restart_at);
      else if (c.ready_ms == 0 && !c.start_killed) consider(c.started_ms + opt.plan.start_timeout_ms);
    }
  } else {
    consider(deadline);
  }
  if (watchdog_ms) consider(next_ping);
  if (next < 0) return -1;
  return static_cast<int>(std::max<std::int64_t>(0, next - now_ms()));
}

void Supervisor::Impl::handle_signals(int sfd) {
  signalfd_siginfo si{};
  while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    int sig = static_cast<int>(si.ssi_signo);
    if (sig == SIGHUP) on_hup();
    else if ((sig == SIGTERM || sig == SIGINT) && phase == Phase::Running)
      begin_stop(sig == SIGTERM ? "signal=TERM" : "signal=INT");
    else if (sig == SIGTERM || sig == SIGINT) force_stop(sig);
    // SIGCHLD: reaped below
  }
}

Supervisor::Supervisor(SupervisorOptions opt) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(opt);
  Child r;
  r.name = "receiver";
  r.role = Role::Receiver;
  impl_->children.push_back(std::move(r));
  for (int i = 0; i < impl_->opt.plan.dispatchers; ++i) impl_->add_dispatcher();
}

Supervisor::~Supervisor() = default;

int Supervisor::run() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
  SignalBlock block(set);
  Impl& m = *impl_;
  m.child_mask = block.old();
  UniqueFd sfd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  std::string error = sfd ? "" : std::string("signalfd: ") + strerror(errno);
  if (!sfd || !m.setup(&error)) {
    log::error("supervisor event=start-failed reason={}", log::quote(error));
    m.tell("STATUS=start failed: " + error);
    return 1;
  }
  log::info("supervisor event=started pid={} dispatchers={} run_dir={}", getpid(), m.opt.plan.dispatchers,
            m.run_dir->dir().string());
  m.tell("STATUS=starting: " + m.summary());
  for (auto& c : m.children) m.start(c);
  while (m.phase != Phase::Done) {
    pollfd p[2] = {{sfd.get(), POLLIN, 0}, {m.child_notify.fd(), POLLIN, 0}};
    if (poll(p, 2, m.poll_timeout()) < 0 && errno != EINTR) {
      log::error("supervisor event=poll-failed reason={}", log::quote(strerror(errno)));
      sleep(1);
    }
    m.handle_signals(sfd.get());
    // Messages before exits: a child that said READY=1 and died at once
    // still counts as having run.
    m.child_notify.drain([&m](pid_t pid, std::string_view text) { m.on_child_message(pid, text); });
    m.reap();
    if (m.phase != Phase::Running) m.advance_stop();
    m.on_timers();
    m.ping_watchdog();
  }
  log::info("supervisor event=stopped exit={} reason={}", m.exit_code, m.exit_code ? "start-failures" : "signal");
  return m.exit_code;
}

}  // namespace relay::admin
