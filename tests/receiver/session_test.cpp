// Session: greeting, EHLO, every envelope command, out-of-order commands,
// pipelining, line length, the bad-command counter, STARTTLS, timeouts.
#include <doctest/doctest.h>

#include "tests/receiver/fake_host.hpp"

using namespace relay::smtp;
using namespace relay::smtp::test;
using relay::config::TlsMode;

TEST_CASE("greeting and EHLO advertise the extensions") {
  Harness h({}, false);
  CHECK(h.host.out == "220 relay.test ESMTP relay\r\n");
  std::string e = h.ehlo();
  CHECK(e ==
        "250-relay.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
        "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250 HELP\r\n");
  CHECK(h.talk("HELO other\r\n") == "250 relay.test\r\n");
  CHECK(h.talk("EHLO\r\n") == "501 5.5.4 Syntax: EHLO hostname\r\n");
}

TEST_CASE("EHLO offers STARTTLS on starttls listeners and AUTH when enabled") {
  Harness h({TlsMode::StartTls, true});
  h.policy->auth = relay::config::AuthMode::Optional;
  std::string e = h.ehlo();
  CHECK(e.find("250-STARTTLS\r\n") != std::string::npos);
  CHECK(e.find("250-AUTH PLAIN LOGIN\r\n") != std::string::npos);
  h.host.tls_avail = false;
  CHECK(h.ehlo().find("STARTTLS") == std::string::npos);
  Harness remote({TlsMode::StartTls, false});
  remote.policy->auth = relay::config::AuthMode::Optional;
  CHECK(remote.ehlo().find("AUTH") == std::string::npos);  // not before TLS off loopback
}

