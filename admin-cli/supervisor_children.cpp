// relay::admin::Supervisor children: start, exit, readiness and the
// restart policy (see supervisor.hpp and restart_backoff.hpp).
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>

#include "admin-cli/child_process.hpp"
#include "admin-cli/supervisor_impl.hpp"
#include "common/log.hpp"

namespace relay::admin {

std::int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void Supervisor::Impl::add_dispatcher() {
  Child c;
  c.name = fmt::format("dispatcher{}", next_index++);
  children.push_back(std::move(c));
}

void Supervisor::Impl::start(Child& c) {
  const auto& prog = c.role == Role::Receiver ? opt.receiver : opt.dispatcher;
  c.restart_at = 0;
  c.ready_ms = 0;
  c.start_killed = false;
  c.hup_pending = false;  // it reads the snapshot as it is now
  pid_t pid = spawn_process(prog, opt.child_args, child_mask, /*keep_ambient_caps=*/c.role == Role::Receiver,
                            child_env);
  if (pid < 0) {
    std::int64_t delay = c.backoff.next(-1);
    c.restart_at = now_ms() + delay;
    log::error("supervisor event=spawn-failed child={} reason={} retry_in={}ms", c.name,
               log::quote(strerror(errno)), delay);
    return;
  }
  c.pid = pid;
  c.started_ms = now_ms();
  log::info("supervisor event=child-started child={} pid={} program={}", c.name, pid, prog.string());
}

// A child that was ready restarts at once; one that failed during start-up
// backs off, and too many such failures in a row stop the supervisor.
void Supervisor::Impl::on_exit(std::size_t i, int status) {
  Child& c = children[i];
  std::int64_t now = now_ms();
  std::int64_t ran = now - c.started_ms;
  bool was_ready = c.ready_ms > 0;
  const bool timed_out = c.start_killed;
  c.start_killed = false;
  std::int64_t ready_for = was_ready ? now - c.ready_ms : -1;
  c.pid = 0;
  c.ready_ms = 0;
  if (phase != Phase::Running || c.retired) {
    log::info("supervisor event=child-stopped child={} {} ran={}ms", c.name, describe_status(status), ran);
    if (c.retired) children.erase(children.begin() + static_cast<std::ptrdiff_t>(i));
    return;
  }
  std::int64_t delay = c.backoff.next(ready_for);
  int failures = c.backoff.start_failures();
  if (!was_ready && failures >= opt.plan.max_start_failures) {
    log::error("supervisor event=child-failed child={} {} start_failures={} reason={}", c.name,
               describe_status(status), failures,
               log::quote(timed_out ? "last start-up hung past supervisor.start_timeout; failed to become ready "
                                      "supervisor.max_start_failures times in a row"
                                    : "exited before it was ready supervisor.max_start_failures times in a row"));
    tell(fmt::format("STATUS={} failed to start {} times ({}); stopping", c.name, failures, describe_status(status)));
    exit_code = 1;
    begin_stop("reason=start-failures");
    return;
  }
  c.restart_at = now + delay;
  log::warn("supervisor event=child-exited child={} {} ran={}ms ready={} restart_in={}ms reason={}", c.name,
            describe_status(status), ran, was_ready ? "yes" : "no", delay,
            was_ready ? "unexpected-exit" : timed_out ? "start-up-timeout" : "start-up-failed");
  tell(fmt::format("STATUS={} exited ({}), restarting; {}", c.name, describe_status(status), summary()));
}

void Supervisor::Impl::reap() {
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

void Supervisor::Impl::on_child_message(pid_t pid, std::string_view text) {
  for (auto& c : children) {
    if (c.pid != pid) continue;
    bool ready = text == "READY=1" || text.starts_with("READY=1\n") || text.find("\nREADY=1") != text.npos;
    if (ready && c.ready_ms == 0) {
      c.ready_ms = now_ms();
      log::info("supervisor event=child-ready child={} pid={} after={}ms", c.name, pid, c.ready_ms - c.started_ms);
      if (c.hup_pending && !c.retired) {
        c.hup_pending = false;
        log::info("supervisor event=reload-forwarded child={} pid={} reason=reloaded-during-start-up", c.name, pid);
        kill(pid, SIGHUP);
      }
      check_ready();
    }
    return;
  }
  log::debug("supervisor event=notify-ignored pid={} reason=not-a-child", pid);
}

// A child still not ready start_timeout after its start is hung (a dead
// NFS spool, a stuck lookup): SIGKILL it; on_exit() counts the start-up
// failure and the back-off decides what follows.
void Supervisor::Impl::check_start_timeouts(std::int64_t now) {
  for (auto& c : children) {
    if (c.pid <= 0 || c.ready_ms != 0 || c.start_killed) continue;  // retired ones too: poll_timeout counts them
    if (now - c.started_ms < opt.plan.start_timeout_ms) continue;
    c.start_killed = true;
    log::error("supervisor event=child-start-timeout child={} pid={} waited={}ms reason={}", c.name, c.pid,
               now - c.started_ms,
               log::quote("no READY=1 within supervisor.start_timeout; killed, counts as a start-up failure"));
    tell(fmt::format("STATUS={} hung during start-up (no READY=1 after {}s), killed; {}", c.name,
                     opt.plan.start_timeout_ms / 1000, summary()));
    kill(c.pid, SIGKILL);
  }
}

// READY=1 to the service manager once every child serves; later changes
// only update STATUS=.
void Supervisor::Impl::check_ready() {
  if (phase != Phase::Running) return;
  for (const auto& c : children)
    if (!c.retired && c.ready_ms == 0) return;
  if (!told_ready) {
    told_ready = true;
    log::info("supervisor event=ready {}", log::quote(summary()));
    tell("READY=1\nSTATUS=" + summary());
  } else {
    tell("STATUS=" + summary());
  }
}

std::string Supervisor::Impl::summary() const {
  int want = 0, ready = 0;
  bool receiver = false;
  for (const auto& c : children) {
    if (c.retired) continue;
    if (c.role == Role::Receiver) receiver = c.ready_ms > 0;
    else {
      ++want;
      ready += c.ready_ms > 0;
    }
  }
  return fmt::format("receiver {}, {}/{} dispatchers ready", receiver ? "ready" : "not ready", ready, want);
}

void Supervisor::Impl::resize_dispatchers(int want) {
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

void Supervisor::Impl::signal_children(Role role, int sig) {
  for (auto& c : children)
    if (c.pid > 0 && c.role == role) kill(c.pid, sig);
}

bool Supervisor::Impl::any_running(Role role) const {
  for (const auto& c : children)
    if (c.pid > 0 && c.role == role) return true;
  return false;
}

}  // namespace relay::admin
