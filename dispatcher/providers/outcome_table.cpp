// The outcome table (see outcome_table.hpp). Codes follow RFC 3463/5248 and
// what Postfix prints for the same situations.
#include "dispatcher/providers/outcome_table.hpp"

#include <array>
#include <cctype>

namespace relay::provider {

namespace {

using O = Outcome;

// One row per Cause, in enum order (checked by lookup()).
constexpr std::array<OutcomeEntry, 22> kTable{{
    {Cause::Sent, O::Sent, 250, "2.0.0", "message accepted by provider", false},
    {Cause::DnsFailed, O::Transient, 451, "4.4.3", "upstream host name lookup failed", false},
    {Cause::ConnectFailed, O::Transient, 451, "4.4.1", "connection to upstream failed", false},
    {Cause::Timeout, O::Transient, 451, "4.4.2", "upstream timed out", false},
    {Cause::TransportError, O::Transient, 451, "4.4.0", "upstream transport error", false},
    {Cause::TlsUnavailable, O::Transient, 451, "4.7.5",
     "TLS is required, but was not offered by upstream", true},
    {Cause::TlsFailed, O::Transient, 451, "4.7.5", "TLS with upstream failed", true},
    {Cause::AuthFailed, O::Transient, 451, "4.7.8", "upstream rejected our credentials", true},
    {Cause::ConfigError, O::Transient, 451, "4.3.5", "provider misconfigured", true},
    {Cause::RateLimited, O::Transient, 451, "4.7.0", "upstream rate limit reached", false},
    {Cause::QuotaExceeded, O::Transient, 452, "4.5.3", "upstream sending quota exceeded", false},
    {Cause::ServiceUnavailable, O::Transient, 451, "4.3.2", "upstream service unavailable", false},
    {Cause::UpstreamTransient, O::Transient, 451, "4.0.0", "upstream deferred the message", false},
    {Cause::UpstreamPermanent, O::Permanent, 550, "5.0.0", "upstream rejected the message", false},
    {Cause::RecipientRefused, O::Permanent, 550, "5.1.1", "recipient rejected by upstream", false},
    {Cause::SenderRefused, O::Permanent, 553, "5.7.1", "provider refuses this sender", false},
    {Cause::MessageTooBig, O::Permanent, 552, "5.3.4", "message too big for provider", false},
    {Cause::BadContent, O::Permanent, 554, "5.6.0", "provider rejected the message content", false},
    {Cause::LocalIoError, O::Transient, 451, "4.3.0", "local I/O error", false},
    {Cause::DiskFull, O::Transient, 452, "4.3.1", "insufficient system storage", false},
    {Cause::SpoolError, O::Transient, 451, "4.3.0", "spooled message unreadable", false},
    {Cause::Aborted, O::Transient, 451, "4.3.2", "delivery aborted by shutdown", false},
}};

constexpr std::array<std::string_view, kTable.size()> kNames{
    "sent",           "dns_failed",        "connect_failed",      "timeout",
    "transport_error", "tls_unavailable",  "tls_failed",          "auth_failed",
    "config_error",   "rate_limited",      "quota_exceeded",      "service_unavailable", "upstream_transient",
    "upstream_permanent", "recipient_refused", "sender_refused",  "message_too_big",
    "bad_content",    "local_io_error",    "disk_full",           "spool_error",
    "aborted"};

}  // namespace

std::string_view to_string(Cause c) noexcept {
  auto i = static_cast<std::size_t>(c);
  return i < kNames.size() ? kNames[i] : "unknown";
}

const OutcomeEntry& lookup(Cause c) noexcept {
  auto i = static_cast<std::size_t>(c);
  if (i >= kTable.size() || kTable[i].cause != c) return kTable[4];  // TransportError
  return kTable[i];
}

Result make_result(Cause c, std::string_view detail) {
  const OutcomeEntry& e = lookup(c);
  Result r;
  r.outcome = e.outcome;
  r.code = 0;  // Result::code is what the upstream said; 0 = no reply
  r.enhanced = std::string(e.enhanced);
  r.text = std::string(e.text);
  if (!detail.empty()) {
    r.text += ": ";
    r.text += detail;
  }
  r.config_error = e.config_error;
  return r;
}

Outcome outcome_for_smtp(int code) noexcept {
  if (code >= 200 && code < 400) return Outcome::Sent;
  if (code >= 500 && code < 600) return Outcome::Permanent;
  return Outcome::Transient;
}

std::string default_enhanced(int smtp_code) {
  switch (outcome_for_smtp(smtp_code)) {
    case Outcome::Sent: return "2.0.0";
    case Outcome::Permanent: return "5.0.0";
    case Outcome::Transient: return "4.0.0";
  }
  return "4.0.0";
}

std::string parse_enhanced(std::string_view t) {
  // class "." subject(1-3 digits) "." detail(1-3 digits), then space or end.
  auto digits = [&](std::size_t& i, std::size_t max) {
    std::size_t start = i;
    while (i < t.size() && i - start < max && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    return i > start;
  };
  if (t.size() < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.') return {};
  std::size_t i = 2;
  if (!digits(i, 3) || i >= t.size() || t[i] != '.') return {};
  ++i;
  if (!digits(i, 3)) return {};
  if (i < t.size() && t[i] != ' ') return {};
  return std::string(t.substr(0, i));
}

Cause cause_for_smtp(int code) noexcept {
  if (code >= 200 && code < 400) return Cause::Sent;
  if (code == 535 || code == 534 || code == 454) return Cause::AuthFailed;
  if (code == 552) return Cause::MessageTooBig;
  if (code >= 500 && code < 600) return Cause::UpstreamPermanent;
  if (code >= 400 && code < 500) return Cause::UpstreamTransient;
  return Cause::TransportError;
}

bool is_submission_quota(std::string_view text) noexcept {
  static constexpr std::string_view kNeedle = "submissionquotaexceeded";
  if (text.size() < kNeedle.size()) return false;
  for (std::size_t i = 0; i + kNeedle.size() <= text.size(); ++i) {
    std::size_t k = 0;
    while (k < kNeedle.size() && std::tolower(static_cast<unsigned char>(text[i + k])) == kNeedle[k]) ++k;
    if (k == kNeedle.size()) return true;
  }
  return false;
}

Cause cause_for_smtp_reply(std::string_view verb, int code, std::string_view text) noexcept {
  if (code >= 200 && code < 400) return Cause::Sent;
  if (code >= 400 && code < 600 && is_submission_quota(text)) return Cause::QuotaExceeded;
  if (verb == "AUTH" && code >= 400 && code < 600) {
    return code == 535 || code == 534 || code == 454 ? Cause::AuthFailed : Cause::ConfigError;
  }
  if (verb == "MAIL" && (code == 530 || (code >= 500 && code < 600 && text.rfind("5.7.57", 0) == 0))) {
    return Cause::ConfigError;
  }
  return cause_for_smtp(code);
}

Outcome outcome_for_smtp_reply(std::string_view verb, int code, std::string_view text) noexcept {
  const Cause c = cause_for_smtp_reply(verb, code, text);
  if (c == Cause::ConfigError || c == Cause::AuthFailed || c == Cause::QuotaExceeded) return lookup(c).outcome;
  return outcome_for_smtp(code);
}

Cause cause_for_http(int status) noexcept {
  if (status >= 200 && status < 300) return Cause::Sent;
  switch (status) {
    case 0: return Cause::TransportError;
    case 400: return Cause::BadContent;
    case 401: return Cause::AuthFailed;
    case 403: return Cause::ConfigError;
    case 408: return Cause::Timeout;
    case 413: return Cause::MessageTooBig;
    case 429: return Cause::RateLimited;
    default: break;
  }
  if (status >= 500) return Cause::ServiceUnavailable;
  if (status >= 400) return Cause::UpstreamPermanent;
  return Cause::TransportError;  // 1xx/3xx where a final answer was expected
}

Cause cause_for_curl(CURLcode rc) noexcept {
  switch (rc) {
    case CURLE_OK: return Cause::Sent;
    case CURLE_COULDNT_RESOLVE_HOST: return Cause::DnsFailed;
    case CURLE_COULDNT_CONNECT: return Cause::ConnectFailed;
    case CURLE_OPERATION_TIMEDOUT: return Cause::Timeout;
    case CURLE_USE_SSL_FAILED: return Cause::TlsUnavailable;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR: return Cause::TlsFailed;
    case CURLE_LOGIN_DENIED: return Cause::AuthFailed;
    case CURLE_ABORTED_BY_CALLBACK: return Cause::Aborted;
    case CURLE_READ_ERROR: return Cause::SpoolError;
    case CURLE_FILESIZE_EXCEEDED: return Cause::MessageTooBig;
    default: return Cause::TransportError;
  }
}

std::string smtp_reply(const Result& r) {
  int code = r.code >= 200 && r.code < 600 ? r.code : 0;
  if (code == 0) code = r.outcome == Outcome::Sent ? 250 : r.outcome == Outcome::Permanent ? 550 : 451;
  std::string enh = r.enhanced.empty() ? default_enhanced(code) : r.enhanced;
  return std::to_string(code) + " " + enh + " " + r.text;
}

std::string smtp_reply(const RcptResult& r) {
  int code = r.code >= 200 && r.code < 600 ? r.code : (r.outcome == Outcome::Permanent ? 550 : 451);
  std::string enh = parse_enhanced(r.text);
  if (!enh.empty()) return std::to_string(code) + " " + r.text;
  return std::to_string(code) + " " + default_enhanced(code) + " " + r.text;
}

}  // namespace relay::provider
