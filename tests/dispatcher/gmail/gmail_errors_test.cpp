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

  for (const char* reason : {"invalidArgument", "failedPrecondition", "badRequest"}) {
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
