// See dispatcher.hpp. This file: one delivery attempt of a claimed entry,
// its records, and finishing the entry in the spool.
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "common/log.hpp"
#include "common/metrics_registry.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/job.hpp"
#include "dispatcher/notice.hpp"
#include "dispatcher/providers/post.hpp"

namespace relay::dispatch {
namespace {

std::vector<std::string> pending_rcpts(const spool::Envelope& env) {
  std::vector<std::string> out;
  for (const auto& r : env.rcpts)
    if (r.state == spool::RcptState::Pending) out.push_back(r.address);
  return out;
}

// Whole seconds rounded UP: next_attempt = now + delay must never fall
// before a provider's Retry-After has fully run (the sweeper compares whole
// seconds; truncating here let a retry come up to 1 s early).
std::int64_t now_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) + (ts.tv_nsec > 0 ? 1 : 0);
}

}  // namespace

void Dispatcher::begin_attempt(Job& job) {
  job.env = job.claim->envelope();
  if (!job.info.parsed) {
    fail_unparseable(job);
    return;
  }
  if (job.env.pending_count() == 0) {  // finished before a crash, not yet removed
    job.decision = decide(job.env, policy_, now_s(), std::nullopt);
    record_and_finish(job);
    return;
  }
  RouteInput in{job.env.mail_from, job.info.from_address, job.env.auth_user, job.env.size};
  RouteChoice choice = settings_.router.choose(in, job.env.attempts);
  if (choice.provider.empty()) return hold_unroutable(job, choice.rule);
  if (choice.fallback) log::info("{} event=route provider={} rule={}", job.id.str(), choice.provider, log::quote(choice.rule));
  send(job, choice.provider, choice.fallback);
}

// No provider may carry the message (the routes or a provider's
// max_message_size changed after the receiver accepted it): kept in hold/
// with the reason, never bounced; `relayctl queue release` retries it.
void Dispatcher::hold_unroutable(Job& job, const std::string& reason) {
  job.env.last_error = reason;
  job.decision = Decision{Action::Hold, "queued", reason, {}};
  metrics::registry().add("relay_deliveries_total", {{"provider", "-"}, {"outcome", "no_route"}});
  record_and_finish(job);
}

void Dispatcher::send(Job& job, const std::string& provider_name, bool fallback) {
  job.attempted = pending_rcpts(job.env);
  job.provider = provider_name;
  job.seq = ++send_seq_;
  job.stage = Job::Stage::Sending;
  job.attempt_started_us = dlog::now_us();
  job.attempt_t0_ms = uv_now(loop_);
  if (job.env.attempts == 0 && job.first_attempt_us == 0) job.first_attempt_us = job.attempt_started_us;
  std::string id = job.id.str();
  std::uint64_t seq = job.seq;
  auto it = providers_->map.find(provider_name);
  job.prov = it == providers_->map.end() ? nullptr : it->second;
  job.set = providers_.get();
  job.cancel_asked = false;
  if (it == providers_->map.end()) {
    provider::Result r;
    r.outcome = provider::Outcome::Transient;
    r.config_error = true;
    r.text = "provider '" + provider_name + "' is not configured in this process";
    on_sent(id, seq, std::move(r));
    return;
  }
  provider::Message msg{job.id,           job.env.mail_from,     job.attempted,        job.claim->data_path(),
                        job.env.size,     job.env.auth_user,     job.info.from_address};
  log::debug("{} event=sending provider={} attempt={} rcpts={} fallback={}", id, provider_name,
             job.env.attempts + 1, job.attempted.size(), fallback);
  try {
    it->second->send(msg, [this, id, seq](provider::Result r) { on_sent(id, seq, std::move(r)); });
  } catch (const std::exception& e) {  // the interface says never; be safe anyway
    provider::Result r;
    r.text = std::string("provider threw: ") + e.what();
    on_sent(id, seq, std::move(r));
  }
}

