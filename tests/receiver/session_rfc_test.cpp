// Session: RFC corners found by the hostile-client audit (smtpaudit) —
// malformed BDAT commands never let their chunk be read as commands
// (RFC 3030), the enhanced codes RFC 4954 / 1870 name for AUTH and SIZE,
// duplicate MAIL parameters, malformed UTF-8 addresses (RFC 6531), the
// junk-command limit (endless NOOP/RSET/VRFY/EHLO) and the end of the
// client's input (half-close) while a commit is pending.
#include <doctest/doctest.h>

#include "receiver/smtp/command.hpp"
#include "tests/receiver/fake_host.hpp"

using namespace relay::smtp;
using namespace relay::smtp::test;

TEST_CASE("BDAT with a size but trailing junk: 501, the N octets are consumed as data") {
  for (const char* cmd : {"BDAT 20 LAST junk", "BDAT 20 FIRST", "BDAT 20 LAST LAST"}) {
    CAPTURE(cmd);
    Harness h;
    h.ehlo();
    h.envelope();
    // 20 octets holding a complete command: it must never run.
    std::string chunk = "x\r\nMAIL FROM:<e@x>\r\n";
    REQUIRE(chunk.size() == 20);
    std::string out = h.talk(std::string(cmd) + "\r\n" + chunk + "NOOP\r\n");
    CHECK(out == "501 5.5.4 Syntax: BDAT size [LAST]\r\n250 2.0.0 Ok\r\n");
    CHECK_FALSE(h.s->closed());
    // the transaction is still there: a good BDAT LAST completes it
    CHECK(h.talk("BDAT 4 LAST\r\nok\r\n").find("queued as") != std::string::npos);
  }
}

TEST_CASE("BDAT whose size cannot be read: 501, then 421 and close (the chunk end is unknown)") {
  for (const char* cmd : {"BDAT", "BDAT abc", "BDAT -5", "BDAT +5", "BDAT 18446744073709551616", "BDAT 5x LAST",
                          "BDAT 99999999999999999999999 LAST"}) {
    CAPTURE(cmd);
    Harness h;
    h.ehlo();
    h.envelope();
    std::string out = h.talk(std::string(cmd) + "\r\nRSET\r\nNOOP\r\n");
    CHECK(codes(out) == std::vector<int>{501, 421});
    CHECK(out.rfind("501 5.5.4 Syntax: BDAT size [LAST]\r\n", 0) == 0);
    CHECK(h.s->closed());
    CHECK(h.host.committed.empty());
  }
}

TEST_CASE("AUTH: no mechanism is a syntax error; an over-long response is 500 5.5.6 (RFC 4954)") {
  Harness h;
  h.policy->auth = relay::config::AuthMode::Optional;
  h.reset();
  h.ehlo();
  CHECK(h.talk("AUTH\r\n") == "501 5.5.4 Syntax: AUTH mechanism\r\n");
  CHECK(h.talk("AUTH PLAIN\r\n") == "334 \r\n");
  std::string out = h.talk(std::string(Session::kMaxAuthLine + 10, 'A') + "\r\nNOOP\r\n");
  CHECK(out == "500 5.5.6 Authentication Exchange line is too long\r\n250 2.0.0 Ok\r\n");
  // an over-long AUTH command line (initial response), however the reads split it
  std::string line = "AUTH PLAIN " + std::string(Session::kMaxAuthLine + 10, 'A') + "\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{1000}, line.size()}) {
    CAPTURE(step);
    h.host.out.clear();
    for (std::size_t i = 0; i < line.size(); i += step) h.s->feed(std::string_view(line).substr(i, step));
    CHECK(h.host.out == "500 5.5.6 Authentication Exchange line is too long\r\n");
  }
}

