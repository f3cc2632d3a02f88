// relay::provider::m365 error classification — the one table that maps
// Microsoft identity platform and Graph responses to sent / transient /
// permanent (STYLE.md 6).
//
// Does: parses the token endpoint's error body ({"error", "error_description"
// "AADSTSnnnn: ...", "error_codes": [...]}, parsed by cloud::parse_token_error)
// and Graph's {"error":{"code","message"}}; Retry-After is
// cloud::parse_retry_after's. Texts are safe to log: the first line of
// Microsoft's description, never tokens or secrets.
// Does not: do I/O or decide retry timing (the dispatcher's RetryPolicy).
// Runs on: any thread; pure functions.
// Fails: unknown bodies classify by HTTP status alone.
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider::m365 {

struct GraphError {
  std::string code;     // "ErrorInvalidRecipients", "InvalidAuthenticationToken", ...
  std::string message;
};
// Extracts {"error":{"code","message"}}; empty code when the body is not one.
GraphError parse_graph_error(std::string_view body);

struct TokenContext {
  std::string tenant_id, client_id, login_url;
};
// Classifies a failed token request. Credential/config problems come back
// Transient with config_error = true (mail stays queued; operator alerted).
// temporarily_unavailable / AADSTS90024 / AADSTS90033 are plain transient
// with retry_after = kTokenHiccupRetry; 429/5xx are plain transient.
constexpr std::int64_t kTokenHiccupRetry = 10;
Result classify_token(long status, std::string_view body, const TokenContext& ctx);

// Classifies a Graph response (any call). `mailbox` names the sender in texts.
// 2xx = Sent. 401 InvalidAuthenticationToken = Transient (caller refreshes
// the token once and retries). 429/503 carry retry_after. The table
// (docs/cloud-errors.md has it with the reasons):
//   429/503/504                         transient 4.7.0, Retry-After (at
//                                       least 1 s; 30 s when missing)
//   3xx, 4xx without a Graph error body transient config_error (never followed)
//   401 (after the one token refresh)   transient config_error 4.7.0
//   413, ErrorMessageSizeExceeded       permanent 5.3.4
//   ErrorInvalidRecipients              permanent 5.1.1 (per message)
//   ErrorSendAsDenied                   permanent 5.7.1 (per message)
//   *SubmissionQuotaExceeded*           transient 4.5.3, retry_after 1 h
//   ErrorQuotaExceeded (storage full)   transient 4.2.2, retry_after 1 h
//   403 (ErrorAccessDenied, Authorization_RequestDenied, any other 403)
//                                       transient config_error 4.7.0
//   MailboxNotEnabledForRESTAPI         transient config_error (licence/setup)
//   ErrorInvalidUser, *NotFound         permanent 5.1.8 (sendMail; the large
//                                       path restarts the draft instead)
//   5xx, 408                            transient 4.3.0
//   anything else                       permanent 5.6.0
// `location` is the Location header (named in the text of a 3xx).
Result classify_graph(long status, std::string_view body, std::string_view retry_after,
                      std::string_view mailbox, std::time_t now, std::string_view location = {});
// 429/503/504 without a usable Retry-After: the mailbox pauses this long.
constexpr std::int64_t kThrottleDefaultRetry = 30;

// A transport failure (no HTTP response): transient; an untrusted server
// certificate (wrong ca_file, intercepting proxy) is a config_error.
Result classify_transport(int curl_code, std::string_view curl_error);

// True when the response is Graph's "token expired/invalid" 401.
bool is_invalid_token(long status, std::string_view body);

}  // namespace relay::provider::m365
