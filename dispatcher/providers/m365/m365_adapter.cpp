// See m365_adapter.hpp. test() and the secret-expiry look-up are in
// m365_check.cpp.
#include "dispatcher/providers/m365/m365_adapter.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/curl_multi.hpp"
#include "common/log.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/large_send.hpp"
#include "dispatcher/providers/m365/m365_provider.hpp"
#include "dispatcher/providers/m365/secret_expiry.hpp"
#include "dispatcher/providers/m365/token_client.hpp"
#include "dispatcher/providers/mail_util.hpp"
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider {

std::unique_ptr<Provider> make_m365(const config::ProviderConfig& cfg, const Context& ctx) {
  return std::make_unique<m365::Adapter>(cfg, ctx);
}

}  // namespace relay::provider

namespace relay::provider::m365 {
namespace {

void validate(const config::ProviderConfig& cfg, const Context& ctx) {
  const auto& m = cfg.m365;
  auto fail = [&](const std::string& what) { throw config::ConfigError("provider " + cfg.name + ": " + what); };
  if (!ctx.loop || !ctx.curl) fail("m365 needs an event loop and a CurlMulti");
  if (m.tenant_id.empty()) fail("tenant_id is required");
  if (m.client_id.empty()) fail("client_id is required");
  const bool cert = !m.certificate_file.empty() || !m.private_key_file.empty();
  if (cert && (m.certificate_file.empty() || m.private_key_file.empty())) {
    fail("certificate_file and private_key_file go together");
  }
  if (!cert && m.client_secret.empty()) fail("client_secret or certificate_file+private_key_file is required");
}

}  // namespace

Adapter::Adapter(const config::ProviderConfig& cfg, const Context& ctx)
    : name_(cfg.name),
      cfg_(cfg.m365),
      // Graph's per-mailbox limits hold for the whole app: coordinated
      // across processes and hosts (SharedLimiter), else each process's share.
      limiter_(ctx.loop, cloud::shared_limits(ctx, "m365", cfg.name, cfg.m365.max_concurrent_per_mailbox,
                                              cfg.m365.rate_per_minute, false)) {
  validate(cfg, ctx);
  if (ctx.config) {
    senders_ = std::make_shared<const config::SenderConfig>(ctx.config->senders);
    users_ = std::make_shared<const std::vector<config::AuthUser>>(ctx.config->receiver.users);
    hostname_ = ctx.config->receiver.hostname;
    max_message_size_ = std::min(ctx.config->receiver.limits.max_message_size, cfg.m365.max_message_size);
  }
  loop_ = ctx.loop;
  if (!cfg_.certificate_file.empty()) {
    signer_ = std::make_shared<JwtSigner>(cfg_.private_key_file, cfg_.certificate_file);
  }
  HttpOptions opt{cfg_.ca_file, tracker_};
  Fetcher fetch = make_fetcher(*ctx.curl, opt, cfg_, signer_);
  auto watched = [this, fetch](FetchDone done) {  // the token endpoint's verdict on the secret
    fetch([this, done](FetchResult r) {
      token_verdict(r);
      done(std::move(r));
    });
  };
  tokens_ = std::make_unique<TokenCache>(watched, &Clock::now, name_);
  tokens_->set_metrics_provider(name_);
  graph_.curl = ctx.curl;
  graph_.opt = opt;
  graph_.base = trim_slash(cfg_.graph_url);
  graph_.timeout = cfg_.timeout;
  graph_.tokens = tokens_.get();
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  set_expiry(cfg_.client_secret_expires, "config");
  start_expiry_timer();
  limiter_.on_wake([this] { kick(); });
}

Adapter::~Adapter() {
  if (limiter_.statements() > 0)
    log::info("provider={} event=limiter_stats statements={} granted={}", name_, limiter_.statements(),
              limiter_.granted());
  // Transfers still running (a delivery released at shutdown, an expiry
  // look-up) must never complete into this destroyed object.
  cancel_all(*graph_.curl, *tracker_);
  for (uv_timer_t* t : {timer_, expiry_timer_}) {
    uv_timer_stop(t);
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
}

void Adapter::start_expiry_timer() {
  expiry_timer_ = new uv_timer_t;
  uv_timer_init(loop_, expiry_timer_);
  expiry_timer_->data = this;
  // Not a reason to keep a loop alive on its own (relayctl's loops end when their work does).
  uv_unref(reinterpret_cast<uv_handle_t*>(expiry_timer_));
  if (signer_ || cfg_.client_secret.empty()) return;  // certificate: nothing to look up
  uv_timer_start(
      expiry_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Adapter*>(t->data);
        if (std::time(nullptr) - self->expiry_checked_ >= kExpiryRecheck - 60) self->refresh_expiry([] {});
      },
      0, kExpiryRecheck * 1000);
}

void Adapter::send(const Message& msg, Done done) {
  auto post_done = [loop = loop_, done = std::move(done)](Result r) {
    post(loop, [done, r = std::move(r)] { done(r); });
  };
  const std::string id = msg.id.str();
  not_started_[id] = false;
  if (std::time(nullptr) - expiry_checked_ > kExpiryRecheck) refresh_expiry([] {});
  // Reading and preparing the message, and for the draft path the GMime
  // split, run on the threadpool with copies of what they need; the rest
  // continues on the loop, unless the adapter was destroyed meanwhile (then
  // the delivery is dropped like a cancelled transfer).
  struct Work {
    Loaded loaded;
    std::shared_ptr<SendPlan> plan;  // which request carries it (send_plan.hpp)
  };
  auto w = std::make_shared<Work>();
  const PlanOptions popt{cfg_.save_to_sent_items, cfg_.json_unfaithful == "refuse", cfg_.max_mime_size};
  offload(
      loop_,
      [w, path = msg.data_path, from = msg.mail_from, rcpts = msg.rcpts, senders = senders_, users = users_,
       auth = msg.auth_user, id, popt] {
        w->loaded = load_and_prepare(
            path, PrepareInput{{}, from, &rcpts, senders.get(), id, std::time(nullptr), auth, users.get()});
        if (w->loaded.ok()) w->plan = std::make_shared<SendPlan>(plan_send(std::move(w->loaded.mime), popt));
      },
      [this, alive = std::weak_ptr<const int>(alive_), w, id, post_done] {
        if (alive.expired() || take_cancelled(id)) return;
        Loaded& l = w->loaded;
        if (!l.ok()) {
          not_started_.erase(id);
          if (l.read_ok) log::warn("{} provider={} event=m365_reject reason={}", id, name_, log::quote(l.error().text));
          return post_done(l.error());
        }
        std::shared_ptr<SendPlan> plan = w->plan;
        if (!plan) {  // the work threw (logged by offload): retry later rather than guess
          not_started_.erase(id);
          return post_done(make_result(Cause::SpoolError, "message could not be prepared for Graph"));
        }
        std::string added;
        for (const auto& a : l.prepared.added) added += (added.empty() ? "" : ",") + a;
        log::debug("{} provider={} event=m365_prepared mailbox={} added={} path={}", id, name_, l.prepared.mailbox,
                   added.empty() ? "-" : added, plan->name());
        if (!plan->unfaithful.empty()) {
          log::warn("{} provider={} event=m365_json_unfaithful action={} reason={}", id, name_,
                    plan->kind == SendPlan::Refused ? "refuse" : "mime_saved_to_sent_items", log::quote(plan->unfaithful));
        }
        if (plan->kind == SendPlan::Refused) {
          not_started_.erase(id);
          return post_done(plan->refused);
        }
        const std::string mailbox = l.prepared.mailbox;
        limiter_.acquire(mailbox, Clock::now(),
                         [this, id, mailbox, plan, post_done](auto busy_until) mutable {
                           if (busy_until) {  // refused: no slot was taken
                             if (take_cancelled(id)) return;
                             not_started_.erase(id);
                             return post_done(hold(id, mailbox, *busy_until));
                           }
                           if (take_cancelled(id)) {  // give the slot back, outside the limiter's pump
                             return post(loop_, [this, alive = std::weak_ptr<const int>(alive_), mailbox] {
                               if (alive.expired()) return;
                               limiter_.release(mailbox, Clock::now());
                               kick();
                             });
                           }
                           not_started_.erase(id);
                           deliver(id, mailbox, std::move(plan), std::move(post_done));
                         });
        kick();
      });
}

CancelResult Adapter::cancel(const spool::QueueId& id) {
  auto it = not_started_.find(id.str());
  if (it == not_started_.end()) return CancelResult::InFlight;
  it->second = true;
  log::info("{} provider={} event=m365_cancelled reason=\"no request started\"", it->first, name_);
  return CancelResult::Stopped;
}

bool Adapter::take_cancelled(const std::string& id) {
  auto it = not_started_.find(id);
  if (it == not_started_.end() || !it->second) return false;
  not_started_.erase(it);
  return true;
}

void Adapter::deliver(const std::string& id, const std::string& mailbox, std::shared_ptr<SendPlan> plan, Done done) {
  auto finish = [this, id, mailbox, done](Result r) {
    finished(id, mailbox, r);
    done(std::move(r));
  };
  if (plan->kind == SendPlan::Draft) {
    if (plan->split) return send_large(graph_, mailbox, std::move(*plan->split), finish);
    return finish(unsplittable());  // the split failed off the loop; parsing it again here would stall the loop
  }
  auto on_413 = [this, id, mailbox, plan, finish](Result r) {
    if (r.code != 413) return finish(std::move(r));
    // Graph's body limit is not exact: take the draft path once.
    log::info("{} provider={} event=m365_413_fallback mailbox={} path={}", id, name_, mailbox, plan->name());
    if (plan->kind == SendPlan::Json) return send_large(graph_, mailbox, std::move(*plan->split), finish);
    offload(  // the GMime split of the MIME form: never on the loop
        loop_, [plan] {
          if (auto sp = split_attachments(plan->mime)) plan->split = std::make_shared<Split>(std::move(*sp));
        },
        [this, alive = std::weak_ptr<const int>(alive_), mailbox, plan, finish] {
          if (alive.expired()) return;
          if (plan->split) return send_large(graph_, mailbox, std::move(*plan->split), finish);
          finish(unsplittable());
        });
  };
  // The request body is the plan's own string, streamed (no copy on the loop, nor for a retry after a 401).
  cloud::Body body;
  body.add(std::shared_ptr<const std::string>(plan, &plan->body));
  if (plan->kind == SendPlan::Json) return send_json(graph_, mailbox, std::move(body), on_413);
  send_mime(graph_, mailbox, std::move(body), on_413);
}

Result Adapter::hold(const std::string& id, const std::string& mailbox, Clock::time_point busy_until) {
  Result r = cloud::held("mailbox " + mailbox, busy_until - Clock::now());
  log::info("{} provider={} event=m365_held mailbox={} retry_in={}s reason=mailbox_busy", id, name_, mailbox,
            *r.retry_after);
  return r;
}

void Adapter::finished(const std::string& id, const std::string& mailbox, const Result& r) {
  const auto now = Clock::now();
  // Throttled, or a quota of the mailbox's (sending, storage): the mailbox
  // pauses once for every message waiting for it, not one request each.
  const bool quota = r.outcome == Outcome::Transient && (r.enhanced == "4.5.3" || r.enhanced == "4.2.2");
  if (r.retry_after && (r.code == 429 || r.code == 503 || r.code == 504 || quota)) {
    limiter_.slow_down(mailbox, now, now + std::chrono::seconds(*r.retry_after));
    log::warn("{} provider={} event=m365_throttled mailbox={} status={} retry_after={}", id, name_, mailbox, r.code,
              *r.retry_after);
  }
  limiter_.release(mailbox, now);
  kick();
  if (r.outcome == Outcome::Sent) {
    log::info("{} provider={} event=m365_accepted mailbox={} status={}", id, name_, mailbox, r.code);
  } else {
    log::warn("{} provider={} event=m365_{} mailbox={} status={} config_error={} reason={}", id, name_,
              to_string(r.outcome), mailbox, r.code, r.config_error, log::quote(r.text));
  }
}

void Adapter::kick() {
  auto wake = limiter_.pump(Clock::now());
  if (!wake) {
    uv_timer_stop(timer_);
    return;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*wake - Clock::now()).count();
  uv_timer_start(timer_, [](uv_timer_t* t) { static_cast<Adapter*>(t->data)->kick(); },
                 static_cast<std::uint64_t>(std::max<long long>(ms, 0) + 1), 0);
}

}  // namespace relay::provider::m365