TEST_CASE("MAIL SIZE corners (RFC 1870) and duplicate parameters") {
  Harness h;
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<a@example.com> SIZE\r\n") == "501 5.5.4 Error: bad SIZE parameter\r\n");
  // all digits but beyond any integer: more than the limit, not a syntax error
  CHECK(h.talk("MAIL FROM:<a@example.com> SIZE=99999999999999999999999\r\n").rfind("552 5.3.4", 0) == 0);
  CHECK(h.talk("MAIL FROM:<a@example.com> SIZE=10 SIZE=20\r\n") ==
        "501 5.5.4 Error: duplicate MAIL parameter SIZE\r\n");
  CHECK(h.talk("MAIL FROM:<a@example.com> BODY=7BIT body=8BITMIME\r\n") ==
        "501 5.5.4 Error: duplicate MAIL parameter body\r\n");
  CHECK(h.talk("MAIL FROM:<a@example.com> SIZE=10 BODY=8BITMIME\r\n") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("SMTPUTF8 addresses must be valid UTF-8 (RFC 6531)") {
  Harness h;
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<j\xff\xfe@example.com> SMTPUTF8\r\n").rfind("501 5.1.7", 0) == 0);
  CHECK(h.talk("MAIL FROM:<j\xc3@example.com> SMTPUTF8\r\n").rfind("501 5.1.7", 0) == 0);      // truncated
  CHECK(h.talk("MAIL FROM:<j\xc0\xaf@example.com> SMTPUTF8\r\n").rfind("501 5.1.7", 0) == 0);  // overlong
  CHECK(h.talk("MAIL FROM:<j\xc3\xb6@example.com> SMTPUTF8\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(h.talk("RCPT TO:<r\xed\xa0\x80@example.org>\r\n").rfind("501 5.1.3", 0) == 0);  // surrogate
  CHECK(h.talk("RCPT TO:<r\xe2\x82\xac@example.org>\r\n") == "250 2.1.5 Ok\r\n");
}

TEST_CASE("junk commands beyond the limit count as errors; an accepted message resets the count") {
  Harness h;
  h.ehlo();
  std::string noops;
  for (std::size_t i = 0; i < Session::kMaxJunkCommands; ++i) noops += "NOOP\r\n";
  std::string out = h.talk(noops);
  CHECK(codes(out) == std::vector<int>(Session::kMaxJunkCommands, 250));
  // a message resets the count: the same number again is fine
  h.envelope();
  CHECK(h.talk("BDAT 4 LAST\r\nok\r\n").find("queued as") != std::string::npos);
  out = h.talk(noops);
  CHECK(codes(out) == std::vector<int>(Session::kMaxJunkCommands, 250));
  // beyond it each one is still answered but counts; max_bad_commands (5) later: 421
  std::string more;
  for (int i = 0; i < 10; ++i) more += i % 2 ? "RSET\r\n" : "VRFY x\r\n";
  out = h.talk(more);
  auto c = codes(out);
  REQUIRE(!c.empty());
  CHECK(c.back() == 421);
  CHECK(out.find("421 4.7.0 relay.test Error: too many errors") != std::string::npos);
  CHECK(h.s->closed());
}

TEST_CASE("end of input: a pending commit still answers, pipelined QUIT too; a partial DATA is dropped") {
  Harness h;
  h.host.auto_commit = false;
  h.ehlo();
  h.envelope();
  std::string out = h.talk("DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n");
  CHECK(out == "354 End data with <CR><LF>.<CR><LF>\r\n");
  h.host.out.clear();
  h.s->end_of_input();  // client half-closed: but the commit is still ours to answer
  CHECK_FALSE(h.s->closed());
  h.host.finish_commit();
  CHECK(h.host.out.find("250 2.0.0 Ok: queued as QID1\r\n221 2.0.0 Bye\r\n") == 0);
  CHECK(h.s->closed());
  CHECK(h.host.committed.size() == 1);

  Harness p;
  p.ehlo();
  p.envelope();
  p.talk("DATA\r\nSubject: x\r\n\r\nhalf a mess");
  p.host.out.clear();
  p.s->end_of_input();
  CHECK(p.s->closed());
  CHECK(p.host.out.empty());  // nobody to read a reply to a command never finished
  CHECK(p.host.committed.empty());
  CHECK(p.host.discarded == 1);
  CHECK(p.host.close_reason == "client disconnected");
}

TEST_CASE("quoted local parts with quoted pairs and '>' (RFC 5321 4.1.2 Quoted-string)") {
  Path p;
  CHECK(parse_path("FROM:<\"a>b\"@example.com> SIZE=5", "FROM:", p) == PathError::None);
  CHECK(p.address == "\"a>b\"@example.com");
  CHECK(p.params_text == "SIZE=5");
  CHECK(parse_path("FROM:<\"a\\\">\"@example.com>", "FROM:", p) == PathError::None);
  CHECK(p.address == "\"a\\\">\"@example.com");
  CHECK(check_address("\"a\\\"b\"@example.com", false) == PathError::None);
  CHECK(check_address("\"a\\\\\"@example.com", false) == PathError::None);
  CHECK(check_address("\"a\\\"@example.com", false) == PathError::BadAddress);  // the quote never closes
  CHECK(check_address("\"a\\\x01\"@example.com", false) == PathError::BadAddress);
  Harness h;
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<\"john\\\"q\"@example.com>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(h.talk("RCPT TO:<\"x>y\"@example.org>\r\n") == "250 2.1.5 Ok\r\n");
}