void Dispatcher::on_sent(const std::string& id, std::uint64_t seq, provider::Result r) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->stage != Job::Stage::Sending || it->second->seq != seq) return;
  Job& job = *it->second;
  job.seq = 0;
  job.prov = nullptr;
  if (!retired_.empty()) poster_.post([this] { collect_retired(); });  // not from inside the provider's callback
  if (r.held) return on_held(job, std::move(r));
  job.env.attempts++;
  job.env.provider = job.provider;
  std::int64_t duration = static_cast<std::int64_t>(uv_now(loop_) - job.attempt_t0_ms);
  dlog::AttemptRecord a{id, job.env.attempts, job.provider, std::string(provider::to_string(r.outcome)),
                        r.code, r.enhanced, r.text, job.attempted, duration, host_, static_cast<int>(::getpid()),
                        job.attempt_started_us};
  job.records.emplace_back(std::move(a));
  apply_result(job.env, job.attempted, r);
  count_attempt(job.provider, r.outcome == provider::Outcome::Sent        ? "sent"
                              : r.outcome == provider::Outcome::Permanent ? "permanent"
                                                                          : "transient",
                duration);
  log::info("{} event=attempt attempt={} provider={} outcome={} code={} enhanced={} duration_ms={} rcpts={} response={}",
            id, job.env.attempts, job.provider, provider::to_string(r.outcome), r.code,
            r.enhanced.empty() ? "-" : r.enhanced, duration, job.attempted.size(), log::quote(r.text));
  bool pending = job.env.pending_count() > 0;
  const ConfigAlerts::Change alert = config_alerts_.on_result(job.provider, r);
  if (alert != ConfigAlerts::Change::None) publish_alert(job.provider, alert == ConfigAlerts::Change::Raised, r.text);
  if (alert == ConfigAlerts::Change::Cleared)
    log::warn("{} event=provider_config_cleared provider={} reason=\"the provider accepted a delivery\"", id, job.provider);
  if (r.outcome == provider::Outcome::Transient && r.config_error && pending) {
    if (alert == ConfigAlerts::Change::Raised) {  // once per state change, not per held message
      log::error("{} event=provider_config_error provider={} reason={} action=\"mail held, not bounced; fix the "
                 "provider configuration\"", id, job.provider, log::quote(r.text));
      config_notice(job.provider, r.text);
    } else {
      log::info("{} event=config_error_held provider={} reason={}", id, job.provider, log::quote(r.text));
    }
    if (!job.fallback_tried && !stopping_ && settings_.router.fallback_on_config_error(job.provider, job.env.size)) {
      job.fallback_tried = true;
      log::warn("{} event=fallback from={} to={} reason=config_error", id, job.provider, settings_.router.fallback());
      send(job, settings_.router.fallback(), true);
      return;
    }
    // Keep the mail queued and stop hammering a misconfigured provider.
    r.retry_after = std::max(r.retry_after.value_or(0), settings_.retry.max_backoff);
  }
  job.decision = decide(job.env, policy_, now_s(), r.retry_after);
  record_and_finish(job);
}

// The adapter held the message back unsent (its mailbox is busy or
// throttled): not an attempt, so no attempt record, no attempts++, no
// fallback; the entry waits exactly retry_after and frees its slot now.
void Dispatcher::on_held(Job& job, provider::Result r) {
  log::info("{} event=held provider={} retry_in={}s reason={}", job.id.str(), job.provider, r.retry_after.value_or(0),
            log::quote(r.text));
  job.env.provider = job.provider;
  job.env.last_error = r.text;  // why it waits, for `relayctl queue`
  metrics::registry().add("relay_deliveries_total", {{"provider", job.provider}, {"outcome", "held"}});
  job.decision = decide(job.env, policy_, now_s(), r.retry_after.value_or(1));
  record_and_finish(job);
}

