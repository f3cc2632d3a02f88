// relay::provider outcome table — the ONE place that maps why a delivery
// ended (a Cause) to sent/transient/permanent, an SMTP reply code, an
// RFC 3463 enhanced status code and a short text (Postfix cleanup_strerror
// style). Adapters classify with it, the dispatcher's notices and log lines
// print with it, so "451 4.7.5" means the same thing everywhere.
//
// Does: the table; helpers from an SMTP reply code, an HTTP status or a
// CURLcode to a Cause/Outcome; formatting of "550 5.1.1 text" replies.
// Does not: I/O, retry timing. Pure functions, any thread.
// Fails: never; unknown inputs map to the generic transient entry.
#pragma once
#include <curl/curl.h>

#include <string>
#include <string_view>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider {

enum class Cause {
  Sent,
  // Transport (all transient: the mail stays queued).
  DnsFailed,
  ConnectFailed,
  Timeout,
  TransportError,
  // TLS and credentials: transient + config_error (alert, keep queued).
  TlsUnavailable,     // STARTTLS required but not offered
  TlsFailed,          // handshake / certificate verification failed
  AuthFailed,         // credentials rejected (SMTP 535, HTTP 401, OAuth invalid_client)
  ConfigError,        // provider misconfigured or lacks permission (HTTP 403)
  // Upstream answers.
  RateLimited,        // HTTP 429, SMTP 421/451 throttling
  QuotaExceeded,      // daily sending quota (Exchange SubmissionQuotaExceeded): retry in kQuotaRetryAfter
  ServiceUnavailable, // HTTP 5xx
  UpstreamTransient,  // SMTP 4xx
  UpstreamPermanent,  // SMTP 5xx / HTTP 4xx without a better match
  RecipientRefused,   // permanent per-recipient refusal
  SenderRefused,      // the provider will not send as this sender
  MessageTooBig,      // SMTP 552 / HTTP 413
  BadContent,         // HTTP 400: the provider rejected the message itself
  // Local.
  LocalIoError,       // outbox write failed
  DiskFull,           // ENOSPC / EDQUOT
  SpoolError,         // the spooled data could not be read
  Aborted,            // shutdown cancelled the delivery
};

struct OutcomeEntry {
  Cause cause;
  Outcome outcome;
  int smtp_code;             // reply code used in notices/logs
  std::string_view enhanced; // RFC 3463
  std::string_view text;     // short, fixed, safe to log
  bool config_error;
};

std::string_view to_string(Cause c) noexcept;   // "connect_failed", ...
const OutcomeEntry& lookup(Cause c) noexcept;

// A Result for `c` (code 0: no upstream reply; enhanced and text from the
// table, config_error as the table says); `detail` (upstream reply, errno text) is appended to
// the table text as "text: detail".
Result make_result(Cause c, std::string_view detail = {});

// SMTP reply code classes: 2xx sent, 4xx transient, 5xx permanent; anything
// else (0 = no reply) transient.
Outcome outcome_for_smtp(int code) noexcept;
// "4.0.0" style default for a reply code without an enhanced code.
std::string default_enhanced(int smtp_code);
// The enhanced code at the start of reply text ("5.1.1 no such user"), or "".
std::string parse_enhanced(std::string_view text);
Cause cause_for_smtp(int code) noexcept;
// A reply by the command it answers (verb as SmtpTranscript names them:
// "AUTH", "MAIL", "RCPT", "DATA", "EOD", ...). On top of cause_for_smtp:
//   AUTH refused with any 4xx/5xx other than 535/534/454 (550 5.7.30 basic
//     auth disabled, 504 5.7.4 mechanism unsupported, 530 5.7.0, 538 5.7.11)
//     -> ConfigError: the provider is set up wrong, not the message;
//   MAIL answered 530 (authentication required, RFC 4954; Exchange's
//     "530 5.7.57 Client not authenticated") or with enhanced 5.7.57
//     -> ConfigError;
//   any reply naming SubmissionQuotaExceeded (Exchange's daily recipient /
//     submission quota, "554 5.2.0 STOREDRV.Submission.Exception:
//     SubmissionQuotaExceededException") -> QuotaExceeded (transient).
// A true per-message refusal (550 5.1.1 at RCPT, 550 5.7.60 send-as at
// MAIL) stays permanent.
Cause cause_for_smtp_reply(std::string_view verb, int code, std::string_view text) noexcept;
// The outcome of such a reply: the table's for the reclassified causes
// (ConfigError, AuthFailed, QuotaExceeded), else by reply class.
Outcome outcome_for_smtp_reply(std::string_view verb, int code, std::string_view text) noexcept;
// Exchange/Microsoft 365 daily quotas clear within 24 h, rolling: an hour
// between tries keeps the queue moving as soon as some quota frees up,
// without hammering. Used as Result::retry_after for QuotaExceeded.
constexpr std::int64_t kQuotaRetryAfter = 3600;
// True when `text` names Exchange's submission quota (case-insensitive
// "SubmissionQuotaExceeded", as in SMTP replies and Graph error messages).
bool is_submission_quota(std::string_view text) noexcept;
Cause cause_for_http(int status) noexcept;
Cause cause_for_curl(CURLcode rc) noexcept;

// "550 5.1.1 text" for notices and logs (the upstream's code when it gave
// one, else 250/451/550 by outcome).
std::string smtp_reply(const Result& r);
std::string smtp_reply(const RcptResult& r);

}  // namespace relay::provider