TEST_CASE("simple commands") {
  Harness h;
  h.ehlo();
  CHECK(h.talk("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(h.talk("RSET\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(h.talk("VRFY postmaster\r\n").rfind("252 2.5.0 ", 0) == 0);
  CHECK(h.talk("HELP\r\n").rfind("214 2.0.0 ", 0) == 0);
  CHECK(h.talk("noop\r\n") == "250 2.0.0 Ok\r\n");  // case-insensitive
  CHECK(h.talk("EXPN list\r\n").rfind("502 5.5.1", 0) == 0);
  CHECK(h.talk("FOO\r\n") == "500 5.5.2 Error: command not recognized\r\n");
  CHECK(h.talk("QUIT\r\n") == "221 2.0.0 Bye\r\n");
  CHECK(h.host.closed);
  CHECK(h.talk("NOOP\r\n") == "");  // nothing after QUIT
}

TEST_CASE("out-of-order commands") {
  Harness h;
  h.policy->limits.max_bad_commands = 100;
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  h.ehlo();
  CHECK(h.talk("RCPT TO:<b@example.com>\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(h.talk("DATA\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "503 5.5.1 Error: nested MAIL command\r\n");
  CHECK(h.talk("DATA\r\n") == "503 5.5.1 Error: need RCPT command\r\n");
  CHECK(h.talk("RSET\r\nRCPT TO:<b@example.com>\r\n") == "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n");
}

TEST_CASE("MAIL and RCPT syntax and parameters") {
  Harness h;
  h.policy->limits.max_bad_commands = 100;
  h.ehlo();
  CHECK(h.talk("MAIL FROM:a@example.com\r\n") == "250 2.1.0 Ok\r\n");  // lenient: no brackets
  h.talk("RSET\r\n");
  CHECK(h.talk("MAIL TO:<a@example.com>\r\n").rfind("501 5.5.4", 0) == 0);
  CHECK(h.talk("MAIL FROM:<a b@example.com>\r\n").rfind("501 5.1.7", 0) == 0);
  CHECK(h.talk("MAIL FROM:<a@example.com> SIZE=10001\r\n").rfind("552 5.3.4", 0) == 0);
  CHECK(h.talk("MAIL FROM:<a@example.com> FOO=1\r\n").rfind("555 5.5.4", 0) == 0);
  CHECK(h.talk("MAIL FROM:<j\xc3\xbcrgen@example.com>\r\n").rfind("553 5.6.7", 0) == 0);
  CHECK(h.talk("MAIL FROM:<j\xc3\xbcrgen@example.com> SMTPUTF8 BODY=8BITMIME SIZE=100\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(h.talk("RCPT TO:<zo\xc3\xab@example.com>\r\n") == "250 2.1.5 Ok\r\n");
  CHECK(h.talk("RCPT TO:<>\r\n").rfind("501 5.1.3", 0) == 0);
  CHECK(h.talk("RCPT TO:<nodomain>\r\n").rfind("501 5.1.3", 0) == 0);
  CHECK(h.talk("RCPT TO:<postmaster>\r\n") == "250 2.1.5 Ok\r\n");
  CHECK(h.talk("RCPT TO:<@hop.example:c@example.com>\r\n") == "250 2.1.5 Ok\r\n");  // source route dropped
  CHECK(h.talk("RCPT TO:<d@example.com> NOTIFY=NEVER\r\n").rfind("555 5.5.4", 0) == 0);
  CHECK(h.talk("RCPT TO:<d@example.com>\r\n") == "452 4.5.3 Error: too many recipients\r\n");
  CHECK(h.talk("DATA\r\n").rfind("354 ", 0) == 0);
  REQUIRE(h.host.txns.size() == 1);
  const auto& t = h.host.txns[0];
  CHECK(t.mail_from == "j\xc3\xbcrgen@example.com");
  CHECK(t.mail_params == "SMTPUTF8 BODY=8BITMIME SIZE=100");
  REQUIRE(t.rcpts.size() == 3);
  CHECK(t.rcpts[2].address == "c@example.com");
  CHECK(t.helo == "client.test");
  CHECK(t.client_ip == "192.0.2.1");
}

TEST_CASE("null sender is accepted with an empty allowed list") {
  Harness h;
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<>\r\n") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("pipelined commands are answered in order from one feed") {
  Harness h;
  std::string out = h.talk(
      "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
      "Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\nsecond\r\n.\r\n"
      "QUIT\r\n");
  CHECK(codes(out) == std::vector<int>{250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221});
  REQUIRE(h.host.committed.size() == 2);
  CHECK(body_of(h.host.committed[0]) == "Subject: x\r\n\r\nbody\r\n");
  CHECK(body_of(h.host.committed[1]) == "second\r\n");
}

TEST_CASE("input split at every byte gives the same result") {
  Harness h;
  std::string out = h.trickle("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
                              "..dot\r\n.\r\n");
  CHECK(codes(out) == std::vector<int>{250, 250, 250, 354, 250});
  REQUIRE(h.host.committed.size() == 1);
  CHECK(body_of(h.host.committed[0]) == ".dot\r\n");
}

TEST_CASE("pipelined input waits while a commit is pending") {
  Harness h;
  h.host.auto_commit = false;
  h.ehlo();
  std::string out = h.talk("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n");
  CHECK(codes(out) == std::vector<int>{250, 250, 354});
  CHECK(h.s->in_transfer());
  CHECK(h.talk("NOOP\r\n") == "");
  h.host.out.clear();
  h.host.finish_commit();
  CHECK(h.host.out == "250 2.0.0 Ok: queued as QID1\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
  CHECK_FALSE(h.s->in_transfer());
}

TEST_CASE("command line length limit") {
  Harness h;
  h.ehlo();
  std::string long_line = "NOOP " + std::string(600, 'x') + "\r\n";
  CHECK(h.talk(long_line) == "500 5.5.2 Error: line too long\r\n");
  // a line longer than any buffer arrives in pieces: dropped, one reply at its end
  h.talk("NOOP ");
  for (int i = 0; i < 100; ++i) CHECK(h.talk(std::string(1000, 'y')) == "");
  CHECK(h.talk("\r\nNOOP\r\n") == "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
  std::string ok_line = "NOOP " + std::string(505, 'x') + "\r\n";  // 512 with CRLF
  CHECK(h.talk(ok_line) == "250 2.0.0 Ok\r\n");
}

TEST_CASE("bad command counter closes with 421") {
  Harness h;
  h.ehlo();
  for (int i = 0; i < 5; ++i) CHECK(h.talk("BOGUS\r\n").rfind("500 5.5.2", 0) == 0);
  CHECK(h.talk("NOOP\r\n").rfind("421 4.7.0 ", 0) == 0);
  CHECK(h.host.closed);
}

TEST_CASE("NUL in a command is an error") {
  Harness h;
  h.ehlo();
  CHECK(h.talk(std::string("NOOP\0x\r\n", 8)).rfind("500 5.5.2", 0) == 0);
}

TEST_CASE("LF-only command lines are refused, not executed (issue 9 item 7)") {
  Harness h;
  CHECK(h.talk("EHLO c\nNOOP\n") ==
        "500 5.5.2 Error: bare <LF> received (command lines must end with <CR><LF>)\r\n"
        "500 5.5.2 Error: bare <LF> received (command lines must end with <CR><LF>)\r\n");
  CHECK(h.talk("NOOP\r\n") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("STARTTLS discards pipelined input and resets the session") {
  Harness h({TlsMode::StartTls, true});
  h.ehlo();
  CHECK(h.talk("STARTTLS\r\nMAIL FROM:<evil@example.com>\r\n") == "220 2.0.0 Ready to start TLS\r\n");
  CHECK(h.host.tls_requested);
  CHECK(h.talk("RCPT TO:<x@example.com>\r\n") == "");  // still before the handshake
  h.s->tls_established("TLSv1.3 TLS_AES_256_GCM_SHA384");
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  std::string e = h.ehlo();
  CHECK(e.find("STARTTLS") == std::string::npos);
  CHECK(h.talk("STARTTLS\r\n").rfind("503 5.5.1", 0) == 0);
  h.envelope();
  h.talk("DATA\r\nx\r\n.\r\n");
  REQUIRE(h.host.committed.size() == 1);
  CHECK(h.host.committed[0].find("with ESMTPS id QID1") != std::string::npos);
  CHECK(h.host.committed[0].find("TLSv1.3") != std::string::npos);
}

TEST_CASE("STARTTLS where it is not offered") {
  Harness h;  // plain listener
  h.ehlo();
  CHECK(h.talk("STARTTLS\r\n").rfind("502 5.5.1", 0) == 0);
  CHECK_FALSE(h.host.tls_requested);
}

TEST_CASE("starttls-required refuses MAIL before TLS") {
  Harness h({TlsMode::StartTlsRequired, true});
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "530 5.7.0 Must issue a STARTTLS command first\r\n");
  h.talk("STARTTLS\r\n");
  h.s->tls_established("TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256");
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("auth required") {
  Harness h;
  h.policy->auth = relay::config::AuthMode::Required;
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "530 5.7.0 Authentication required\r\n");
  CHECK(h.talk("AUTH PLAIN AHNjYW5uZXIxAHMzY3JldA==\r\n").rfind("235 2.7.0", 0) == 0);
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("sender policy at MAIL") {
  Harness h;
  h.policy->senders_allowed = {"@example.com", "printer@example.net"};
  h.policy->users.push_back({"scanner1", "", {"scan@example.org"}});
  h.policy->auth = relay::config::AuthMode::Optional;
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<x@example.com>\r\nRSET\r\n") == "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n");
  CHECK(h.talk("MAIL FROM:<x@other.com>\r\n").rfind("550 5.7.1 ", 0) == 0);
  CHECK(h.talk("MAIL FROM:<>\r\n").rfind("550 5.7.1 ", 0) == 0);
  h.talk("AUTH PLAIN AHNjYW5uZXIxAHMzY3JldA==\r\n");
  CHECK(h.talk("MAIL FROM:<x@example.com>\r\n").rfind("550 5.7.1 ", 0) == 0);  // per-user list wins
  CHECK(h.talk("MAIL FROM:<scan@example.org>\r\n") == "250 2.1.0 Ok\r\n");
  Harness rw;
  rw.policy->senders_allowed = {"@example.com"};
  rw.policy->sender_policy = relay::config::SenderPolicy::Rewrite;
  rw.ehlo();
  CHECK(rw.talk("MAIL FROM:<x@other.com>\r\n") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("idle timeout and shutdown") {
  Harness h;
  h.ehlo();
  h.host.out.clear();
  h.s->timeout();
  CHECK(h.host.out.rfind("421 4.4.2 ", 0) == 0);
  CHECK(h.host.closed);
  Harness d;
  d.ehlo();
  d.envelope();
  d.talk("DATA\r\npartial");
  CHECK(d.s->in_transfer());
  d.host.out.clear();
  d.s->shutdown();
  CHECK(d.host.out.rfind("421 4.3.2 ", 0) == 0);
  CHECK(d.host.discarded == 1);
}