void Dispatcher::count_attempt(const std::string& provider, const char* outcome, std::int64_t duration_ms) {
  auto& m = metrics::registry();
  m.add("relay_deliveries_total", {{"provider", provider}, {"outcome", outcome}});
  m.observe("relay_delivery_duration_seconds", {{"provider", provider}}, static_cast<double>(duration_ms) / 1000.0);
}

// The admin endpoint's /healthz reports a raised alert with its reason.
void Dispatcher::publish_alert(const std::string& provider, bool raised, const std::string& reason) {
  auto& m = metrics::registry();
  m.erase("relay_provider_config_error", "provider", provider);
  if (raised) m.set("relay_provider_config_error", {{"provider", provider}, {"reason", reason.substr(0, 300)}}, 1);
}

void Dispatcher::fail_unparseable(Job& job) {
  std::string why = "unparseable message: " + job.info.error;
  job.attempted = pending_rcpts(job.env);
  job.env.attempts++;
  for (auto& rc : job.env.rcpts)
    if (rc.state == spool::RcptState::Pending) {
      rc.state = spool::RcptState::Failed;
      rc.last_reply = why;
    }
  job.env.last_error = why;
  std::int64_t now = dlog::now_us();
  if (job.env.attempts == 1) job.first_attempt_us = now;
  job.provider = "-";
  job.env.provider = "-";
  job.records.emplace_back(dlog::AttemptRecord{job.id.str(), job.env.attempts, "-", "permanent", 0, "5.6.0", why,
                                               job.attempted, 0, host_, static_cast<int>(::getpid()), now});
  job.decision = decide(job.env, policy_, now_s(), std::nullopt);
  count_attempt("-", "permanent", 0);
  record_and_finish(job);
}

void Dispatcher::record_and_finish(Job& job) {
  const auto& env = job.env;
  dlog::MessageRecord m;
  m.queue_id = job.id.str();
  m.mail_from = env.mail_from;
  m.header_from = job.info.from_address;
  for (const auto& r : env.rcpts) {
    m.rcpts.push_back(r.address);
    m.rcpt_states.emplace_back(spool::to_string(r.state));
    m.rcpt_replies.push_back(r.last_reply);
  }
  m.tls = env.tls;
  m.client_helo = env.client_helo;
  m.host = host_;
  m.subject = job.info.subject;
  m.message_id = job.info.message_id;
  m.size = env.size;
  m.client_addr = env.client_addr;
  m.auth_user = env.auth_user;
  m.provider = env.provider;
  m.status = job.decision.status;
  m.received_at = env.received_at * 1000000;
  m.first_attempt_at = job.first_attempt_us;
  m.finished_at = m.status == "queued" ? 0 : dlog::now_us();
  m.last_error = env.last_error;
  m.attempts = env.attempts;
  job.records.emplace_back(std::move(m));
  job.stage = Job::Stage::Recording;
  std::string id = job.id.str();
  auto sink = poster_.sink();
  dlog_.post(std::move(job.records), [this, sink, id](bool durable) { sink([this, id, durable] { finish(id, durable); }); });
  job.records.clear();
}

void Dispatcher::finish(const std::string& id, bool durable) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second->stage == Job::Stage::Finishing) return;
  Job* job = it->second.get();
  if (!durable) log::error("{} event=record_not_durable action=finish_anyway", id);
  job->stage = Job::Stage::Finishing;
  bool notice = !job->release && job->decision.action == Action::Fail && wants_notice(job->env, settings_.failure_notice_to);
  const bool bounce = !job->release && job->decision.action == Action::Fail && wants_bounce(*job);
  std::string notice_to = settings_.failure_notice_to, hostname = settings_.hostname;
  std::string notice_from = settings_.notice_from;
  BounceContext bctx = bounce ? bounce_context(*job) : BounceContext{};
  provider::offload(
      loop_,
      [this, job, notice, notice_to, notice_from, hostname, bounce, bctx] {
        // The original's header block for the DSN, read while the claim is held.
        std::string headers = bounce ? read_header_block(job->claim->data_path()) : std::string();
        spool::Status st;
        if (job->release) st = job->claim->release();
        else if (job->decision.action == Action::Done) st = job->claim->done();
        else if (job->decision.action == Action::Defer) st = job->claim->defer(job->env);
        else if (job->decision.action == Action::Hold) st = job->claim->hold(job->env);
        else st = fail_with_notices(*job, notice ? &notice_to : nullptr, notice_from, hostname,
                                    bounce ? &bctx : nullptr, headers);
        if (!st.ok()) job->finish_error = st.message;
      },
      [this, job] { on_finished(*job); });
}

