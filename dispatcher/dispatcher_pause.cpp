// See dispatcher.hpp. This file: the operator's pause switch
// (relayctl dispatch pause|resume; the marker <spool>/control/dispatch-paused,
// spool/control.hpp). Noticed three ways, cheapest first: uv_fs_event on
// control/ (instant), a stat(2) before every claim on the threadpool (so no
// claim starts after the marker exists, whatever the events do), and a
// 1 s check (a missed event, a control/ that did not exist at start).
// Paused: no new claims and no candidates kept (new/ may grow without
// bound); in-flight deliveries, sweeps, heartbeats and reloads go on.
// Resumed: new/ is scanned at once.
#include <unistd.h>

#include "common/log.hpp"
#include "dispatcher/dispatcher.hpp"
#include "spool/control.hpp"

namespace relay::dispatch {
namespace {

constexpr std::uint64_t kPauseCheckMs = 1000;

}  // namespace

void Dispatcher::start_pause_watch() {
  const auto& root = spool_.root();
  if (spool::Status st = spool::ensure_control_dir(root); !st.ok())
    log::warn("- event=pause_watch_failed reason={} fallback=check_every_1s", log::quote(st.message));
  uv_fs_event_init(loop_, control_watch_.get());
  control_watch_.get()->data = this;
  int rc = uv_fs_event_start(
      control_watch_.get(),
      [](uv_fs_event_t* h, const char*, int, int) { static_cast<Dispatcher*>(h->data)->check_pause(); },
      spool::control_dir(root).c_str(), 0);
  if (rc != 0)
    log::warn("- event=pause_watch_failed dir={} reason={} fallback=check_every_1s",
              spool::control_dir(root).string(), log::quote(uv_strerror(rc)));
  uv_timer_init(loop_, pause_timer_.get());
  pause_timer_.get()->data = this;
  uv_timer_start(
      pause_timer_.get(), [](uv_timer_t* t) { static_cast<Dispatcher*>(t->data)->check_pause(); }, kPauseCheckMs,
      kPauseCheckMs);
  check_pause();  // a marker left from before this start: stay paused
}

void Dispatcher::check_pause() {
  if (closed_) return;
  bool now = spool::dispatch_paused(spool_.root());
  if (now != paused_) set_paused(now);
}

void Dispatcher::set_paused(bool paused) {
  paused_ = paused;
  if (paused) {
    candidates_.clear();
    candidate_set_.clear();
    log::info("- event=dispatch_paused in_flight={} pid={} reason={}", jobs_.size(), ::getpid(),
              log::quote("operator marker " + spool::dispatch_pause_marker(spool_.root()).string()));
    return;
  }
  log::info("- event=dispatch_resumed in_flight={} pid={} reason={}", jobs_.size(), ::getpid(),
            log::quote("pause marker removed"));
  schedule_scan();
}

}  // namespace relay::dispatch
