// relay::provider::gmail::Adapter — Provider for Google Workspace / Gmail
// through the Gmail API (users.messages.send, raw RFC 822 media upload).
//
// Does: per message: map the spooled file and prepare its header (on the
// threadpool; the message is then streamed from the file by curl, never
// copied: docs/memory.md) with cloud/mime_prepare (sender policy, Bcc for envelope-only
// recipients, Message-ID/Date when missing — Gmail, like Graph, takes
// recipients from the header only), refuse what Gmail would (gmail_limits: 35 MB, 100
// recipients), then send as media upload, or resumable upload above
// resumable_threshold (gmail_send). Credentials: a service account with
// domain-wide delegation impersonating the sending user (sub = `user`, or
// the From mailbox when `user` is empty), or one user's refresh token
// (userId "me"). One token per impersonated user per process, cached until
// shortly before expiry, single flight, config errors backed off
// (cloud::TokenCache, one per subject). test() is in gmail_check.cpp.
// Per user at most max_concurrent_per_user requests in flight across every
// dispatcher of every host (cloud::SharedLimiter through PostgreSQL; each
// process's share without it); a 429 pauses the user for its Retry-After
// (1 s without one, shared by all hosts) and halves this process's cap,
// successes raise it back (adaptive); a user busy for longer than a moment hands the
// message back unsent (Result::held), so it holds no dispatcher slot.
// Does not: retry (the dispatcher does, with Result::retry_after), route.
// Runs on: the loop thread of ctx.loop / ctx.curl. Destroying it cancels
// the transfers still running; their deliveries never call back.
// Fails: every outcome is a Result through Done, posted to the loop.
#pragma once
#include <uv.h>

#include <map>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "dispatcher/providers/cloud/shared_limiter.hpp"
#include "dispatcher/providers/cloud/mime_prepare.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/gmail/gmail_send.hpp"
#include "dispatcher/providers/gmail/service_account.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider::gmail {

class Adapter final : public Provider {
 public:
  Adapter(const config::ProviderConfig& cfg, const Context& ctx);
  ~Adapter() override;  // cancels its running transfers (their callbacks never run)

  std::string_view name() const noexcept override { return name_; }
  std::string_view type() const noexcept override { return "gmail"; }
  void send(const Message& msg, Done done) override;
  void test(Done done) override;
  // Stopped while the message is still being read and prepared.
  CancelResult cancel(const spool::QueueId& id) override;

  int token_requests() const noexcept;
  // Who sends a message whose (prepared) From mailbox is `mailbox`.
  Target target_for(const std::string& mailbox) const;

 private:
  cloud::TokenCache& tokens(const std::string& subject);
  void prepared(const std::string& id, cloud::Loaded l, Done post_done);  // loop thread, after load_and_prepare
  void start(const std::string& id, const Target& t, cloud::Body mime, Done post_done);
  void kick();  // pump the limiter and re-arm its timer
  void test_mailbox(const Target& t, Done done);
  void test_send_as(const Target& t, std::string summary, Done done);

  std::string name_;
  config::GmailProvider cfg_;
  // Shared with threadpool work (reading and preparing messages).
  std::shared_ptr<const config::SenderConfig> senders_ = std::make_shared<const config::SenderConfig>();
  // receiver.users: the dispatcher re-checks the sending mailbox against the AUTH user's allowed_senders.
  std::shared_ptr<const std::vector<config::AuthUser>> users_ = std::make_shared<const std::vector<config::AuthUser>>();
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);  // expires with the adapter
  uv_loop_t* loop_ = nullptr;
  net::CurlMulti* curl_ = nullptr;
  std::shared_ptr<const ServiceAccount> sa_;  // null = refresh token
  std::shared_ptr<cloud::Tracker> tracker_ = std::make_shared<cloud::Tracker>();
  std::map<std::string, std::unique_ptr<cloud::TokenCache>> caches_;
  std::map<std::string, bool> preparing_;  // id -> cancelled, until its first request starts
  Api api_;
  cloud::SharedLimiter limiter_;    // per user (Target::user_id)
  uv_timer_t* timer_ = nullptr;      // limiter wake-up; freed in its close callback
};

}  // namespace relay::provider::gmail