void Dispatcher::on_finished(Job& job) {
  std::string id = job.id.str();
  if (!job.finish_error.empty()) {
    log::error("{} event=spool_error action={} reason={}", id, job.release ? "release" : to_string(job.decision.action),
               log::quote(job.finish_error));
    if (job.claim && !job.claim->finished() && retry_finish(job)) return;
  }
  if (job.release) {
    ++counters_.released;
    log::info("{} event=released reason=shutdown", id);
  } else if (job.decision.action == Action::Done) {
    ++counters_.sent;
    log::info("{} event=delivered provider={} attempts={} rcpts={}", id, job.env.provider, job.env.attempts, job.env.rcpts.size());
  } else if (job.decision.action == Action::Hold) {
    log::warn("{} event=held_no_route size={} reason={} action=\"kept in hold/, not bounced: fix routes or a "
              "provider's max_message_size, then relayctl queue release\"", id, job.env.size,
              log::quote(job.decision.reason));
  } else if (job.decision.action == Action::Defer) {
    ++counters_.deferred;
    wake_at(job.env.next_attempt);
    log::info("{} event=deferred provider={} attempts={} pending={} retry_in={}s rule={} reason={}", id, job.env.provider,
              job.env.attempts, job.env.pending_count(), job.decision.retry.delay, job.decision.retry.reason,
              log::quote(job.decision.reason));
  } else {
    ++counters_.failed;
    log::warn("{} event=failed status={} provider={} attempts={} reason={}", id, job.decision.status, job.env.provider,
              job.env.attempts, log::quote(job.decision.reason));
    if (!job.notice_id.empty()) {
      ++counters_.notices;
      log::info("{} event=notice_queued notice_id={} to=<{}>", id, job.notice_id, settings_.failure_notice_to);
    }
    log_bounce(job);
  }
  jobs_.erase(id);
  pump();
}

}  // namespace relay::dispatch

namespace relay::dispatch {

// The entry stays in active/, locked by this claim, so no other dispatcher
// or sweeper can take it back with its old recipient states.
bool Dispatcher::retry_finish(Job& job) {
  if (stopping_ && uv_now(loop_) >= hard_deadline_ms_) {
    log::error("{} event=progress_lost reason=\"spool write still failing at stop\" action=leave_active", job.id.str());
    return false;
  }
  job.finish_delay_ms = std::min<std::uint64_t>(60000, std::max<std::uint64_t>(1000, job.finish_delay_ms * 2));
  log::warn("{} event=spool_retry action={} retry_in_ms={} pending={}", job.id.str(),
            job.release ? "release" : to_string(job.decision.action), job.finish_delay_ms, job.env.pending_count());
  job.owner = this;
  if (!job.finish_timer.get()->loop) uv_timer_init(loop_, job.finish_timer.get());
  job.finish_timer.get()->data = &job;
  uv_timer_start(
      job.finish_timer.get(),
      [](uv_timer_t* t) {
        auto* j = static_cast<Job*>(t->data);
        j->finish_error.clear();  // notice_id/bounce_id stay: those are queued, not again
        j->bounce_error.clear();
        j->stage = Job::Stage::Recording;  // finish() runs again with the same decision and envelope
        j->owner->finish(j->id.str(), true);
      },
      job.finish_delay_ms, 0);
  return true;
}

}  // namespace relay::dispatch
