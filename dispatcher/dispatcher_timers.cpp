// See dispatcher.hpp. This file: periodic work (scan, sweep, heartbeat,
// secret status) and the graceful shutdown. Signals and reload:
// dispatcher_reload.cpp.
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/metrics_registry.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/job.hpp"
#include "dispatcher/providers/post.hpp"

namespace relay::dispatch {
namespace {

template <typename F>
void start_timer(uv_loop_t* loop, UvHandle<uv_timer_t>& t, void* self, std::uint64_t first_ms,
                 std::uint64_t repeat_ms, F cb) {
  uv_timer_init(loop, t.get());
  t.get()->data = self;
  uv_timer_start(t.get(), cb, first_ms, repeat_ms);
}

Dispatcher* self_of(uv_timer_t* t) { return static_cast<Dispatcher*>(t->data); }

}  // namespace

void Dispatcher::start_timers() {
  start_timer(loop_, scan_timer_, this, 0, settings_.scan_interval * 1000,
              [](uv_timer_t* t) { self_of(t)->schedule_scan(); });
  start_timer(loop_, sweep_timer_, this, 0, settings_.sweep_interval * 1000,
              [](uv_timer_t* t) { self_of(t)->sweep(); });
  start_timer(loop_, heartbeat_timer_, this, 200, settings_.heartbeat_interval * 1000,
              [](uv_timer_t* t) { self_of(t)->heartbeat(); });
  start_timer(loop_, secret_timer_, this, 1000, settings_.secret_interval * 1000,
              [](uv_timer_t* t) { self_of(t)->report_secrets(); });
}

void Dispatcher::sweep() {
  retry_notices();
  if (sweep_running_ || stopping_) return;
  sweep_running_ = true;
  ++background_work_;
  auto report = std::make_shared<spool::SweepReport>();
  spool::SweepOptions opt;
  opt.orphan_grace = settings_.orphan_grace;
  opt.failed_keep = settings_.failed_keep;
  provider::offload(
      loop_, [this, report, opt] { *report = spool_.sweep(opt); },
      [this, report] {
        sweep_running_ = false;
        --background_work_;
        for (const auto& line : report->log) log::info("{}", line);
        if (report->recovered_claims || report->due_deferred) schedule_scan();
        if (std::exchange(sweep_again_, false)) sweep();
      });
}

void Dispatcher::wake_at(std::int64_t due_s) {
  if (stopping_ || due_s <= 0 || due_s - std::time(nullptr) > settings_.sweep_interval) return;  // the sweeper will do
  wake_times_.insert(due_s);
  arm_wake();
}

void Dispatcher::arm_wake() {
  if (wake_times_.empty() || stopping_ || !wake_timer_.open()) return;
  if (wake_timer_.get()->loop == nullptr) {
    uv_timer_init(loop_, wake_timer_.get());
    wake_timer_.get()->data = this;
  }
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const std::int64_t now_ms = static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  const std::int64_t in_ms = std::max<std::int64_t>(0, *wake_times_.begin() * 1000 - now_ms) + 20;
  uv_timer_start(
      wake_timer_.get(),
      [](uv_timer_t* t) {
        Dispatcher* self = self_of(t);
        const std::int64_t now = std::time(nullptr);
        while (!self->wake_times_.empty() && *self->wake_times_.begin() <= now)
          self->wake_times_.erase(self->wake_times_.begin());
        if (self->sweep_running_) self->sweep_again_ = true;
        else self->sweep();
        self->arm_wake();
      },
      static_cast<std::uint64_t>(in_ms), 0);
}

void Dispatcher::heartbeat() {
  dlog::HeartbeatRecord h;
  h.kind = "dispatcher";
  h.host = host_;
  h.pid = static_cast<int>(::getpid());
  h.started_at = started_us_;
  h.seen_at = dlog::now_us();
  nlohmann::json c{{"uptime_s", (h.seen_at - started_us_) / 1000000},
                   {"claimed", counters_.claimed},
                   {"sent", counters_.sent},
                   {"deferred", counters_.deferred},
                   {"failed", counters_.failed},
                   {"released", counters_.released},
                   {"in_flight", jobs_.size()}};
  auto st = dlog_.stats();
  c["db_connected"] = st.connected;
  c["journaled"] = st.journaled;
  h.counters_json = c.dump();
  dlog_.post(std::move(h));
  if (!secret_reported_.empty()) report_secrets(/*only_changed=*/true);
}

void Dispatcher::report_secrets(bool only_changed) {
  for (const auto& [name, p] : providers_->map) {
    auto s = p->secret_status();
    if (!s) continue;
    std::string sig = s->expires + "|" + s->state + "|" + s->source + "|" + std::to_string(s->days_left);
    if (only_changed && secret_reported_[name] == sig) continue;
    secret_reported_[name] = sig;
    dlog::SecretRecord r{name, s->expires, std::nullopt, s->source, s->state, s->detail, dlog::now_us(), host_};
    if (!s->expires.empty()) r.days_left = s->days_left;
    if (!s->expires.empty())
      metrics::registry().set("relay_client_secret_days_left", {{"provider", name}}, static_cast<double>(s->days_left));
    if (s->state == "warning" || s->state == "expired")
      log::warn("- event=secret_expiry provider={} state={} expires={} days_left={} detail={}", name, s->state,
                s->expires, s->days_left, log::quote(s->detail));
    dlog_.post(std::move(r));
    if (!stopping_) secret_notice(name, *s);
  }
}

void Dispatcher::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  log::info("- event=draining in_flight={} timeout={}s", jobs_.size(), settings_.drain_timeout);
  for (auto& w : watches_) w.close();
  scan_timer_.close();
  sweep_timer_.close();
  wake_timer_.close();
  candidates_.clear();
  candidate_set_.clear();
  drain_deadline_ms_ = uv_now(loop_) + static_cast<std::uint64_t>(settings_.drain_timeout) * 1000;
  hard_deadline_ms_ = drain_deadline_ms_ + static_cast<std::uint64_t>(settings_.in_flight_grace) * 1000;
  start_timer(loop_, drain_timer_, this, 0, 50, [](uv_timer_t* t) { self_of(t)->drain_tick(); });
}

