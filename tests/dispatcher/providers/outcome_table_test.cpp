// The outcome table and the SMTP transcript classifier, with byte strings
// only (no I/O): table consistency, reply parsing, partial success rules.
#include <doctest/doctest.h>

#include "dispatcher/providers/outcome_table.hpp"
#include "dispatcher/providers/smtp_transcript.hpp"

using namespace relay::provider;

TEST_CASE("outcome table: one row per cause, consistent classes") {
  for (int i = 0; i <= static_cast<int>(Cause::Aborted); ++i) {
    auto c = static_cast<Cause>(i);
    const OutcomeEntry& e = lookup(c);
    CHECK(e.cause == c);
    CHECK(to_string(c) != "unknown");
    CHECK(parse_enhanced(e.enhanced) == e.enhanced);
    // The enhanced class agrees with the outcome.
    char cls = e.outcome == Outcome::Sent ? '2' : e.outcome == Outcome::Transient ? '4' : '5';
    CHECK(e.enhanced[0] == cls);
    CHECK(std::to_string(e.smtp_code)[0] == cls);
  }
  Result r = make_result(Cause::TlsUnavailable, "smtp.example.com");
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.code == 0);
  CHECK(r.text == "TLS is required, but was not offered by upstream: smtp.example.com");
  CHECK(smtp_reply(r) == "451 4.7.5 TLS is required, but was not offered by upstream: smtp.example.com");
  CHECK(to_string(Outcome::Permanent) == "permanent");
}

TEST_CASE("outcome table: code mappings") {
  CHECK(outcome_for_smtp(250) == Outcome::Sent);
  CHECK(outcome_for_smtp(451) == Outcome::Transient);
  CHECK(outcome_for_smtp(554) == Outcome::Permanent);
  CHECK(outcome_for_smtp(0) == Outcome::Transient);
  CHECK(parse_enhanced("5.1.1 No such user") == "5.1.1");
  CHECK(parse_enhanced("4.7.10 Encryption needed") == "4.7.10");
  CHECK(parse_enhanced("OK") == "");
  CHECK(parse_enhanced("5.1 x") == "");
  CHECK(parse_enhanced("5.1.1x") == "");
  CHECK(cause_for_http(202) == Cause::Sent);
  CHECK(cause_for_http(401) == Cause::AuthFailed);
  CHECK(cause_for_http(429) == Cause::RateLimited);
  CHECK(cause_for_http(413) == Cause::MessageTooBig);
  CHECK(cause_for_http(503) == Cause::ServiceUnavailable);
  CHECK(cause_for_http(404) == Cause::UpstreamPermanent);
  CHECK(cause_for_curl(CURLE_COULDNT_CONNECT) == Cause::ConnectFailed);
  CHECK(cause_for_curl(CURLE_USE_SSL_FAILED) == Cause::TlsUnavailable);
  CHECK(cause_for_curl(CURLE_PEER_FAILED_VERIFICATION) == Cause::TlsFailed);
  CHECK(cause_for_smtp(535) == Cause::AuthFailed);
  RcptResult rr{"a@x", Outcome::Permanent, 550, "5.1.1 No such user"};
  CHECK(smtp_reply(rr) == "550 5.1.1 No such user");
  RcptResult plain{"a@x", Outcome::Transient, 450, "busy"};
  CHECK(smtp_reply(plain) == "450 4.0.0 busy");
}

namespace {
void out(SmtpTranscript& t, std::string_view s) { t.on_debug(CURLINFO_HEADER_OUT, s); }
void in(SmtpTranscript& t, std::string_view s) { t.on_debug(CURLINFO_HEADER_IN, s); }

SmtpTranscript session_until_rcpt() {
  SmtpTranscript t;
  in(t, "220 up ESMTP\r\n");
  out(t, "EHLO relay\r\n");
  in(t, "250-up\r\n250-AUTH PLAIN\r\n");
  in(t, "250 8BITMIME\r\n");
  out(t, "AUTH PLAIN AHUAcA==\r\n");
  in(t, "235 2.7.0 ok\r\n");
  out(t, "MAIL FROM:<s@x>\r\n");
  in(t, "250 OK\r\n");
  return t;
}
}  // namespace

