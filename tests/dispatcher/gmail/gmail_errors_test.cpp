// Classification of Google token endpoint and Gmail API answers.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "dispatcher/providers/gmail/gmail_errors.hpp"
#include "dispatcher/providers/gmail/token_client.hpp"

using namespace relay::provider;
using namespace relay::provider::gmail;

namespace {

std::string api_body(int code, const char* status, const char* reason, const char* msg = "boom") {
  return fmt::format(R"({{"error":{{"code":{},"message":"{}","status":"{}","errors":[{{"message":"{}","domain":"global","reason":"{}"}}]}}}})",
                     code, msg, status, msg, reason);
}

}  // namespace

TEST_CASE("Gmail API error body parsing") {
  auto e = parse_api_error(api_body(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Too many\\nrequests"));
  CHECK(e.code == 429);
  CHECK(e.status == "RESOURCE_EXHAUSTED");
  CHECK(e.reason == "rateLimitExceeded");
  CHECK(e.message == "Too many");
  CHECK(parse_api_error("<html>").reason.empty());
}

TEST_CASE("Gmail API answers: sent / transient / permanent / config error") {
  const std::time_t now = 1700000000;
  auto c = [&](long st, const std::string& body, const char* ra = "") {
    return classify_api(st, body, ra, "scan@example.com", now);
  };
  Result ok = c(200, R"({"id":"18c","threadId":"18c"})");
  CHECK(ok.outcome == Outcome::Sent);
  CHECK(ok.enhanced == "2.0.0");

  Result r429 = c(429, api_body(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded"), "7");
  CHECK(r429.outcome == Outcome::Transient);
  CHECK(r429.retry_after == 7);
  CHECK_FALSE(r429.config_error);
  CHECK(r429.enhanced == "4.7.0");

  Result user403 = c(403, api_body(403, "PERMISSION_DENIED", "userRateLimitExceeded"), "30");
  CHECK(user403.outcome == Outcome::Transient);
  CHECK(user403.retry_after == 30);
  CHECK_FALSE(user403.config_error);

  Result perm403 = c(403, api_body(403, "PERMISSION_DENIED", "insufficientPermissions"));
  CHECK(perm403.outcome == Outcome::Transient);
  CHECK(perm403.config_error);
  CHECK(perm403.text.find("insufficientPermissions") != std::string::npos);

  Result r401 = c(401, api_body(401, "UNAUTHENTICATED", "authError"));
  CHECK(r401.outcome == Outcome::Transient);
  CHECK(r401.config_error);

  // failedPrecondition ("Mail service not enabled", "Precondition check
  // failed"): the account's state, not the message: held, alerted.
  Result pre = c(400, api_body(400, "FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed."));
  CHECK(pre.outcome == Outcome::Transient);
  CHECK(pre.config_error);
  CHECK(pre.text.find("Precondition check failed") != std::string::npos);
  CHECK(c(400, api_body(400, "INVALID_ARGUMENT", "failedPrecondition", "Mail service not enabled")).config_error);

  // "Retry after <RFC 3339>" in the message counts when no header says.
  Result ra = c(403, api_body(403, "PERMISSION_DENIED", "userRateLimitExceeded",
                              "User-rate limit exceeded.  Retry after 2023-11-14T22:15:20.000Z"));
  CHECK(ra.outcome == Outcome::Transient);
  CHECK_FALSE(ra.config_error);
  CHECK(ra.retry_after == 1700000120 - now);
  Result ra2 = c(429, api_body(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Retry after 2023-11-14T23:13:20+01:00"));
  CHECK(ra2.retry_after == 1);  // 22:13:20Z is `now`: at least a second, never "at once"
  Result hdr = c(429, api_body(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Retry after 2023-11-14T22:15:20Z"), "5");
  CHECK(hdr.retry_after == 5);  // the header wins
  CHECK(parse_retry_after_text("retry after 2023-11-14T22:13:30.5Z", now) == 11);
  CHECK(parse_retry_after_text("Retry after 2099-01-01T00:00:00Z", now) == 86400);
  for (const char* bad : {"Retry after soon", "Retry after 2023-13-14T22:15:20Z", "Retry after 2023-11-14T22:15:20",
                          "Retry after 2023-11-14 22:15:20Z", "Retry after 2023-11-14T22:15:20+0100", "no hint",
                          "Retry after 2023-11-14T22:15"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_retry_after_text(bad, now));
  }

  for (const char* reason : {"invalidArgument", "badRequest"}) {
    Result r = c(400, api_body(400, "INVALID_ARGUMENT", reason, "Invalid To header"));
    CHECK(r.outcome == Outcome::Permanent);
    CHECK(r.code == 400);
    CHECK(r.text.find("Invalid To header") != std::string::npos);
  }
  Result big = c(413, "");
  CHECK(big.outcome == Outcome::Permanent);
  CHECK(big.enhanced == "5.3.4");

  for (long st : {500L, 502L, 503L, 504L, 408L}) {
    Result r = c(st, api_body(static_cast<int>(st), "UNAVAILABLE", "backendError"), "2");
    CHECK(r.outcome == Outcome::Transient);
    CHECK_FALSE(r.config_error);
  }
  CHECK(c(404, api_body(404, "NOT_FOUND", "notFound")).outcome == Outcome::Permanent);
}

TEST_CASE("Gmail: rate limits always pause, answers that are not Gmail's are held") {
  const std::time_t now = 1700000000;
  auto c = [&](long st, const std::string& body, const char* ra = "", const char* loc = "") {
    return classify_api(st, body, ra, "scan@example.com", now, loc);
  };
  CHECK(c(429, "", "0").retry_after == 1);
  CHECK(c(429, "", "-4").retry_after == kThrottleDefaultRetry);
  CHECK(c(429, "<html>slow down</html>").retry_after == kThrottleDefaultRetry);
  CHECK(c(403, api_body(403, "PERMISSION_DENIED", "rateLimitExceeded")).retry_after == kThrottleDefaultRetry);
  CHECK(c(429, "", "99999999999").retry_after == 3600);
  Result daily = c(403, api_body(403, "PERMISSION_DENIED", "dailyLimitExceeded", "Daily Limit Exceeded"));
  CHECK(daily.outcome == Outcome::Transient);
  CHECK_FALSE(daily.config_error);
  CHECK(daily.retry_after == 3600);
  CHECK(daily.enhanced == "4.5.3");
  for (const char* reason : {"domainPolicy", "insufficientPermissions", "forbidden", "accessNotConfigured"}) {
    CAPTURE(reason);
    Result r = c(403, api_body(403, "PERMISSION_DENIED", reason));
    CHECK(r.outcome == Outcome::Transient);
    CHECK(r.config_error);
  }
  Result redirect = c(302, "", "", "https://10.2.2.2/x");
  CHECK(redirect.outcome == Outcome::Transient);
  CHECK(redirect.config_error);
  CHECK(redirect.text.find("10.2.2.2") != std::string::npos);
  for (long st : {400L, 404L, 405L}) {
    Result r = c(st, "<html><body>proxy error</body></html>");
    CAPTURE(st);
    CHECK(r.outcome == Outcome::Transient);
    CHECK(r.config_error);
  }
  Result incomplete = c(308, "");  // resumable upload still incomplete after the resumes
  CHECK(incomplete.outcome == Outcome::Transient);
  CHECK_FALSE(incomplete.config_error);
  Result html503 = c(503, "<html>down</html>");
  CHECK(html503.outcome == Outcome::Transient);
  CHECK(html503.retry_after == kThrottleDefaultRetry);
}

TEST_CASE("Gmail token answers: expires_in forms, HTML, redirects") {
  TokenContext sa{true, "scan@example.com", "sa@proj.iam.gserviceaccount.com"};
  relay::provider::cloud::Response resp;
  resp.status = 200;
  auto life = [&](const std::string& v) {
    resp.body = R"({"access_token":"ya29.x")" + (v.empty() ? std::string() : ",\"expires_in\":" + v) + "}";
    auto f = parse_token_response(resp, sa);
    CHECK(f.ok);
    return f.expires_in;
  };
  CHECK(life("") == 3599);
  CHECK(life("\"1800\"") == 1800);
  CHECK(life("\"soon\"") == 3599);
  CHECK(life("0") == 3599);
  CHECK(life("-40") == 3599);
  CHECK(life("1000000000000") == 86400);
  CHECK(life("18446744073709551621") == 86400);
  CHECK(life("1.5e300") == 86400);
  CHECK(life("120") == 120);
  resp.body = "<html>sign in</html>";
  auto html = parse_token_response(resp, sa);
  CHECK_FALSE(html.ok);
  CHECK_FALSE(html.error.config_error);
  resp.status = 302;
  resp.body = "";
  resp.headers["location"] = "https://10.3.3.3/login";
  auto redirect = parse_token_response(resp, sa);
  CHECK_FALSE(redirect.ok);
  CHECK(redirect.error.config_error);
  CHECK(redirect.error.text.find("10.3.3.3") != std::string::npos);
}

TEST_CASE("token endpoint errors are configuration errors, busy endpoints are not") {
  TokenContext sa{true, "scan@example.com", "sa@proj.iam.gserviceaccount.com"};
  Result g = classify_token(400, R"({"error":"invalid_grant","error_description":"Invalid email or User ID"})", sa);
  CHECK(g.outcome == Outcome::Transient);
  CHECK(g.config_error);
  CHECK(g.code == 400);
  CHECK(g.text.find("scan@example.com") != std::string::npos);
  CHECK(g.text.find("Invalid email or User ID") != std::string::npos);

  Result u = classify_token(401, R"({"error":"unauthorized_client","error_description":"Client is unauthorized"})", sa);
  CHECK(u.config_error);
  CHECK(u.text.find("domain-wide delegation") != std::string::npos);

  TokenContext rt{false, "", "cid.apps"};
  Result revoked = classify_token(400, R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})", rt);
  CHECK(revoked.config_error);
  CHECK(revoked.text.find("refresh_token") != std::string::npos);
  Result client = classify_token(401, R"({"error":"invalid_client","error_description":"Unauthorized"})", rt);
  CHECK(client.config_error);
  CHECK(client.text.find("cid.apps") != std::string::npos);

  Result busy = classify_token(503, "", sa);
  CHECK(busy.outcome == Outcome::Transient);
  CHECK_FALSE(busy.config_error);

  relay::provider::cloud::Response resp;
  resp.status = 200;
  resp.body = R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})";
  auto f = parse_token_response(resp, sa);
  CHECK(f.ok);
  CHECK(f.access_token == "ya29.x");
  CHECK(f.expires_in == 3599);
  resp.curl = CURLE_COULDNT_CONNECT;
  resp.curl_error = "refused";
  auto t = parse_token_response(resp, sa);
  CHECK_FALSE(t.ok);
  CHECK(t.error.outcome == Outcome::Transient);
  CHECK_FALSE(t.error.config_error);
}

// Found by tests/fuzz cloud_errors: every field that reaches a log text is one line.
TEST_CASE("Gmail error fields that reach texts are one line") {
  auto e = parse_api_error(api_body(400, "INVALID\\r\\nARGUMENT", "invalidArgument\\nforged=1", "bad"));
  CHECK(e.status == "INVALID");
  CHECK(e.reason == "invalidArgument");
  Result r = classify_api(400, api_body(400, "X", "bad\\r\\nevent=sent"), "", "u@example.com", 1700000000);
  CHECK(r.text.find_first_of("\r\n") == std::string::npos);
}
