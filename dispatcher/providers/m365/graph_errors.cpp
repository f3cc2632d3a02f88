// See graph_errors.hpp. Sources: Microsoft identity platform error codes
// (AADSTS), Graph error responses and throttling guidance.
#include "dispatcher/providers/m365/graph_errors.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "dispatcher/providers/mail_util.hpp"  // first_line
#include "dispatcher/providers/outcome_table.hpp"  // is_submission_quota, kQuotaRetryAfter

namespace relay::provider::m365 {
namespace {

using nlohmann::json;

Result make(Outcome o, long status, std::string enhanced, std::string text) {
  Result r;
  r.outcome = o;
  r.code = static_cast<int>(status);
  r.enhanced = std::move(enhanced);
  r.text = std::move(text);
  return r;
}

Result config_error(long status, std::string text) {
  Result r = make(Outcome::Transient, status, "4.7.0", std::move(text));
  r.config_error = true;
  return r;
}

}  // namespace

GraphError parse_graph_error(std::string_view body) {
  GraphError e;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return e;
  auto it = j.find("error");
  if (it == j.end() || !it->is_object()) return e;
  if (auto c = it->find("code"); c != it->end() && c->is_string()) e.code = first_line(c->get<std::string>());
  if (auto m = it->find("message"); m != it->end() && m->is_string()) e.message = first_line(m->get<std::string>());
  return e;
}

Result classify_token(long status, std::string_view body, const TokenContext& ctx) {
  if (status == 429 || status >= 500) {
    Result r = make(Outcome::Transient, status, "4.4.3", fmt::format("token endpoint busy: HTTP {}", status));
    return r;
  }
  TokenError e = parse_token_error(body);
  const std::string desc = e.description.empty() ? fmt::format("HTTP {}", status) : e.description;
  // Entra's own hiccups (RFC 6749 temporarily_unavailable; AADSTS90024 request
  // budget exceeded; AADSTS90033 a transient error) pass within seconds: a
  // short transient retry (TokenCache: 10 s), not a configuration error.
  if (e.error == "temporarily_unavailable" || e.aadsts == 90024 || e.aadsts == 90033) {
    Result r = make(Outcome::Transient, status, "4.4.3", fmt::format("token endpoint temporarily unavailable: {}", desc));
    r.retry_after = kTokenHiccupRetry;
    return r;
  }
  switch (e.aadsts) {
    case 90002:
      return config_error(status, fmt::format("tenant not found: tenant '{}' does not exist at {} (AADSTS90002); check tenant_id",
                                              ctx.tenant_id, ctx.login_url));
    case 7000215:
      return config_error(status, fmt::format("wrong client secret: client_secret is not a valid secret of app {} (AADSTS7000215)",
                                              ctx.client_id));
    case 7000222:
      return config_error(status, fmt::format("expired client secret: the client_secret of app {} has expired; create a new one "
                                              "and update client_secret (AADSTS7000222)", ctx.client_id));
    case 700016:
      return config_error(status, fmt::format("application not found: client_id {} is not registered in tenant {} (AADSTS700016)",
                                              ctx.client_id, ctx.tenant_id));
    case 700027:
    case 700024:
      return config_error(status, fmt::format("certificate assertion rejected: {}", desc));
    default:
      break;
  }
  if (e.error.empty() && e.aadsts == 0) {  // an HTML page, a proxy: not the identity platform's answer
    return config_error(status, fmt::format("token endpoint answered HTTP {} without an OAuth error body; check "
                                            "login_url ({}) and any proxy in between", status, ctx.login_url));
  }
  if (e.error == "invalid_scope") return config_error(status, "invalid scope: " + desc);
  if (e.error == "unauthorized_client") return config_error(status, "unauthorized client: " + desc);
  if (e.error == "invalid_client") return config_error(status, "invalid client credentials: " + desc);
  if (desc.find("not found") != std::string::npos && desc.find("enant") != std::string::npos) {
    return config_error(status, fmt::format("tenant not found: {}", desc));
  }
  return config_error(status, fmt::format("token request rejected ({}): {}", e.error.empty() ? "?" : e.error, desc));
}

bool is_invalid_token(long status, std::string_view body) {
  return status == 401 && parse_graph_error(body).code != "ErrorAccessDenied";
}

Result classify_transport(int curl_code, std::string_view curl_error) {
  switch (curl_code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
      // The endpoint's certificate is not trusted: a wrong ca_file, or a
      // TLS-intercepting proxy. Retrying will not change it: held.
      return config_error(0, fmt::format("TLS certificate of the endpoint not trusted: {} ({}); check ca_file and "
                                         "any TLS-intercepting proxy", curl_error, curl_code));
    default:
      break;
  }
  Result r = make(Outcome::Transient, 0, "4.4.1",
                  fmt::format("transport error: {} ({})", curl_error, curl_code));
  return r;
}

namespace {

// 429/503/504: when to try again. Retry-After as sent, at least 1 s (a "0"
// would let every queued message of the mailbox hit Graph at once), and
// kThrottleDefaultRetry when missing or unparseable, so that the mailbox
// pauses once for everyone instead of each message retrying on its own.
std::int64_t throttle_retry(std::string_view retry_after, std::time_t now) {
  auto ra = parse_retry_after(retry_after, now);
  return ra ? std::max<std::int64_t>(*ra, 1) : kThrottleDefaultRetry;
}

// Answers that are not Graph's: a redirect, or a 4xx without Graph's JSON
// error body (a proxy, a captive portal, a wrong graph_url). Not the
// message's fault: held as a configuration problem, naming what to check.
std::optional<Result> not_graph(long status, const GraphError& e, std::string_view location) {
  if (status >= 300 && status < 400) {
    return config_error(status, fmt::format("Graph endpoint answered a redirect (HTTP {} to {}); relay never follows "
                                            "redirects: check graph_url and any proxy in between",
                                            status, location.empty() ? "no Location" : first_line(location)));
  }
  if (status < 200 || (status >= 400 && status < 500 && e.code.empty() && status != 401 && status != 403 &&
                       status != 408 && status != 413 && status != 429)) {
    return config_error(status, fmt::format("HTTP {} without a Graph error body: not an answer of Graph; check "
                                            "graph_url and any proxy in between", status));
  }
  return std::nullopt;
}

// The answers that name a cause outside the message: the mailbox's quotas,
// permissions, licence.
std::optional<Result> mailbox_state(long status, const GraphError& e, const std::string& what,
                                    std::string_view mailbox) {
  if (is_submission_quota(e.code) || is_submission_quota(e.message)) {
    Result r = make(Outcome::Transient, status, "4.5.3",
                    fmt::format("sending quota of mailbox {} exceeded, retrying in an hour: {}", mailbox, what));
    r.retry_after = kQuotaRetryAfter;
    return r;
  }
  if (e.code == "ErrorQuotaExceeded" || e.code == "QuotaExceeded") {  // the mailbox's storage is full
    Result r = make(Outcome::Transient, status, "4.2.2",
                    fmt::format("mailbox {} is over its storage quota, retrying in an hour: free space in it (Sent "
                                "Items, Drafts) or raise its quota: {}", mailbox, what));
    r.retry_after = kQuotaRetryAfter;
    return r;
  }
  if (e.code == "ErrorAccessDenied" || e.code == "Authorization_RequestDenied" || status == 403 || status == 401) {
    // Missing Mail.Send, missing admin consent, an application access policy
    // (possibly still propagating), or a token Graph refuses even fresh
    // (Graph::call already fetched a new one once): the provider's setup,
    // not this message. Held, alerted, fallback allowed.
    return config_error(status, fmt::format("missing permission: access denied for mailbox {} (Mail.Send not granted, "
                                            "admin consent missing, or an application access policy excludes it): {}",
                                            mailbox, what));
  }
  if (e.code == "MailboxNotEnabledForRESTAPI" || e.code == "MailboxNotSupportedForRESTAPI") {
    // No licence, inactive, soft-deleted, on-premises, or still being
    // provisioned: the tenant's setup for this sender, not the message.
    return config_error(status, fmt::format("mailbox not enabled: {} has no Exchange Online mailbox Graph can use "
                                            "(no licence, inactive, soft-deleted or on-premises); assign a licence "
                                            "or route this sender to another provider: {}", mailbox, what));
  }
  return std::nullopt;
}

}  // namespace

Result classify_graph(long status, std::string_view body, std::string_view retry_after,
                      std::string_view mailbox, std::time_t now, std::string_view location) {
  if (status >= 200 && status < 300) return make(Outcome::Sent, status, "2.0.0", fmt::format("accepted: HTTP {}", status));
  GraphError e = parse_graph_error(body);
  const std::string what = e.code.empty() ? fmt::format("HTTP {}", status)
                                          : fmt::format("{}: {}", e.code, e.message);
  if (status == 429 || status == 503 || status == 504) {
    Result r = make(Outcome::Transient, status, "4.7.0", fmt::format("throttled, mailbox {} slowed: {}", mailbox, what));
    r.retry_after = throttle_retry(retry_after, now);
    return r;
  }
  if (auto r = not_graph(status, e, location)) return *r;
  if (status == 401 && e.code != "ErrorAccessDenied") {
    Result r = config_error(status, fmt::format("access token rejected twice (a new one was fetched after the first "
                                                "401): check tenant_id, client_id and the app's API permissions: {}",
                                                what));
    return r;
  }
  if (status == 413 || e.code == "ErrorMessageSizeExceeded" || e.code == "RequestEntityTooLarge") {
    return make(Outcome::Permanent, status, "5.3.4", fmt::format("message too large for Microsoft 365: {}", what));
  }
  if (e.code == "ErrorInvalidRecipients") {
    return make(Outcome::Permanent, status, "5.1.1", fmt::format("invalid recipients: {}", what));
  }
  if (e.code == "ErrorSendAsDenied") {
    return make(Outcome::Permanent, status, "5.7.1",
                fmt::format("mailbox {} may not send as this From address: {}", mailbox, what));
  }
  if (auto r = mailbox_state(status, e, what, mailbox)) return *r;
  if (e.code == "ErrorInvalidUser" || e.code == "Request_ResourceNotFound" || e.code == "ResourceNotFound" ||
      e.code == "ErrorItemNotFound") {
    return make(Outcome::Permanent, status, "5.1.8", fmt::format("sender mailbox {} not found: {}", mailbox, what));
  }
  if (status >= 500 || status == 408) {
    Result r = make(Outcome::Transient, status, "4.3.0", fmt::format("Graph server error: {}", what));
    r.retry_after = parse_retry_after(retry_after, now);
    return r;
  }
  return make(Outcome::Permanent, status, "5.6.0", fmt::format("rejected by Graph: {}", what));
}

}  // namespace relay::provider::m365
