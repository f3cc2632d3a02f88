#include <doctest/doctest.h>

#include "dispatcher/providers/m365/graph_errors.hpp"

using namespace relay::provider::m365;
using relay::provider::Outcome;

TEST_CASE("Retry-After: integer, decimal, HTTP date, garbage") {
  const std::time_t now = 1764072000;  // Tue, 25 Nov 2025 12:00:00 GMT
  CHECK(parse_retry_after("120", now) == 120);
  CHECK(parse_retry_after(" 7 ", now) == 7);
  CHECK(parse_retry_after("1.2", now) == 2);
  CHECK(parse_retry_after("0", now) == 0);
  CHECK(parse_retry_after("Tue, 25 Nov 2025 12:00:30 GMT", now) == 30);
  CHECK(parse_retry_after("Tue, 25 Nov 2025 11:00:00 GMT", now) == 0);  // past
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("soon", now));
  CHECK_FALSE(parse_retry_after("-5", now));
  CHECK(parse_retry_after("99999999", now) == 3600);  // capped
  // Beyond int64 (found by tests/fuzz cloud_errors): capped, not wrapped negative.
  CHECK(parse_retry_after("99999999999999999999", now) == 3600);
  CHECK(parse_retry_after("1e300", now) == 3600);
}

TEST_CASE("token errors are config errors with exact texts") {
  TokenContext ctx{"tenant-x", "app-1", "https://login.example"};
  auto body = [](long code, const char* err, const char* desc) {
    return std::string("{\"error\":\"") + err + "\",\"error_description\":\"" + desc +
           "\\r\\nTrace ID: abc\\r\\nCorrelation ID: def\",\"error_codes\":[" + std::to_string(code) + "]}";
  };
  auto r = classify_token(401, body(7000222, "invalid_client", "AADSTS7000222: The provided client secret keys are expired."), ctx);
  CHECK(r.config_error);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.text.rfind("expired client secret", 0) == 0);
  r = classify_token(401, body(7000215, "invalid_client", "AADSTS7000215: Invalid client secret provided."), ctx);
  CHECK(r.text.rfind("wrong client secret", 0) == 0);
  r = classify_token(400, body(90002, "invalid_request", "AADSTS90002: Tenant 'tenant-x' not found."), ctx);
  CHECK(r.text.rfind("tenant not found", 0) == 0);
  CHECK(r.config_error);
  r = classify_token(400, body(700016, "unauthorized_client", "AADSTS700016: Application not found"), ctx);
  CHECK(r.text.rfind("application not found", 0) == 0);
  r = classify_token(400, body(70011, "invalid_scope", "AADSTS70011: bad scope"), ctx);
  CHECK(r.text.rfind("invalid scope", 0) == 0);
  CHECK(r.text.find("Trace ID") == std::string::npos);  // first line only
  r = classify_token(503, "", ctx);
  CHECK_FALSE(r.config_error);
  CHECK(r.outcome == Outcome::Transient);
  // Entra's own hiccups: short plain transient retries, not max_backoff.
  r = classify_token(400, "{\"error\":\"temporarily_unavailable\",\"error_description\":\"AADSTS50000: busy\"}", ctx);
  CHECK_FALSE(r.config_error);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.retry_after == kTokenHiccupRetry);
  r = classify_token(400, body(90024, "invalid_request", "AADSTS90024: RequestBudgetExceededError"), ctx);
  CHECK_FALSE(r.config_error);
  CHECK(r.retry_after == kTokenHiccupRetry);
  r = classify_token(400, body(90033, "invalid_request", "AADSTS90033: A transient error has occurred."), ctx);
  CHECK_FALSE(r.config_error);
  CHECK(r.text.find("temporarily unavailable") != std::string::npos);
}

