// Session: hostile clients (issue 9) — a refused BDAT chunk is data, never
// commands; bare LF/CR command lines; other protocols on the SMTP port;
// replies that are never read (output backpressure); the per-command
// deadline hooks. Each case also shows the same client can still send mail.
#include <doctest/doctest.h>

#include "tests/receiver/fake_host.hpp"

using namespace relay::smtp;
using namespace relay::smtp::test;

namespace {
// 70 KB of chunk whose tail is a complete pipelined transaction.
std::string smuggling_chunk() {
  std::string tail =
      "\r\nRSET\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
      "From: ceo@example.com\r\n\r\nwire money\r\n.\r\nQUIT\r\n";
  return std::string(70000 - tail.size(), 'x') + tail;
}

// Feeds `wire` in pieces of `step` bytes (0 = all at once).
std::string feed_split(Harness& h, const std::string& wire, std::size_t step) {
  h.host.out.clear();
  if (step == 0) step = wire.size();
  for (std::size_t i = 0; i < wire.size(); i += step) h.s->feed(std::string_view(wire).substr(i, step));
  return h.host.out;
}

void legit_mail_passes(Harness& h) {
  h.host.out.clear();
  std::string out = h.talk("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nBDAT 4 LAST\r\nok\r\n");
  CHECK(codes(out) == std::vector<int>{250, 250, 250});
  CHECK(out.find("queued as") != std::string::npos);
}
}  // namespace

TEST_CASE("refused BDAT consumes exactly N octets, whatever the read sizes (item 1)") {
  const std::string chunk = smuggling_chunk();
  for (const char* tail : {"", " LAST"}) {
    for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{65536}}) {
      for (int setup = 0; setup < 2; ++setup) {  // no MAIL / MAIL without RCPT
        CAPTURE(tail);
        CAPTURE(step);
        CAPTURE(setup);
        Harness h;
        h.ehlo();
        if (setup == 1) REQUIRE(h.talk("MAIL FROM:<a@example.com>\r\n") == "250 2.1.0 Ok\r\n");
        std::string wire = "BDAT " + std::to_string(chunk.size()) + tail + "\r\n" + chunk + "NOOP\r\n";
        std::string out = feed_split(h, wire, step);
        std::string refusal = setup == 0 ? "503 5.5.1 Error: need MAIL command\r\n"
                                         : "503 5.5.1 Error: need RCPT command\r\n";
        CHECK(out == refusal + "250 2.0.0 Ok\r\n");  // one reply for the BDAT, then the NOOP's
        CHECK(h.host.opened == 0);
        CHECK(h.host.committed.empty());
        CHECK_FALSE(h.s->closed());
        if (setup == 1) h.talk("RSET\r\n");
        legit_mail_passes(h);
        CHECK(h.host.committed.size() == 1);
      }
    }
  }
}

TEST_CASE("refused BDAT followed by a well-formed BDAT transaction") {
  Harness h;
  h.ehlo();
  std::string out = h.talk("BDAT 13\r\nBDAT 0 LAST\r\nMAIL FROM:<a@example.com>\r\n");
  CHECK(out == "503 5.5.1 Error: need MAIL command\r\n250 2.1.0 Ok\r\n");  // "BDAT 0 LAST\r\n" was chunk data
  CHECK(h.talk("RCPT TO:<b@example.org>\r\nBDAT 2 LAST\r\nhi").find("queued as QID1") != std::string::npos);
}

TEST_CASE("bare LF and bare CR in command lines are refused (item 7)") {
  Harness h;
  h.ehlo();
  CHECK(h.trickle("MAIL FROM:<a@example.com>\n") ==
        "500 5.5.2 Error: bare <LF> received (command lines must end with <CR><LF>)\r\n");
  CHECK(h.talk("RCPT TO:<b@example.org>\r\n").rfind("503 5.5.1", 0) == 0);  // the MAIL did not happen
  CHECK(h.talk("NOOP\rMAIL FROM:<evil@example.com>\r\n") == "500 5.5.2 Error: bare <CR> received in command line\r\n");
  CHECK(h.talk("RCPT TO:<b@example.org>\r\n").rfind("503 5.5.1", 0) == 0);
  CHECK_FALSE(h.s->closed());
  legit_mail_passes(h);
  // each counts toward max_bad_commands (5, and the two 503s above count too)
  CHECK(h.talk("NOOP\n").rfind("500 5.5.2", 0) == 0);
  CHECK(h.talk("NOOP\r\n").rfind("421 4.7.0", 0) == 0);
  CHECK(h.s->closed());
}

TEST_CASE("bare LF inside an AUTH exchange ends it") {
  Harness h;
  h.policy->auth = relay::config::AuthMode::Optional;
  h.ehlo();
  CHECK(h.talk("AUTH LOGIN\r\n") == "334 VXNlcm5hbWU6\r\n");
  CHECK(h.talk("c2Nhbm5lcjE=\n").rfind("500 5.5.2", 0) == 0);
  CHECK(h.talk("NOOP\r\n") == "250 2.0.0 Ok\r\n");  // back in command mode
}