void Dispatcher::drain_tick() {
  if (closed_) return;
  if (jobs_.empty() && background_work_ == 0) {
    close_all();
    return;
  }
  const std::uint64_t now = uv_now(loop_);
  if (now >= drain_deadline_ms_) release_sending(now >= hard_deadline_ms_);
}

// After drain_timeout: an entry is released only once its delivery is known
// to be stopped (the provider cancelled it before any request started).
// One whose request may still be accepted stays claimed until its answer
// comes, or until in_flight_grace has run out too (hard): then it is
// released although the provider may deliver it (at-least-once).
void Dispatcher::release_sending(bool hard) {
  for (auto& [id, job] : jobs_) {
    if (job->stage != Job::Stage::Sending) continue;
    if (!hard) {
      if (job->cancel_asked) continue;
      job->cancel_asked = true;
      if (job->prov && job->prov->cancel(job->id) == provider::CancelResult::InFlight) {
        log::warn("{} event=drain_timeout provider={} action=wait reason=\"request may be accepted\" grace={}s", id,
                  job->provider, settings_.in_flight_grace);
        continue;
      }
      log::info("{} event=drain_timeout provider={} action=release reason=\"cancelled before any request\"", id,
                job->provider);
    } else {
      log::warn("{} event=drain_abandon provider={} action=release possible_duplicate=true reason=\"no answer within "
                "drain_timeout+in_flight_grace\"",
                id, job->provider);
    }
    job->seq = 0;  // a late provider callback is ignored
    job->prov = nullptr;
    job->release = true;
    finish(id, true);
  }
}

void Dispatcher::close_all() {
  if (closed_) return;
  closed_ = true;
  for (auto* t : {&scan_timer_, &sweep_timer_, &heartbeat_timer_, &secret_timer_, &drain_timer_, &wake_timer_,
                  &pause_timer_})
    t->close();
  control_watch_.close();
  for (auto* s : {&sigterm_, &sigint_, &sighup_}) s->close();
  for (auto& w : watches_) w.close();
  poster_.close();
  log::info("- event=stopped sent={} deferred={} failed={} released={}", counters_.sent, counters_.deferred,
            counters_.failed, counters_.released);
  if (on_stopped_) on_stopped_();
}

}  // namespace relay::dispatch