TEST_CASE("Graph error table") {
  const std::time_t now = 1764072000;
  auto err = [](const char* code) { return std::string("{\"error\":{\"code\":\"") + code + "\",\"message\":\"m\"}}"; };
  CHECK(classify_graph(202, "", "", "mb", now).outcome == Outcome::Sent);
  auto r = classify_graph(400, err("ErrorInvalidRecipients"), "", "mb", now);
  CHECK(r.outcome == Outcome::Permanent);
  CHECK(r.enhanced == "5.1.1");
  r = classify_graph(403, err("ErrorSendAsDenied"), "", "mb", now);
  CHECK(r.outcome == Outcome::Permanent);
  CHECK(r.text.find("send as") != std::string::npos);
  // 403 ErrorAccessDenied is a missing permission/consent or an access
  // policy still propagating: held as a configuration error, not bounced.
  for (const char* code : {"ErrorAccessDenied", "Authorization_RequestDenied", "SomethingElse"}) {
    CAPTURE(code);
    r = classify_graph(403, err(code), "", "mb", now);
    CHECK(r.outcome == Outcome::Transient);
    CHECK(r.config_error);
    CHECK(r.text.rfind("missing permission", 0) == 0);
  }
  r = classify_graph(403, "", "", "mb", now);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  r = classify_graph(403, err("ErrorSendAsDenied"), "", "mb", now);  // per message: still permanent
  CHECK_FALSE(r.config_error);
  r = classify_graph(404, err("ErrorInvalidUser"), "", "mb", now);
  CHECK(r.outcome == Outcome::Permanent);
  CHECK(r.enhanced == "5.1.8");
  r = classify_graph(403, std::string("{\"error\":{\"code\":\"ErrorSubmissionQuotaExceeded\",\"message\":\"x\"}}"), "", "mb", now);
  CHECK(r.outcome == Outcome::Transient);
  CHECK_FALSE(r.config_error);
  CHECK(r.retry_after == 3600);
  r = classify_graph(400, std::string("{\"error\":{\"code\":\"ErrorMessageSubmissionBlocked\",\"message\":"
                                      "\"STOREDRV.Submission.Exception:SubmissionQuotaExceededException\"}}"),
                     "", "mb", now);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.retry_after == 3600);
  // No licence / on-premises: the tenant's setup for this sender, held.
  r = classify_graph(404, err("MailboxNotEnabledForRESTAPI"), "", "mb", now);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.text.rfind("mailbox not enabled", 0) == 0);
  r = classify_graph(400, err("ErrorQuotaExceeded"), "", "mb", now);  // storage full: not the message
  CHECK(r.outcome == Outcome::Transient);
  CHECK_FALSE(r.config_error);
  CHECK(r.enhanced == "4.2.2");
  CHECK(r.retry_after == 3600);
  r = classify_graph(413, "", "", "mb", now);
  CHECK(r.outcome == Outcome::Permanent);
  CHECK(r.enhanced == "5.3.4");
  r = classify_graph(429, err("ApplicationThrottled"), "2.5", "mb", now);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.retry_after == 3);
  r = classify_graph(503, "", "Tue, 25 Nov 2025 12:01:00 GMT", "mb", now);
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.retry_after == 60);
  // Throttled: at least 1 s, 30 s when Retry-After is missing or garbage.
  CHECK(classify_graph(429, err("ApplicationThrottled"), "0", "mb", now).retry_after == 1);
  CHECK(classify_graph(429, err("ApplicationThrottled"), "", "mb", now).retry_after == kThrottleDefaultRetry);
  CHECK(classify_graph(503, "<html>busy</html>", "-3", "mb", now).retry_after == kThrottleDefaultRetry);
  // Not Graph's answers: held, never bounced, never followed.
  r = classify_graph(302, "", "", "mb", now, "https://10.1.1.1/x");
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(r.text.find("redirect (HTTP 302 to https://10.1.1.1/x)") != std::string::npos);
  for (long st : {400L, 404L, 405L}) {
    r = classify_graph(st, "<html>proxy</html>", "", "mb", now);
    CHECK(r.config_error);
    CHECK(r.outcome == Outcome::Transient);
  }
  r = classify_graph(500, "oops", "", "mb", now);
  CHECK(r.outcome == Outcome::Transient);
  CHECK_FALSE(r.retry_after);
  r = classify_graph(401, err("InvalidAuthenticationToken"), "", "mb", now);  // after the one refresh
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.config_error);
  CHECK(is_invalid_token(401, err("InvalidAuthenticationToken")));
  CHECK_FALSE(is_invalid_token(403, err("ErrorAccessDenied")));
  r = classify_transport(7, "Couldn't connect");
  CHECK(r.outcome == Outcome::Transient);
  CHECK(r.code == 0);
}

#include "dispatcher/providers/m365/large_send.hpp"

TEST_CASE("upload session nextExpectedRanges: parsed defensively, never a throw") {
  using NR = NextRange;
  auto p = [](const char* body) { return parse_next_expected(body, 1000); };
  CHECK(p(R"({"nextExpectedRanges":["500-"]})").state == NR::Offset);
  CHECK(p(R"({"nextExpectedRanges":["500-"]})").offset == 500);
  CHECK(p(R"({"nextExpectedRanges":["320-999","12-13"]})").offset == 320);
  CHECK(p(R"({"nextExpectedRanges":["7"]})").offset == 7);
  CHECK(p(R"({"expirationDateTime":"2099-01-01T00:00:00Z"})").state == NR::Absent);
  CHECK(p("not json").state == NR::Absent);
  for (const char* bad : {R"({"nextExpectedRanges":["abc-"]})", R"({"nextExpectedRanges":["-5"]})",
                          R"({"nextExpectedRanges":["99999999999999999999999-"]})",
                          R"({"nextExpectedRanges":["1000-"]})", R"({"nextExpectedRanges":["5x-"]})",
                          R"({"nextExpectedRanges":[]})", R"({"nextExpectedRanges":[12]})",
                          R"({"nextExpectedRanges":"12-"})", R"({"nextExpectedRanges":[""]})"}) {
    CAPTURE(bad);
    CHECK(p(bad).state == NR::Malformed);
  }
}

// Found by tests/fuzz cloud_errors: every field that reaches a log text is one line.
TEST_CASE("Graph and token error fields that reach texts are one line") {
  CHECK(parse_graph_error(R"({"error":{"code":"ErrorX\r\nevent=sent","message":"m"}})").code == "ErrorX");
  auto t = relay::provider::cloud::parse_token_error(R"({"error":"invalid_client\nforged","error_description":"d"})");
  CHECK(t.error == "invalid_client");
  TokenContext ctx{"tenant-x", "app-1", "https://login.example"};
  auto r = classify_token(400, R"({"error":"bad\r\nline","error_description":"AADSTS1: x\r\ny"})", ctx);
  CHECK(r.text.find_first_of("\r\n") == std::string::npos);
}
