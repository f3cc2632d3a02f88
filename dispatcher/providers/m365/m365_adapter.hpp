// relay::provider::m365::Adapter — Provider for Microsoft 365 via Graph.
//
// Does: per message: read the spooled bytes and prepare them (mime_prepare:
// sender policy, Bcc for envelope-only recipients, Message-ID/Date) on the
// threadpool, wait for a slot of the sending mailbox (SharedLimiter:
// max_concurrent_per_mailbox and rate_per_minute hold for every dispatcher
// of every host through PostgreSQL, or each process's static share without
// it; a mailbox busy for longer than a moment hands the
// message back unsent, Result::held, so waiting for it holds no dispatcher
// slot), then the request send_plan chose on the threadpool: JSON sendMail
// with saveToSentItems false (save_to_sent_items false), MIME sendMail
// (true, or a message JSON cannot carry with json_unfaithful: mime), or
// above the request limits the draft + upload-session path (large_send). A
// 413 from sendMail falls back to the draft path once (the MIME split then
// runs on the threadpool too). 429/503 slow that mailbox for
// Retry-After. The access token is one per process (TokenCache). Tracks
// client-secret expiry (config date, refreshed from Graph when the app may
// read itself) and logs warnings at expiry_warn_days; the Graph look-up
// runs as soon as the loop runs and then every 12 hours, so an idle
// dispatcher reports it too. test(): token, permission (roles claim) and
// sender mailbox check with exact messages.
// Does not: retry (the dispatcher does, with Result::retry_after), route.
// Runs on: the loop thread of ctx.loop / ctx.curl (file reads and MIME
// parsing: the uv threadpool). Destroying it cancels its transfers still
// running (their callbacks, and the Done of deliveries in flight or still
// being prepared, are dropped); ctx.curl must outlive it.
// Fails: every outcome is a Result through Done, posted to the loop.
#pragma once
#include <uv.h>

#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/config.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/graph_send.hpp"
#include "dispatcher/providers/m365/jwt_assertion.hpp"
#include "dispatcher/providers/m365/large_send.hpp"
#include "dispatcher/providers/m365/send_plan.hpp"
#include "dispatcher/providers/cloud/shared_limiter.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider::m365 {

class Adapter final : public Provider {
 public:
  Adapter(const config::ProviderConfig& cfg, const Context& ctx);
  ~Adapter() override;

  std::string_view name() const noexcept override { return name_; }
  std::string_view type() const noexcept override { return "m365"; }
  void send(const Message& msg, Done done) override;
  void test(Done done) override;
  std::optional<SecretStatus> secret_status() const override;
  // Stopped while the message is being prepared or waits for a mailbox slot.
  CancelResult cancel(const spool::QueueId& id) override;

  int token_requests() const noexcept { return tokens_->requests(); }

 private:
  void deliver(const std::string& id, const std::string& mailbox, std::shared_ptr<SendPlan> plan, Done done);
  void finished(const std::string& id, const std::string& mailbox, const Result& r);
  Result hold(const std::string& id, const std::string& mailbox, Clock::time_point busy_until);  // refused by the limiter
  void kick();  // pump the limiter and re-arm its timer
  bool take_cancelled(const std::string& id);  // true (and forgotten) when cancel() stopped it
  void refresh_expiry(std::function<void()> then);
  void start_expiry_timer();
  static constexpr std::int64_t kExpiryRecheck = 12 * 3600;  // seconds between Graph expiry look-ups
  void set_expiry(const std::string& date, const std::string& source);
  void token_verdict(const FetchResult& r);  // AADSTS7000222: expired, whatever the date said
  void test_mailbox(const std::string& token, Done done);
  std::vector<std::pair<std::string, std::string>> needed_permissions() const;  // role, the path that needs it
  std::string missing_permission(const std::vector<std::string>& roles) const;  // "" = all granted

  std::string name_;
  config::M365Provider cfg_;
  // Shared with threadpool work (reading and preparing messages).
  std::shared_ptr<const config::SenderConfig> senders_ = std::make_shared<const config::SenderConfig>();
  // receiver.users: the dispatcher re-checks the sending mailbox against the AUTH user's allowed_senders.
  std::shared_ptr<const std::vector<config::AuthUser>> users_ = std::make_shared<const std::vector<config::AuthUser>>();
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);  // expires with the adapter
  std::string hostname_;
  std::uint64_t max_message_size_ = 35ull << 20;  // receiver.limits.max_message_size: can a message reach the draft path?
  uv_loop_t* loop_ = nullptr;
  std::shared_ptr<Tracker> tracker_ = std::make_shared<Tracker>();  // our transfers, cancelled by ~Adapter
  std::shared_ptr<const JwtSigner> signer_;
  std::unique_ptr<TokenCache> tokens_;
  Graph graph_;
  cloud::SharedLimiter limiter_;
  uv_timer_t* timer_ = nullptr;     // limiter wake-up; freed in its close callback
  uv_timer_t* expiry_timer_ = nullptr;  // Graph expiry look-up at start and every 12 h
  SecretStatus secret_;
  std::map<std::string, bool> not_started_;  // id -> cancelled, until its first request starts
  std::optional<int> warned_at_;    // last expiry threshold logged
  std::time_t expiry_checked_ = 0;  // last Graph passwordCredentials look-up
};

}  // namespace relay::provider::m365
