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
// XOAUTH2 with an oauth: section (docs/smtp-oauth.md): each transfer first
// gets a token from the provider's one TokenCache (smtp_oauth.hpp) while it
// holds its connection slot; a token failure is that transfer's Result
// (transient; config_error for bad credentials: held, not bounced); an AUTH
// refusal of the token (535, or the 334 error challenge) drops the cached
// token and retries the transfer once with a fresh one, in the same attempt.
// Connections are reused only by transfers with the same token (libcurl
// compares the bearer), so a refreshed token opens new ones.
// Does not: retry (the dispatcher does), rewrite the message, add headers.
// Runs on: the loop thread of ctx.loop / ctx.curl. Done is called exactly
// once per send()/test(), never from inside send()/test(). Destroying the
// provider completes every pending Done with a transient "aborted" result.
// Fails: every failure is a Result classified by SMTP reply code
// (outcome_table.hpp); STARTTLS required but not offered is transient with
// config_error = true (the mail stays queued, the operator is alerted, nothing
// is ever sent in clear). Between EHLO and MAIL (libcurl's pre-request
// callback) smtp_checks.hpp stops what the upstream cannot take (SIZE,
// 8BITMIME, SMTPUTF8) or credentials AUTH could not use; libcurl's error
// text (CURLOPT_ERRORBUFFER) names TLS and transport causes. Against
// hostile upstreams: dispatcher/providers/README.md, "smtp against broken
// or hostile upstreams" (including libcurl 7.88's blocking wait for the
// end-of-data reply).
#pragma once
#include <deque>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <string>
#include <vector>

#include "common/curl_multi.hpp"
#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/provider.hpp"
#include "dispatcher/providers/smtp_transcript.hpp"

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
  // Called by libcurl's pre-request callback, before MAIL: false stops the
  // transfer (its Result is set) when the upstream cannot take the message.
  bool before_mail(Transfer& t);
  // libcurl's socket callbacks: the provider knows its open sockets.
  static curl_socket_t open_socket(void* ud, curlsocktype purpose, curl_sockaddr* addr);
  static int close_socket(void* ud, curl_socket_t s);

 private:
  void enqueue(std::unique_ptr<Transfer> t);
  void start_next();
  void acquire(Transfer* t);  // token first (oauth), then launch
  void launch(Transfer* t);
  void token_failed(Transfer* t, Result r);
  bool retry_with_new_token(std::unique_ptr<Transfer>& t, CURLcode rc);
  std::unique_ptr<Transfer> take_running(Transfer* t);
  void configure(Transfer& t);
  void configure_security(CURL* e, const Transfer& t);  // TLS and AUTH options
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
  bool starting_ = false;                           // inside start_next(): no recursion
  std::shared_ptr<cloud::Tracker> tracker_ = std::make_shared<cloud::Tracker>();  // token requests
  std::unique_ptr<cloud::TokenCache> tokens_;       // oauth: configured; else null
  struct ConnState {
    SmtpCapabilities caps;  // what the connection's EHLO offered
    bool authed = false;
    bool tls = false;       // STARTTLS done
  };
  std::unordered_map<curl_socket_t, ConnState> conns_;  // by socket; a new connection overwrites
  std::unordered_set<curl_socket_t> sockets_;            // opened by libcurl for us, not closed yet
};

}  // namespace relay::provider