TEST_CASE("transcript: partial success, per-recipient results") {
  SmtpTranscript t = session_until_rcpt();
  out(t, "RCPT TO:<ok@x>\r\n");
  in(t, "250 2.1.5 OK\r\n");
  out(t, "RCPT TO:<bad@x>\r\n");
  in(t, "550 5.1.1 No such user\r\n");
  out(t, "RCPT TO:<later@x>\r\n");
  in(t, "45");  // split across callbacks
  in(t, "0 4.2.1 Busy\r\n");
  out(t, "DATA\r\n");
  in(t, "354 go\r\n");
  t.on_debug(CURLINFO_DATA_OUT, "RCPT TO:<not-a-command@x>\r\n");
  in(t, "250 2.0.0 queued\r\n");
  CHECK(t.summary() == "CONNECT=220 EHLO=250 AUTH=235 MAIL=250 RCPT=250,550,450 DATA=354 EOD=250");
  Result r = classify_delivery(t, CURLE_OK, {"ok@x", "bad@x", "later@x"});
  REQUIRE(r.rcpts.size() == 3);
  CHECK(r.rcpts[0].outcome == Outcome::Sent);
  CHECK(r.rcpts[0].code == 250);
  CHECK(r.rcpts[1].outcome == Outcome::Permanent);
  CHECK(r.rcpts[1].code == 550);
  CHECK(r.rcpts[1].text == "5.1.1 No such user");
  CHECK(r.rcpts[2].outcome == Outcome::Transient);
  CHECK(r.outcome == Outcome::Transient);  // something is left to retry
  CHECK(r.code == 450);
  CHECK(r.enhanced == "4.2.1");
}

TEST_CASE("transcript: end-of-data reply decides accepted recipients") {
  SmtpTranscript t = session_until_rcpt();
  out(t, "RCPT TO:<ok@x>\r\n");
  in(t, "250 OK\r\n");
  out(t, "RCPT TO:<bad@x>\r\n");
  in(t, "550 5.1.1 No\r\n");
  out(t, "DATA\r\n");
  in(t, "354 go\r\n");
  in(t, "554 5.6.0 Transaction failed\r\n");
  Result r = classify_delivery(t, CURLE_WEIRD_SERVER_REPLY, {"ok@x", "bad@x"});
  CHECK(r.outcome == Outcome::Permanent);
  CHECK(r.code == 554);
  CHECK(r.rcpts[0].code == 554);
  CHECK(r.rcpts[1].code == 550);
}

TEST_CASE("transcript: MAIL refused, AUTH refused, connection lost, never connected") {
  SmtpTranscript t;
  in(t, "220 up\r\n");
  out(t, "EHLO relay\r\n");
  in(t, "250 up\r\n");
  out(t, "MAIL FROM:<s@x>\r\n");
  in(t, "451 4.3.0 later\r\n");
  Result r = classify_delivery(t, CURLE_SEND_ERROR, {"a@x"});
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.code == 451);
  CHECK(r.rcpts.at(0).code == 451);

  SmtpTranscript a;
  out(a, "AUTH LOGIN\r\n");
  in(a, "334 VXNlcm5hbWU6\r\n");
  out(a, "dXNlcg==\r\n");  // base64 continuation: not a verb
  in(a, "334 UGFzc3dvcmQ6\r\n");
  out(a, "cGFzcw==\r\n");
  in(a, "535 5.7.8 Authentication credentials invalid\r\n");
  Result ar = classify_delivery(a, CURLE_LOGIN_DENIED, {"a@x"});
  CHECK(ar.outcome == Outcome::Transient);
  CHECK(ar.config_error);
  CHECK(ar.code == 535);

  SmtpTranscript lost = session_until_rcpt();
  out(lost, "RCPT TO:<ok@x>\r\n");
  in(lost, "250 OK\r\n");
  out(lost, "DATA\r\n");
  in(lost, "354 go\r\n");
  Result lr = classify_delivery(lost, CURLE_RECV_ERROR, {"ok@x"});
  CHECK(lr.outcome == Outcome::Transient);  // at-least-once: retry
  CHECK(lr.rcpts.at(0).outcome == Outcome::Transient);

  SmtpTranscript none;
  Result nr = classify_delivery(none, CURLE_COULDNT_CONNECT, {"a@x"});
  CHECK(nr.outcome == Outcome::Transient);
  CHECK(nr.code == 0);
  CHECK(nr.enhanced == "4.4.1");
  CHECK(nr.rcpts.empty());
}