TEST_CASE("HTTP and header lines drop the connection at once (item 7)") {
  const char* lines[] = {"GET / HTTP/1.1", "POST /api HTTP/1.1", "CONNECT smtp.example.com:25 HTTP/1.1",
                         "Host: relay.test", "User-Agent: curl/8.0", "get /", "HEAD / HTTP/1.0"};
  for (const char* line : lines) {
    CAPTURE(line);
    Harness h;
    h.ehlo();
    h.envelope();
    std::string out = h.talk(std::string(line) + "\r\nDATA\r\nx\r\n.\r\n");
    CHECK(out == "554 5.5.1 relay.test Error: non-SMTP command, closing connection\r\n");
    CHECK(h.s->closed());
    CHECK(h.host.close_reason == "non-SMTP command");
    CHECK(h.host.committed.empty());
  }
  // SMTP lines that merely contain these words are fine
  Harness h;
  h.ehlo();
  CHECK(h.talk("HELO get.example\r\n") == "250 relay.test\r\n");
  CHECK(h.talk("VRFY Host:\r\n").rfind("252", 0) == 0);
  legit_mail_passes(h);
}

TEST_CASE("replies that are never read stop the session until the output drains (item 4)") {
  Harness h;
  h.ehlo();
  h.host.out_limit = 1000;
  // RCPT past max_recipients: answered 452 each time, neither an error nor
  // a junk command (NOOP/HELP would reach the junk-command limit).
  REQUIRE(h.talk("MAIL FROM:<a@example.com>\r\n") == "250 2.1.0 Ok\r\n");
  std::string wire;
  for (int i = 0; i < 2000; ++i) wire += "RCPT TO:<b@example.org>\r\n";
  h.host.out.clear();
  h.s->feed(wire);
  CHECK(h.host.out.size() >= 1000);
  CHECK(h.host.out.size() < 1000 + 200);  // stopped at the bound: not 2000 replies
  std::size_t answered = codes(h.host.out).size();
  CHECK(answered < 2000);
  for (int round = 0; round < 1000 && answered < 2000; ++round) {
    h.host.out.clear();  // the client read its replies
    h.s->resume();
    answered += codes(h.host.out).size();
  }
  CHECK(answered == 2000);  // every command answered once, in order, none lost
  h.host.out_limit = std::string::npos;
  h.talk("RSET\r\n");
  legit_mail_passes(h);
}

TEST_CASE("line_pending tracks an incomplete command line; a named deadline closes with 421 4.4.2 (item 5)") {
  Harness h;
  CHECK_FALSE(h.s->line_pending());
  h.talk("NOO");
  CHECK(h.s->line_pending());
  h.talk("P\r\n");
  CHECK_FALSE(h.s->line_pending());
  h.talk(std::string(600, 'x'));  // over-long line being discarded: still pending
  CHECK(h.s->line_pending());
  CHECK(h.talk("\r\n").rfind("500 5.5.2", 0) == 0);
  h.ehlo();
  h.envelope();
  h.talk("DATA\r\nabc");
  CHECK_FALSE(h.s->line_pending());  // data, not a command line
  h.host.out.clear();
  h.s->timeout("data rate too low");
  CHECK(h.host.out == "421 4.4.2 relay.test Error: data rate too low, closing connection\r\n");
  CHECK(h.host.close_reason == "data rate too low");
  CHECK(h.host.discarded == 1);
  CHECK(h.s->closed());
}

TEST_CASE("a password check refused unverified by the host closes with 421 4.7.0 (item 6)") {
  Harness h;
  h.policy->auth = relay::config::AuthMode::Optional;
  h.host.auto_auth = false;
  h.ehlo();
  CHECK(h.talk("AUTH PLAIN AHNjYW5uZXIxAHdyb25n\r\nNOOP\r\n") == "");  // waiting for the check
  h.s->auth_throttled();
  CHECK(h.host.out == "421 4.7.0 relay.test Error: too many failed authentications\r\n");
  CHECK(h.s->closed());
  CHECK(h.host.close_reason == "auth throttled");
}

TEST_CASE("AUTH LOGIN: failures reached meanwhile by other sessions stop the check before it runs") {
  Harness h;
  h.policy->auth = relay::config::AuthMode::Optional;
  h.ehlo();
  CHECK(h.talk("AUTH LOGIN\r\n") == "334 VXNlcm5hbWU6\r\n");
  CHECK(h.talk("c2Nhbm5lcjE=\r\n") == "334 UGFzc3dvcmQ6\r\n");
  for (int i = 0; i < 3; ++i) h.host.throttle.failure(h.host.client_ip, h.host.clock);  // parallel sessions
  CHECK(h.talk("czNjcmV0\r\n") == "421 4.7.0 relay.test Error: too many failed authentications\r\n");
  CHECK(h.s->auth_user().empty());
  CHECK(h.s->closed());
}
