// relay::provider::SmtpProvider — delivers through a classic SMTP relay with
// libcurl on the shared net::CurlMulti.
//
// Does: smtp:// with opportunistic or required STARTTLS, or smtps:// implicit
// TLS; peer verification with a configurable CA file; AUTH PLAIN/LOGIN/XOAUTH2;
// per-recipient results (CURLOPT_MAIL_RCPT_ALLLOWFAILS + the transcript, see
// smtp_transcript.hpp); streams the body from the spooled file (never loads it
// whole); reuses connections through a connection cache of its own (a CURLSH
// with CURL_LOCK_DATA_CONNECT: a connection made with this provider's TLS
// settings and credentials is never reused by another provider to the same
// host), easy handles kept in a per-provider pool; at most `max_connections` transfers at
// once, the rest wait in a FIFO. test(): connect + EHLO (+ STARTTLS) (+ AUTH)
// + NOOP + QUIT.
// Does not: retry (the dispatcher does), rewrite the message, add headers.
// Runs on: the loop thread of ctx.loop / ctx.curl. Done is called exactly
// once per send()/test(), never from inside send()/test(). Destroying the
// provider completes every pending Done with a transient "aborted" result.
// Fails: every failure is a Result classified by SMTP reply code
// (outcome_table.hpp); STARTTLS required but not offered is transient with
// config_error = true (the mail stays queued, the operator is alerted, nothing
// is ever sent in clear).
#pragma once
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/curl_multi.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider {

class SmtpProvider final : public Provider {
 public:
  SmtpProvider(std::string name, config::SmtpProvider cfg, const Context& ctx);
  ~SmtpProvider() override;
  SmtpProvider(const SmtpProvider&) = delete;
  SmtpProvider& operator=(const SmtpProvider&) = delete;

  std::string_view name() const noexcept override { return name_; }
  std::string_view type() const noexcept override { return "smtp"; }
  void send(const Message& msg, Done done) override;
  void test(Done done) override;
  // Stopped while it waits for a connection (over max_connections).
  CancelResult cancel(const spool::QueueId& id) override;

  struct Transfer;  // one send or test; defined in smtp_provider.cpp

 private:
  void enqueue(std::unique_ptr<Transfer> t);
  void start_next();
  void configure(Transfer& t);
  void configure_security(CURL* e);  // TLS and AUTH options
  void finished(Transfer* t, CURLcode rc);

  std::string name_;
  config::SmtpProvider cfg_;
  std::string url_;
  uv_loop_s* loop_;
  net::CurlMulti* curl_;
  CURLSH* share_ = nullptr;                         // this provider's connection cache
  std::vector<net::Easy> pool_;                     // idle easy handles
  std::deque<std::unique_ptr<Transfer>> waiting_;   // over max_connections
  std::vector<std::unique_ptr<Transfer>> running_;
  bool closing_ = false;
};

}  // namespace relay::provider
