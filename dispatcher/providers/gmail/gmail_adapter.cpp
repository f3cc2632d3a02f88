// See gmail_adapter.hpp. test() is in gmail_check.cpp.
#include "dispatcher/providers/gmail/gmail_adapter.hpp"


#include "common/log.hpp"
#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/mime_prepare.hpp"
#include "dispatcher/providers/gmail/gmail_limits.hpp"
#include "dispatcher/providers/gmail/gmail_provider.hpp"
#include "dispatcher/providers/gmail/token_client.hpp"
#include "dispatcher/providers/mail_util.hpp"
#include "dispatcher/providers/outcome_table.hpp"
#include "dispatcher/providers/post.hpp"

namespace relay::provider {

std::unique_ptr<Provider> make_gmail(const config::ProviderConfig& cfg, const Context& ctx) {
  return std::make_unique<gmail::Adapter>(cfg, ctx);
}

}  // namespace relay::provider

namespace relay::provider::gmail {
namespace {

void validate(const config::ProviderConfig& cfg, const Context& ctx) {
  const auto& g = cfg.gmail;
  auto fail = [&](const std::string& what) { throw config::ConfigError("provider " + cfg.name + ": " + what); };
  if (!ctx.loop || !ctx.curl) fail("gmail needs an event loop and a CurlMulti");
  const bool user_token = !g.client_id.empty() && !g.client_secret.empty() && !g.refresh_token.empty();
  if (g.service_account_file.empty() && !user_token) {
    fail("service_account_file, or client_id + client_secret + refresh_token, is required");
  }
  if (g.scope.empty()) fail("scope must not be empty");
}

}  // namespace

Adapter::Adapter(const config::ProviderConfig& cfg, const Context& ctx)
    : name_(cfg.name),
      cfg_(cfg.gmail),
      // the per-user cap holds for every dispatcher of every host
      // (SharedLimiter), else each process gets its share
      limiter_(ctx.loop, cloud::shared_limits(ctx, "gmail", cfg.name, cfg.gmail.max_concurrent_per_user, 0,
                                              /*adaptive=*/true)) {
  validate(cfg, ctx);
  if (ctx.config) {
    senders_ = std::make_shared<const config::SenderConfig>(ctx.config->senders);
    users_ = std::make_shared<const std::vector<config::AuthUser>>(ctx.config->receiver.users);
  }
  loop_ = ctx.loop;
  curl_ = ctx.curl;
  if (!cfg_.service_account_file.empty()) {
    try {
      sa_ = std::make_shared<ServiceAccount>(ServiceAccount::load(cfg_.service_account_file));
    } catch (const config::ConfigError& e) {
      throw config::ConfigError("provider " + name_ + ": " + e.what());
    }
  }
  cfg_.token_url = cloud::trim_slash(cfg_.token_url);
  api_.curl = curl_;
  api_.opt.ca_file = cfg_.ca_file;
  api_.opt.tracker = tracker_;
  api_.base = cloud::trim_slash(cfg_.api_url);
  api_.timeout = cfg_.timeout;
  api_.tokens = [this](const std::string& subject) -> cloud::TokenCache& { return tokens(subject); };
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  limiter_.on_wake([this] { kick(); });
}

Adapter::~Adapter() {
  if (limiter_.statements() > 0)
    log::info("provider={} event=limiter_stats statements={} granted={}", name_, limiter_.statements(),
              limiter_.granted());
  cloud::cancel_all(*curl_, *tracker_);
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Adapter::kick() {
  auto wake = limiter_.pump(cloud::Clock::now());
  if (!wake) {
    uv_timer_stop(timer_);
    return;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*wake - cloud::Clock::now()).count();
  uv_timer_start(timer_, [](uv_timer_t* t) { static_cast<Adapter*>(t->data)->kick(); },
                 static_cast<std::uint64_t>(std::max<long long>(ms, 0) + 1), 0);
}

cloud::TokenCache& Adapter::tokens(const std::string& subject) {
  auto& slot = caches_[subject];
  if (!slot) {
    slot = std::make_unique<cloud::TokenCache>(make_fetcher(*curl_, api_.opt, cfg_, sa_, sa_ ? subject : ""),
                                              &cloud::Clock::now, "provider=" + name_ + " subject=" + subject);
    slot->set_metrics_provider(name_);
  }
  return *slot;
}

int Adapter::token_requests() const noexcept {
  int n = 0;
  for (const auto& [_, c] : caches_) n += c->requests();
  return n;
}

Target Adapter::target_for(const std::string& mailbox) const {
  if (!sa_) return Target{"me", cfg_.user.empty() ? "me" : cfg_.user};
  const std::string& who = cfg_.user.empty() ? mailbox : cfg_.user;
  std::string low = who;  // one token per user, however the From was spelled
  for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Target{low, low};
}

void Adapter::send(const Message& msg, Done done) {
  auto post_done = [loop = loop_, done = std::move(done)](Result r) {
    post(loop, [done, r = std::move(r)] { done(r); });
  };
  const std::string id = msg.id.str();
  // Reading and preparing run on the threadpool with copies of what they
  // need; the rest continues on the loop unless the adapter was destroyed
  // meanwhile (then the delivery is dropped like a cancelled transfer).
  auto loaded = std::make_shared<cloud::Loaded>();
  preparing_[id] = false;
  offload(
      loop_,
      [loaded, path = msg.data_path, from = msg.mail_from, rcpts = msg.rcpts, senders = senders_, users = users_,
       auth = msg.auth_user, id] {
        // want_mime false: the message is streamed from the spool file (head + body), never copied
        *loaded = cloud::load_and_prepare(path, cloud::PrepareInput{{}, from, &rcpts, senders.get(), id,
                                                                  std::time(nullptr), auth, users.get()},
                                          /*want_mime=*/false);
      },
      [this, alive = std::weak_ptr<const int>(alive_), loaded, id, post_done] {
        if (alive.expired()) return;
        auto it = preparing_.find(id);
        const bool cancelled = it != preparing_.end() && it->second;
        if (it != preparing_.end()) preparing_.erase(it);
        if (!cancelled) prepared(id, std::move(*loaded), post_done);
      });
}

CancelResult Adapter::cancel(const spool::QueueId& id) {
  auto it = preparing_.find(id.str());
  if (it == preparing_.end()) return CancelResult::InFlight;
  it->second = true;
  log::info("{} provider={} event=gmail_cancelled reason=\"no request started\"", it->first, name_);
  return CancelResult::Stopped;
}

void Adapter::prepared(const std::string& id, cloud::Loaded l, Done post_done) {
  if (!l.ok()) {
    if (l.read_ok) log::warn("{} provider={} event=gmail_reject reason={}", id, name_, log::quote(l.error().text));
    return post_done(l.error());
  }
  const cloud::Prepared& p = l.prepared;
  cloud::Body mime = l.stream();  // the new header block, then the spooled file: never a copy in memory
  const auto rcpts = header_recipients(p.head);
  if (auto over = check_limits(mime.size(), rcpts.size(), cfg_.max_message_size, cfg_.max_recipients)) {
    log::warn("{} provider={} event=gmail_reject reason={}", id, name_, log::quote(over->text));
    return post_done(*over);
  }
  Target t = target_for(p.mailbox);
  t.log_id = id;
  std::string added;
  for (const auto& a : p.added) added += (added.empty() ? "" : ",") + a;
  log::debug("{} provider={} event=gmail_prepared user={} size={} rcpts={} added={}", id, name_, t.user_id,
             mime.size(), rcpts.size(), added.empty() ? "-" : added);
  // Gmail limits requests in flight per user: wait for one of the user's
  // slots, or hand the message back unsent when that would take long.
  limiter_.acquire(t.user_id, cloud::Clock::now(), [this, id, t, mime, post_done](auto busy_until) mutable {
    if (!busy_until) return start(id, t, std::move(mime), std::move(post_done));
    Result r = cloud::held("user " + t.user_id, *busy_until - cloud::Clock::now());
    log::info("{} provider={} event=gmail_held user={} retry_in={}s reason=user_busy", id, name_, t.user_id,
              *r.retry_after);
    post_done(std::move(r));
  });
  kick();
}

void Adapter::start(const std::string& id, const Target& t, cloud::Body mime, Done post_done) {
  const bool resumable = mime.size() > cfg_.resumable_threshold;
  auto finish = [this, id, user = t.user_id, post_done](Result r) {
    const auto now = cloud::Clock::now();
    // Gmail's rate and concurrency limits. Not a configuration error (a
    // token refused: invalid_grant, unauthorized_client, ...): its
    // retry_after is the token cache's backoff, not Gmail slowing the user,
    // and the cache already answers later mail from memory; slowing the user
    // for it held every later message unattempted as "user busy", without
    // the error's reason, for the whole backoff.
    if (!r.config_error && (r.code == 429 || (r.outcome == Outcome::Transient && r.retry_after))) {
      limiter_.slow_down(user, now, now + std::chrono::seconds(std::max<std::int64_t>(1, r.retry_after.value_or(1))));
      // "Too many concurrent requests for user" clears as soon as fewer are
      // in flight (the cap was just lowered): retry in seconds, not after
      // the backoff.
      if (!r.retry_after && r.text.find("concurrent") != std::string::npos) r.retry_after = 2;
      log::warn("{} provider={} event=gmail_throttled user={} status={} cap={}", id, name_, user, r.code,
                limiter_.cap(user));
    }
    limiter_.release(user, now, r.outcome == Outcome::Sent);
    kick();
    if (r.outcome == Outcome::Sent) {
      log::info("{} provider={} event=gmail_accepted user={} gmail_id={}", id, name_, user, r.provider_id);
    } else {
      log::warn("{} provider={} event=gmail_{} user={} status={} config_error={} reason={}", id, name_,
                to_string(r.outcome), user, r.code, r.config_error, log::quote(r.text));
    }
    post_done(std::move(r));
  };
  if (resumable) return send_resumable(api_, t, std::move(mime), std::move(finish));
  send_media(api_, t, std::move(mime), std::move(finish));
}

}  // namespace relay::provider::gmail