TEST_CASE("SMTP table: AUTH and MAIL configuration refusals are held, per-message refusals stay permanent") {
  struct Row {
    const char* verb;
    int code;
    const char* text;
    Cause cause;
    Outcome outcome;
  };
  const Row rows[] = {
      {"AUTH", 535, "5.7.8 Authentication credentials invalid", Cause::AuthFailed, Outcome::Transient},
      {"AUTH", 534, "5.7.9 Please log in with your web browser", Cause::AuthFailed, Outcome::Transient},
      {"AUTH", 454, "4.7.0 Temporary authentication failure", Cause::AuthFailed, Outcome::Transient},
      {"AUTH", 550, "5.7.30 Basic authentication is not supported for Client Submission", Cause::ConfigError,
       Outcome::Transient},
      {"AUTH", 504, "5.7.4 Unrecognized authentication type", Cause::ConfigError, Outcome::Transient},
      {"AUTH", 530, "5.7.0 Must issue a STARTTLS command first", Cause::ConfigError, Outcome::Transient},
      {"AUTH", 538, "5.7.11 Encryption required for requested authentication mechanism", Cause::ConfigError,
       Outcome::Transient},
      {"MAIL", 530, "5.7.57 Client not authenticated to send mail during MAIL FROM", Cause::ConfigError,
       Outcome::Transient},
      {"MAIL", 530, "5.7.0 Authentication required", Cause::ConfigError, Outcome::Transient},
      {"MAIL", 550, "5.7.57 Client was not authenticated", Cause::ConfigError, Outcome::Transient},
      {"MAIL", 550, "5.7.60 Client does not have permissions to send as this sender", Cause::UpstreamPermanent,
       Outcome::Permanent},
      {"RCPT", 550, "5.1.1 User unknown", Cause::UpstreamPermanent, Outcome::Permanent},
      {"RCPT", 530, "5.7.0 odd but per recipient", Cause::UpstreamPermanent, Outcome::Permanent},
      {"EOD", 554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message",
       Cause::QuotaExceeded, Outcome::Transient},
      {"RCPT", 554, "5.2.0 STOREDRV.Submission.Exception:submissionquotaexceededexception", Cause::QuotaExceeded,
       Outcome::Transient},
      {"EOD", 554, "5.6.0 Transaction failed", Cause::UpstreamPermanent, Outcome::Permanent},
      {"EOD", 552, "5.3.4 Message too big", Cause::MessageTooBig, Outcome::Permanent},
      {"AUTH", 235, "2.7.0 ok", Cause::Sent, Outcome::Sent},
  };
  for (const Row& r : rows) {
    CAPTURE(r.verb);
    CAPTURE(r.code);
    CAPTURE(r.text);
    CHECK(cause_for_smtp_reply(r.verb, r.code, r.text) == r.cause);
    CHECK(outcome_for_smtp_reply(r.verb, r.code, r.text) == r.outcome);
  }
  CHECK(lookup(Cause::ConfigError).config_error);
  CHECK(lookup(Cause::QuotaExceeded).outcome == Outcome::Transient);
  CHECK_FALSE(lookup(Cause::QuotaExceeded).config_error);
  CHECK(is_submission_quota("x SubmissionQuotaExceeded y"));
  CHECK_FALSE(is_submission_quota("QuotaExceeded"));
}

TEST_CASE("transcript: AUTH 550 5.7.30 and MAIL 530 5.7.57 are config errors; quota is 1 h transient") {
  SmtpTranscript a;
  in(a, "220 up\r\n");
  out(a, "EHLO relay\r\n");
  in(a, "250 AUTH LOGIN PLAIN\r\n");
  out(a, "AUTH PLAIN AHUAcA==\r\n");
  in(a, "550 5.7.30 Basic authentication is not supported for Client Submission\r\n");
  Result ar = classify_delivery(a, CURLE_LOGIN_DENIED, {"a@x"});
  CHECK(ar.outcome == Outcome::Transient);
  CHECK(ar.config_error);
  CHECK(ar.code == 550);
  CHECK(ar.text.find("5.7.30") != std::string::npos);

  SmtpTranscript m;
  in(m, "220 up\r\n");
  out(m, "EHLO relay\r\n");
  in(m, "250 up\r\n");
  out(m, "MAIL FROM:<s@x>\r\n");
  in(m, "530 5.7.57 Client not authenticated to send mail during MAIL FROM\r\n");
  Result mr = classify_delivery(m, CURLE_SEND_ERROR, {"a@x", "b@x"});
  CHECK(mr.outcome == Outcome::Transient);
  CHECK(mr.config_error);
  REQUIRE(mr.rcpts.size() == 2);
  CHECK(mr.rcpts[0].outcome == Outcome::Transient);
  CHECK(mr.rcpts[1].outcome == Outcome::Transient);

  SmtpTranscript q = session_until_rcpt();
  out(q, "RCPT TO:<a@x>\r\n");
  in(q, "250 OK\r\n");
  out(q, "DATA\r\n");
  in(q, "354 go\r\n");
  in(q, "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message\r\n");
  Result qr = classify_delivery(q, CURLE_WEIRD_SERVER_REPLY, {"a@x"});
  CHECK(qr.outcome == Outcome::Transient);
  CHECK_FALSE(qr.config_error);
  CHECK(qr.retry_after == kQuotaRetryAfter);
  CHECK(qr.rcpts.at(0).outcome == Outcome::Transient);

  SmtpTranscript r = session_until_rcpt();  // a recipient refused: still permanent
  out(r, "RCPT TO:<a@x>\r\n");
  in(r, "550 5.1.1 User unknown\r\n");
  Result rr = classify_delivery(r, CURLE_RECV_ERROR, {"a@x"});
  CHECK(rr.outcome == Outcome::Permanent);
  CHECK_FALSE(rr.config_error);
}
