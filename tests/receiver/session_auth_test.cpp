// Session: AUTH PLAIN / LOGIN flows, cancel, bad base64, TLS requirement,
// per-IP failure throttling, asynchronous verification.
#include <doctest/doctest.h>

#include "receiver/smtp/text.hpp"
#include "tests/receiver/fake_host.hpp"

using namespace relay::smtp;
using namespace relay::smtp::test;
using relay::config::AuthMode;
using relay::config::TlsMode;

namespace {
std::string b64(std::string_view s) { return base64_encode(s); }
Harness auth_harness(ListenerInfo l = {}) {
  Harness h(l);
  h.policy->auth = AuthMode::Optional;
  h.ehlo();
  return h;
}
}  // namespace

TEST_CASE("AUTH PLAIN with initial response and in a continuation") {
  Harness h = auth_harness();
  CHECK(h.talk("AUTH PLAIN " + b64(std::string("\0scanner1\0wrong", 15)) + "\r\n") ==
        "535 5.7.8 Error: authentication credentials invalid\r\n");
  CHECK(h.talk("AUTH PLAIN\r\n") == "334 \r\n");
  CHECK(h.talk(b64(std::string("\0scanner1\0s3cret", 16)) + "\r\n") == "235 2.7.0 Authentication successful\r\n");
  CHECK(h.s->auth_user() == "scanner1");
  CHECK(h.talk("AUTH PLAIN\r\n") == "503 5.5.1 Error: already authenticated\r\n");
}

TEST_CASE("AUTH PLAIN authzid must match") {
  Harness h = auth_harness();
  CHECK(h.talk("AUTH PLAIN " + b64(std::string("erp\0scanner1\0s3cret", 19)) + "\r\n").rfind("535 5.7.8", 0) == 0);
  CHECK(h.talk("AUTH PLAIN " + b64(std::string("scanner1\0scanner1\0s3cret", 24)) + "\r\n").rfind("235", 0) == 0);
}

TEST_CASE("AUTH LOGIN with and without initial response") {
  Harness h = auth_harness();
  CHECK(h.talk("AUTH LOGIN\r\n") == "334 VXNlcm5hbWU6\r\n");
  CHECK(h.talk(b64("erp") + "\r\n") == "334 UGFzc3dvcmQ6\r\n");
  CHECK(h.talk(b64("not-it") + "\r\n").rfind("535 5.7.8", 0) == 0);
  CHECK(h.talk("AUTH LOGIN " + b64("erp") + "\r\n") == "334 UGFzc3dvcmQ6\r\n");
  CHECK(h.talk(b64("erp-pw") + "\r\n").rfind("235 2.7.0", 0) == 0);
  CHECK(h.s->auth_user() == "erp");
}

TEST_CASE("AUTH cancel and malformed input") {
  Harness h = auth_harness();
  CHECK(h.talk("AUTH PLAIN\r\n*\r\n") == "334 \r\n501 5.0.0 Authentication cancelled\r\n");
  CHECK(h.talk("AUTH LOGIN\r\n" + b64("erp") + "\r\n*\r\n") ==
        "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n501 5.0.0 Authentication cancelled\r\n");
  CHECK(h.talk("AUTH PLAIN not-base64!!\r\n").rfind("501 5.5.2", 0) == 0);
  CHECK(h.talk("AUTH PLAIN " + b64("no-nuls") + "\r\n").rfind("501 5.5.2", 0) == 0);
  CHECK(h.talk("AUTH CRAM-MD5\r\n").rfind("504 5.5.4", 0) == 0);
  CHECK(h.talk("NOOP\r\n") == "250 2.0.0 Ok\r\n");  // back in command mode
}

TEST_CASE("AUTH sequencing") {
  Harness off;
  off.ehlo();
  CHECK(off.talk("AUTH PLAIN\r\n").rfind("503 5.5.1", 0) == 0);  // auth: off
  Harness h;
  h.policy->auth = AuthMode::Optional;
  CHECK(h.talk("AUTH PLAIN\r\n").rfind("503 5.5.1", 0) == 0);  // before EHLO
  h.ehlo();
  h.envelope();
  CHECK(h.talk("AUTH PLAIN\r\n") == "503 5.5.1 Error: MAIL transaction in progress\r\n");
}

TEST_CASE("AUTH needs TLS on non-loopback listeners") {
  Harness h = auth_harness({TlsMode::StartTls, false});
  CHECK(h.talk("AUTH PLAIN " + b64(std::string("\0scanner1\0s3cret", 16)) + "\r\n") ==
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  h.talk("STARTTLS\r\n");
  h.s->tls_established("TLSv1.3 X");
  h.ehlo();
  CHECK(h.talk("AUTH PLAIN " + b64(std::string("\0scanner1\0s3cret", 16)) + "\r\n").rfind("235", 0) == 0);
}

TEST_CASE("failed AUTH is throttled per client IP") {
  Harness h = auth_harness();  // max 3 failures per 300 s
  std::string bad = "AUTH PLAIN " + b64(std::string("\0erp\0x", 6)) + "\r\n";
  for (int i = 0; i < 3; ++i) CHECK(h.talk(bad).rfind("535", 0) == 0);
  CHECK(h.talk(bad).rfind("421 4.7.0 ", 0) == 0);
  CHECK(h.host.closed);
  // a new session from the same IP is refused too, until the window passes
  Harness again;
  again.policy->auth = AuthMode::Optional;
  again.host.throttle = h.host.throttle;
  again.ehlo();
  CHECK(again.talk("AUTH LOGIN\r\n").rfind("421 4.7.0", 0) == 0);
  Harness later;
  later.policy->auth = AuthMode::Optional;
  later.host.throttle = h.host.throttle;
  later.host.clock += 301;
  later.ehlo();
  CHECK(later.talk("AUTH LOGIN\r\n") == "334 VXNlcm5hbWU6\r\n");
}

TEST_CASE("asynchronous verification holds pipelined commands") {
  Harness h = auth_harness();
  h.host.auto_auth = false;
  CHECK(h.talk("AUTH PLAIN " + b64(std::string("\0erp\0erp-pw", 11)) + "\r\nMAIL FROM:<a@example.com>\r\n") == "");
  REQUIRE(h.host.auth_pending);
  h.host.out.clear();
  h.s->auth_result(h.host.auth_pending_ok);
  CHECK(h.host.out == "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n");
}

TEST_CASE("AuthThrottle window") {
  AuthThrottle t(2, 60);
  CHECK_FALSE(t.blocked("a", 0));
  t.failure("a", 0);
  t.failure("a", 10);
  CHECK(t.blocked("a", 20));
  CHECK_FALSE(t.blocked("b", 20));
  CHECK_FALSE(t.blocked("a", 61));  // first failure expired
  t.prune(1000);
  CHECK(t.tracked() == 0);
}
