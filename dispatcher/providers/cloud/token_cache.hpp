// relay::provider::cloud::TokenCache — one OAuth access token (m365: the
// process's Graph token; gmail: one per impersonated user), shared by every
// delivery that needs it.
//
// Does: hands out the cached token; refreshes it shortly before expires_in
// runs out (5 min, or a fifth of a short lifetime, in milliseconds: a
// 3-second token is renewed after 2.4 s), the lifetime counted from when the
// request was sent (the endpoint counts from then too); after a Graph 401 the
// delivery calls invalidate(token) and the first such call drops it (later
// calls with the same stale token are no-ops), so a burst of 401s makes ONE
// new request; and a token fetched because of a 401 that is refused again
// within a minute is kept (permissions or audience are wrong: another token
// would not help), so a persistent 401 costs one token request, not one per
// message. At most one token request is in flight: concurrent get()s
// wait on it (single flight). Configuration errors (invalid_client,
// AADSTS7000222/7000215, unauthorized_client, invalid_scope, tenant not
// found) are remembered and returned without asking again for a backoff
// that starts at 5 minutes and doubles up to 1 hour, with one loud error log
// per attempt; transient failures back off 10 seconds.
// Does not: build HTTP requests itself — a Fetcher does (m365/ and gmail/
// token_client.hpp),
// so the single-flight logic is unit-tested without I/O.
// Runs on: the loop thread; not thread-safe. Callbacks may run inside get()
// when the answer is already known.
// Fails: TokenResult with ok=false and a classified Result.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider::cloud {

using Clock = std::chrono::steady_clock;

struct FetchResult {
  bool ok = false;
  std::string access_token;
  std::int64_t expires_in = 0;  // seconds
  Result error;                 // when !ok
};
using FetchDone = std::function<void(FetchResult)>;
using Fetcher = std::function<void(FetchDone)>;

struct TokenResult {
  bool ok = false;
  std::string token;
  Result error;
};

class TokenCache {
 public:
  using Callback = std::function<void(const TokenResult&)>;
  using Now = std::function<Clock::time_point()>;

  explicit TokenCache(Fetcher fetch, Now now = &Clock::now, std::string log_name = "m365");
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  void get(Callback cb);
  // Drops the cached token if it is still `token` (a 401 came back for it).
  // False when a retry would only use the same refused token again (it was
  // fetched after a 401 itself, see kRefetchAfter401): do not retry.
  bool invalidate(const std::string& token);

  int requests() const noexcept { return requests_; }   // token requests started
  // Counts relay_token_requests_total / relay_token_failures_total{provider}
  // under this provider name (unset: not counted).
  void set_metrics_provider(std::string name) { metrics_provider_ = std::move(name); }
  bool in_flight() const noexcept { return in_flight_; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  void start_fetch();
  void finish(FetchResult r);
  bool fresh(Clock::time_point now) const;

  Fetcher fetch_;
  Now now_;
  std::string log_name_;
  std::string metrics_provider_;
  std::string token_;
  Clock::time_point refresh_at_{};
  Clock::time_point expires_at_{};
  Clock::time_point fetch_started_{};
  bool in_flight_ = false;
  std::vector<Callback> waiters_;
  Result last_error_;
  Clock::time_point retry_at_{};          // no request before this after a failure
  std::chrono::seconds config_backoff_{0};
  int requests_ = 0;
  // A 401 for a token that was fetched because of a 401 (within this time)
  // does not drop it: see invalidate().
  static constexpr std::chrono::seconds kRefetchAfter401{60};
  Clock::time_point acquired_at_{};
  bool refetch_for_401_ = false;  // the next fetch is caused by invalidate()
  bool fetch_after_401_ = false;  // the fetch in flight is
  bool after_401_ = false;        // the cached token came from such a fetch
};

// An OAuth 2.0 token endpoint's error body (RFC 6749 section 5.2), as
// Microsoft's identity platform and Google send it:
// {"error", "error_description", "error_codes": [...]}. Texts are the first
// line of the description (at most 300 characters), never tokens.
struct TokenError {
  std::string error;        // "invalid_client"
  std::string description;  // first line of error_description
  long aadsts = 0;          // Microsoft: first of error_codes, or parsed from "AADSTSnnnn"
};
TokenError parse_token_error(std::string_view body);

// A token endpoint's 200 body: {"access_token", "expires_in", ...}. ok is
// false without a string access_token (an HTML page, broken JSON).
// expires_in is taken as a number or a numeric string, capped at
// kMaxTokenLifetime; missing, zero, negative or unreadable ones are
// kDefaultTokenLifetime (a token that is really shorter comes back as a 401,
// which refreshes it), so a broken value never makes a token request per
// message nor overflows the clock.
constexpr std::int64_t kDefaultTokenLifetime = 3599;
constexpr std::int64_t kMaxTokenLifetime = 86400;
struct TokenGrant {
  bool ok = false;
  std::string access_token;
  std::int64_t expires_in = kDefaultTokenLifetime;
  bool expires_in_defaulted = false;  // the endpoint's value was missing or unusable
};
TokenGrant parse_token_grant(std::string_view body);

}  // namespace relay::provider::cloud
