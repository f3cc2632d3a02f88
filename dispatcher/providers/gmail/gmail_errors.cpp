// See gmail_errors.hpp. Sources: Google OAuth 2.0 server-to-server and
// refresh-token error responses; Gmail API "Resolve errors" and usage limits.
#include "dispatcher/providers/gmail/gmail_errors.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/mail_util.hpp"  // first_line
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider::gmail {
namespace {

Result with(Cause c, long status, std::string text) {
  Result r = make_result(c);
  r.code = static_cast<int>(status);
  r.text = std::move(text);
  return r;
}

bool rate_reason(const std::string& r) {
  return r == "rateLimitExceeded" || r == "userRateLimitExceeded" || r == "dailyLimitExceeded" ||
         r == "concurrentLimitExceeded" || r == "quotaExceeded" || r == "backendError";
}

}  // namespace

ApiError parse_api_error(std::string_view body) {
  ApiError e;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return e;
  auto it = j.find("error");
  if (it == j.end() || !it->is_object()) return e;
  const auto& o = *it;
  if (auto c = o.find("code"); c != o.end() && c->is_number_integer()) e.code = c->get<int>();
  if (auto s = o.find("status"); s != o.end() && s->is_string()) e.status = first_line(s->get<std::string>());
  if (auto m = o.find("message"); m != o.end() && m->is_string()) e.message = first_line(m->get<std::string>());
  if (auto l = o.find("errors"); l != o.end() && l->is_array() && !l->empty() && (*l)[0].is_object()) {
    const auto& first = (*l)[0];
    if (auto r = first.find("reason"); r != first.end() && r->is_string()) e.reason = first_line(r->get<std::string>());
  }
  return e;
}

Result classify_token(long status, std::string_view body, const TokenContext& ctx) {
  if (status == 429 || status >= 500 || status == 408) {
    return with(Cause::ServiceUnavailable, status, fmt::format("Google token endpoint busy: HTTP {}", status));
  }
  const cloud::TokenError e = cloud::parse_token_error(body);
  const std::string what = fmt::format("{}: {}", e.error.empty() ? fmt::format("HTTP {}", status) : e.error,
                                       e.description.empty() ? "(no description)" : e.description);
  std::string text;
  if (e.error == "invalid_grant" && ctx.service_account) {
    text = fmt::format("service account token refused for {} ({}); check that the user exists in the Workspace "
                       "domain, the key is not deleted, and the clock is right", ctx.subject, what);
  } else if (e.error == "invalid_grant") {
    text = fmt::format("refresh token refused ({}); it was revoked or expired: create a new refresh_token", what);
  } else if (e.error == "unauthorized_client" && ctx.service_account) {
    text = fmt::format("domain-wide delegation missing: client {} may not impersonate users for the requested "
                       "scope; authorize it in the Admin console ({})", ctx.client, what);
  } else if (e.error == "unauthorized_client" || e.error == "invalid_client") {
    text = fmt::format("OAuth client {} rejected ({}); check client_id and client_secret", ctx.client, what);
  } else if (e.error == "invalid_scope") {
    text = fmt::format("invalid scope ({}); check the scope setting", what);
  } else {
    text = fmt::format("token request rejected ({})", what);
  }
  return with(Cause::AuthFailed, status, std::move(text));
}

Result classify_api(long status, std::string_view body, std::string_view retry_after, std::string_view user,
                    std::time_t now) {
  if (status >= 200 && status < 300) return with(Cause::Sent, status, fmt::format("accepted: HTTP {}", status));
  const ApiError e = parse_api_error(body);
  std::string what = e.message.empty() ? fmt::format("HTTP {}", status) : e.message;
  if (!e.reason.empty()) what += " (" + e.reason + ")";
  Result r;
  if (status == 429 || (status == 403 && rate_reason(e.reason))) {
    r = with(Cause::RateLimited, status, fmt::format("Gmail rate limit for {}: {}", user, what));
    r.retry_after = cloud::parse_retry_after(retry_after, now);
  } else if (status == 401) {
    r = with(Cause::AuthFailed, status, fmt::format("access token refused for {}: {}", user, what));
  } else if (status == 403) {
    r = with(Cause::ConfigError, status, fmt::format("Gmail refused access for {}: {}", user, what));
  } else if (status == 413) {
    r = with(Cause::MessageTooBig, status, fmt::format("message too large for Gmail: {}", what));
  } else if (status == 408 || status >= 500) {
    r = with(Cause::ServiceUnavailable, status, fmt::format("Gmail server error: {}", what));
    r.retry_after = cloud::parse_retry_after(retry_after, now);
  } else if (status == 400) {
    r = with(Cause::BadContent, status, fmt::format("Gmail rejected the message: {}", what));
  } else {
    r = with(Cause::UpstreamPermanent, status, fmt::format("Gmail rejected the request: {}", what));
  }
  return r;
}

}  // namespace relay::provider::gmail
