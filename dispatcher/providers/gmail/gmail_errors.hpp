// relay::provider::gmail error classification — the one place that maps
// Google OAuth token endpoint and Gmail API answers to sent / transient /
// permanent (causes and codes from provider/outcome_table).
//
// Does: parses Google's error bodies — token endpoint {"error",
// "error_description"}, Gmail API {"error":{"code","message","status",
// "errors":[{"reason",...}]}} — and classifies them:
//   token: invalid_grant / unauthorized_client / invalid_client /
//     invalid_scope / access_denied and any other 4xx -> transient with
//     config_error (mail stays queued; TokenCache backs off so the endpoint
//     is not hammered); 429/5xx -> transient.
//   API: 2xx sent; 429 and 403 {rate,userRate,daily,concurrent}LimitExceeded
//     / quotaExceeded -> transient with Retry-After (the header, at least
//     1 s, else the "Retry after <RFC 3339 time>" Gmail writes into the
//     message, else 1 h for dailyLimitExceeded/quotaExceeded and 30 s for the
//     others); 3xx (never followed) and a 4xx without Google's error body
//     (a proxy, a wrong api_url) -> transient config_error; 400
//     failedPrecondition (Gmail not enabled for the user, account state) ->
//     transient config_error; other 403 (domainPolicy,
//     insufficientPermissions, accessNotConfigured, forbidden) and 401 ->
//     transient config_error; 413 -> permanent 5.3.4; 400 invalidArgument /
//     badRequest and other 4xx -> permanent; 408/5xx -> transient.
// Texts are safe to log (first line of Google's message, no tokens).
// Does not: I/O, retry timing. Runs on: any thread; pure.
// Fails: unknown bodies classify by HTTP status alone.
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider::gmail {

struct ApiError {
  int code = 0;
  std::string status;   // "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT", ...
  std::string message;  // first line
  std::string reason;   // errors[0].reason: "rateLimitExceeded", "invalidArgument", ...
};
ApiError parse_api_error(std::string_view body);

struct TokenContext {
  bool service_account = true;
  std::string subject;    // impersonated user ("" for refresh tokens)
  std::string client;     // client_email or client_id, for texts
};
Result classify_token(long status, std::string_view body, const TokenContext& ctx);

// Seconds until the "Retry after 2026-12-03T07:00:00.000Z" (RFC 3339, Z or
// +hh:mm) in `text`, clamped to [0, 1 day]; nullopt when there is none.
std::optional<std::int64_t> parse_retry_after_text(std::string_view text, std::time_t now);

// `user` names the mailbox in texts; `retry_after` and `location` are the
// header values.
Result classify_api(long status, std::string_view body, std::string_view retry_after, std::string_view user,
                    std::time_t now, std::string_view location = {});
// A rate limit without a usable time: the user's queue pauses this long.
constexpr std::int64_t kThrottleDefaultRetry = 30;

}  // namespace relay::provider::gmail
