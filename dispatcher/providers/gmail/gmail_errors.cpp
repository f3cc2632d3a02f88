// See gmail_errors.hpp. Sources: Google OAuth 2.0 server-to-server and
// refresh-token error responses; Gmail API "Resolve errors" and usage limits.
#include "dispatcher/providers/gmail/gmail_errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <optional>

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

int digits(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

std::optional<std::int64_t> parse_retry_after_text(std::string_view text, std::time_t now) {
  static constexpr std::string_view kKey = "retry after ";
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = lower.find(kKey);
  if (at == std::string::npos) return std::nullopt;
  const std::string_view t = std::string_view(text).substr(at + kKey.size());
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
  const int Y = digits(t, 0, 4), M = digits(t, 5, 2), D = digits(t, 8, 2), h = digits(t, 11, 2), m = digits(t, 14, 2),
            sec = digits(t, 17, 2);
  if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60 ||
      t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') || t[13] != ':' || t[16] != ':') {
    return std::nullopt;
  }
  std::size_t i = 19;
  bool fraction = false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    for (; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i) fraction = fraction || t[i] != '0';
  }
  std::int64_t offset = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    const int oh = digits(t, i + 1, 2), om = digits(t, i + 4, 2);
    if (oh < 0 || om < 0 || t[i + 3] != ':') return std::nullopt;
    offset = (t[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  const std::int64_t when = static_cast<std::int64_t>(timegm(&tm)) - offset + (fraction ? 1 : 0);
  return std::clamp<std::int64_t>(when - static_cast<std::int64_t>(now), 0, 86400);
}

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
  } else if (e.error.empty()) {  // an HTML page, a proxy: not Google's answer
    text = fmt::format("token endpoint answered HTTP {} without an OAuth error body; check token_url and any proxy "
                       "in between", status);
  } else {
    text = fmt::format("token request rejected ({})", what);
  }
  return with(Cause::AuthFailed, status, std::move(text));
}

namespace {

bool daily_reason(const std::string& r) { return r == "dailyLimitExceeded" || r == "quotaExceeded"; }

// 429 / 403 rate reasons: the header (at least 1 s), else the time Gmail
// writes into the message ("User-rate limit exceeded.  Retry after
// 2026-12-03T07:00:00.000Z"), else a default: an hour for the daily
// limits, kThrottleDefaultRetry for the others. Never none, so that the
// user's queue pauses once instead of every message trying on its own.
Result rate_limited(long status, const ApiError& e, const std::string& what, std::string_view retry_after,
                    std::string_view user, std::time_t now) {
  const bool daily = daily_reason(e.reason);
  Result r = with(daily ? Cause::QuotaExceeded : Cause::RateLimited, status,
                  fmt::format("Gmail {} for {}: {}", daily ? "daily sending limit" : "rate limit", user, what));
  if (auto ra = cloud::parse_retry_after(retry_after, now)) {
    r.retry_after = std::max<std::int64_t>(*ra, 1);
  } else if (auto rt = parse_retry_after_text(e.message, now)) {
    r.retry_after = std::max<std::int64_t>(*rt, 1);
  } else {
    r.retry_after = daily ? kQuotaRetryAfter : kThrottleDefaultRetry;
  }
  return r;
}

// Not Gmail's answers: a redirect (never followed), or a 4xx without
// Google's JSON error body (a proxy, a wrong api_url): held, not bounced.
std::optional<Result> not_gmail(long status, const ApiError& e, std::string_view location) {
  if (status == 308 && location.empty()) {  // the resumable protocol's "incomplete", resumes used up
    return with(Cause::ServiceUnavailable, status, "Gmail upload incomplete after resuming; retrying later");
  }
  if (status >= 300 && status < 400) {
    return with(Cause::ConfigError, status,
                fmt::format("Gmail endpoint answered a redirect (HTTP {} to {}); relay never follows redirects: "
                            "check api_url and any proxy in between",
                            status, location.empty() ? "no Location" : first_line(location)));
  }
  const bool google = e.code != 0 || !e.status.empty() || !e.reason.empty() || !e.message.empty();
  if (status < 200 || (status >= 400 && status < 500 && !google && status != 401 && status != 403 && status != 408 &&
                       status != 413 && status != 429)) {
    return with(Cause::ConfigError, status,
                fmt::format("HTTP {} without a Google error body: not an answer of the Gmail API; check api_url and "
                            "any proxy in between", status));
  }
  return std::nullopt;
}

}  // namespace

Result classify_api(long status, std::string_view body, std::string_view retry_after, std::string_view user,
                    std::time_t now, std::string_view location) {
  if (status >= 200 && status < 300) return with(Cause::Sent, status, fmt::format("accepted: HTTP {}", status));
  const ApiError e = parse_api_error(body);
  std::string what = e.message.empty() ? fmt::format("HTTP {}", status) : e.message;
  if (!e.reason.empty()) what += " (" + e.reason + ")";
  Result r;
  if (status == 429 || (status == 403 && rate_reason(e.reason))) {
    r = rate_limited(status, e, what, retry_after, user, now);
  } else if (auto other = not_gmail(status, e, location)) {
    r = *other;
  } else if (status == 401) {
    r = with(Cause::AuthFailed, status, fmt::format("access token refused for {} even after fetching a new one: {}",
                                                    user, what));
  } else if (e.reason == "failedPrecondition" || e.status == "FAILED_PRECONDITION") {
    // "Mail service not enabled", "Precondition check failed": the user's
    // account or the domain's setup (Gmail off, account suspended), not the
    // message: held like any configuration error.
    r = with(Cause::ConfigError, status, fmt::format("Gmail account of {} not ready: {}", user, what));
  } else if (status == 403) {
    r = with(Cause::ConfigError, status, fmt::format("Gmail refused access for {} (insufficient scopes, domain "
                                                     "policy, or the API not enabled for the project): {}",
                                                     user, what));
  } else if (status == 413) {
    r = with(Cause::MessageTooBig, status, fmt::format("message too large for Gmail: {}", what));
  } else if (status == 408 || status >= 500) {
    r = with(Cause::ServiceUnavailable, status, fmt::format("Gmail server error: {}", what));
    r.retry_after = cloud::parse_retry_after(retry_after, now);
    if (status == 503 && !r.retry_after) r.retry_after = kThrottleDefaultRetry;
  } else if (status == 400) {
    r = with(Cause::BadContent, status, fmt::format("Gmail rejected the message: {}", what));
  } else {
    r = with(Cause::UpstreamPermanent, status, fmt::format("Gmail rejected the request: {}", what));
  }
  return r;
}

}  // namespace relay::provider::gmail
