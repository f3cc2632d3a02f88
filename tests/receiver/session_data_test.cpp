// Session: DATA and BDAT content — dot-unstuffing, smuggling variants, NUL,
// line length, size limit, header sender policy, Received:, spool failures.
#include <doctest/doctest.h>

#include "tests/receiver/fake_host.hpp"

using namespace relay::smtp;
using namespace relay::smtp::test;

namespace {
// Runs one DATA transaction with `wire` as the data (must include the end
// marker if any); returns the output after the 354.
std::string data(Harness& h, std::string_view wire) {
  h.ehlo();
  h.envelope();
  std::string r = h.talk("DATA\r\n");
  REQUIRE(r.rfind("354 ", 0) == 0);
  return h.talk(wire);
}
}  // namespace

TEST_CASE("DATA stores the unstuffed content after a Received: header") {
  Harness h;
  CHECK(data(h, "Subject: t\r\n\r\n..leading dot\r\n...\r\nx.\r\n.\r\n") == "250 2.0.0 Ok: queued as QID1\r\n");
  REQUIRE(h.host.committed.size() == 1);
  const std::string& m = h.host.committed[0];
  CHECK(body_of(m) == "Subject: t\r\n\r\n.leading dot\r\n..\r\nx.\r\n");
  CHECK(m.rfind("Received: from client.test ([192.0.2.1])\r\n\tby relay.test (relay) with ESMTP id QID1;\r\n\t", 0) == 0);
  CHECK(m.find("+0000\r\n") != std::string::npos);
}

TEST_CASE("empty message") {
  Harness h;
  CHECK(data(h, ".\r\n") == "250 2.0.0 Ok: queued as QID1\r\n");
  CHECK(body_of(h.host.committed.at(0)) == "");
}

TEST_CASE("only CRLF.CRLF ends DATA; smuggling variants are refused") {
  const char* variants[] = {
      "a\n.\nMAIL FROM:<evil@example.com>\r\n",    // LF.LF
      "a\n.\r\nMAIL FROM:<evil@example.com>\r\n",  // LF.CRLF
      "a\r.\rMAIL FROM:<evil@example.com>\r\n",    // CR.CR
      "a\r\n.\nMAIL FROM:<evil@example.com>\r\n",  // CRLF.LF
      "a\r\n.\rMAIL FROM:<evil@example.com>\r\n",  // CRLF.CR
      "a\r.\r\nMAIL FROM:<evil@example.com>\r\n",  // CR.CRLF
  };
  for (const char* v : variants) {
    CAPTURE(v);
    Harness h;
    std::string out = data(h, v);
    CHECK(out == "");  // still in DATA: the "MAIL" line is content
    out = h.talk("RCPT TO:<x@example.com>\r\n.\r\n");
    CHECK(out == "550 5.5.2 Error: bare CR or LF in message (lines must end with CRLF)\r\n");
    CHECK(h.host.committed.empty());
    CHECK(h.host.discarded == 1);
    CHECK(h.talk("RCPT TO:<x@example.com>\r\n").rfind("503", 0) == 0);  // transaction gone
  }
}

TEST_CASE("smuggling variants split across reads") {
  Harness h;
  data(h, "a\r\n.");
  CHECK(h.talk("\r") == "");
  CHECK(h.talk("x\r\n") == "");  // ".\rx" is content with a bare CR
  CHECK(h.talk(".\r\n") == "550 5.5.2 Error: bare CR or LF in message (lines must end with CRLF)\r\n");
  Harness g;
  data(g, "a\r\n.");
  CHECK(g.talk("\r") == "");
  CHECK(g.talk("\n") == "250 2.0.0 Ok: queued as QID1\r\n");
  CHECK(body_of(g.host.committed.at(0)) == "a\r\n");
}

TEST_CASE("bare LF or CR anywhere in DATA is refused") {
  Harness h;
  CHECK(data(h, "line\nmore\r\n.\r\n").rfind("550 5.5.2", 0) == 0);
  Harness c;
  CHECK(data(c, "line\rmore\r\n.\r\n").rfind("550 5.5.2", 0) == 0);
  Harness e;
  CHECK(data(e, "ends with CR\r\r\n.\r\n").rfind("550 5.5.2", 0) == 0);
}

TEST_CASE("NUL in DATA is refused") {
  Harness h;
  CHECK(data(h, std::string("a\0b\r\n.\r\n", 8)).rfind("554 5.6.0", 0) == 0);
  CHECK(h.host.committed.empty());
}

TEST_CASE("over-long text lines are refused at the end of data") {
  Harness h;
  h.policy->limits.max_message_size = 1 << 20;
  std::string ok(998, 'a');
  CHECK(data(h, ok + "\r\n.\r\n") == "250 2.0.0 Ok: queued as QID1\r\n");
  std::string line(1001, 'a');
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n" + line + "\r\n.\r\nNOOP\r\n") ==
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        "554 5.6.0 Error: message line longer than 998 octets\r\n250 2.0.0 Ok\r\n");
}

TEST_CASE("message size limit: reading continues, nothing more is stored") {
  Harness h;  // limit 10000
  std::string big;
  for (int i = 0; i < 200; ++i) big += std::string(98, 'x') + "\r\n";
  CHECK(data(h, big + ".\r\nNOOP\r\n") ==
        "552 5.3.4 Error: message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n");
  CHECK(h.host.committed.empty());
  CHECK(h.host.discarded == 1);
  Harness exact;
  std::string fits;
  for (int i = 0; i < 100; ++i) fits += std::string(98, 'x') + "\r\n";  // exactly 10000
  CHECK(data(exact, fits + ".\r\n") == "250 2.0.0 Ok: queued as QID1\r\n");
}

TEST_CASE("header From:/Sender: checked with policy reject") {
  Harness h;
  h.policy->senders_allowed = {"@example.com"};
  CHECK(data(h, "From: Someone <a@example.com>\r\nSubject: ok\r\n\r\nFrom: x@evil.example\r\n.\r\n")
            .rfind("250 2.0.0", 0) == 0);  // a body line is not a header
  Harness bad;
  bad.policy->senders_allowed = {"@example.com"};
  CHECK(data(bad, "Subject: x\r\nFrom: \"a@example.com\" <boss@evil.example>\r\n\r\nhi\r\n.\r\n") ==
        "550 5.7.1 Error: header address <boss@evil.example> not allowed as sender\r\n");
  Harness folded;
  folded.policy->senders_allowed = {"@example.com"};
  CHECK(data(folded, "Sender: ok@example.com\r\nFrom: a@example.com,\r\n b@evil.example\r\n\r\n.\r\n")
            .rfind("550 5.7.1", 0) == 0);
  Harness sender;
  sender.policy->senders_allowed = {"@example.com"};
  CHECK(data(sender, "From: a@example.com\r\nSender: x@evil.example\r\n\r\n.\r\n").rfind("550 5.7.1", 0) == 0);
  Harness rewrite;
  rewrite.policy->senders_allowed = {"@example.com"};
  rewrite.policy->sender_policy = relay::config::SenderPolicy::Rewrite;
  CHECK(data(rewrite, "From: boss@evil.example\r\n\r\n.\r\n").rfind("250 2.0.0", 0) == 0);
}

TEST_CASE("header From: per-user list, obsolete syntax, ambiguity; rewrite keeps per-user lists (issue 9.2)") {
  auto user_harness = [](relay::config::SenderPolicy p) {
    auto h = std::make_unique<Harness>();
    h->policy->senders_allowed = {"@example.com"};
    h->policy->sender_policy = p;
    h->policy->default_sender = "relay@example.com";
    h->policy->users = {{"scanner1", "", {"scan@example.com"}}};
    h->policy->auth = relay::config::AuthMode::Optional;
    h->s->feed("EHLO x\r\n");
    return h;
  };
  for (auto pol : {relay::config::SenderPolicy::Reject, relay::config::SenderPolicy::Rewrite}) {
    CAPTURE(static_cast<int>(pol));
    auto h = user_harness(pol);
    REQUIRE(h->talk("AUTH PLAIN AHNjYW5uZXIxAHMzY3JldA==\r\n").rfind("235", 0) == 0);  // \0scanner1\0s3cret
    for (const char* hdr : {"From : ceo@example.com\r\n", "From\t: ceo@example.com\r\n",
                            "From: scan@example.com\r\nFrom: ceo@example.com\r\n",
                            "From: Team: scan@example.com;\r\n", "From: scan@example.com (x\r\n",
                            "X: 1\r\nno field\r\nFrom: scan@example.com\r\n"}) {
      CAPTURE(hdr);
      h->host.out.clear();
      std::string out = h->talk("MAIL FROM:<scan@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" +
                                std::string(hdr) + "\r\nbody\r\n.\r\n");
      CHECK(out.find("550 5.7.1") != std::string::npos);
    }
    std::string ok = h->talk("MAIL FROM:<scan@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
                             "From : Scan <scan@example.com>\r\n\r\nbody\r\n.\r\n");
    CHECK(ok.find("250 2.0.0") != std::string::npos);
    CHECK(h->talk("MAIL FROM:<ceo@example.com>\r\n").rfind("550 5.7.1", 0) == 0);
  }
}

TEST_CASE("header section over max_header_size: 552 5.3.4, nothing kept, session in sync (issue 9.3)") {
  Harness h;
  h.policy->limits.max_message_size = 1 << 30;
  h.policy->limits.max_header_size = 4096;
  std::string flood;
  for (int i = 0; i < 20000; ++i) flood += "From:a\r\n";
  CHECK(data(h, flood + "\r\nbody\r\n.\r\nNOOP\r\n") ==
        "552 5.3.4 Error: message header size exceeds limit\r\n250 2.0.0 Ok\r\n");
  CHECK(h.host.committed.empty());
  CHECK(h.host.discarded == 1);
}

TEST_CASE("BDAT header flood: 552 5.3.4 at LAST, chunks still consumed exactly") {
  Harness h;
  h.policy->limits.max_message_size = 1 << 30;
  h.policy->limits.max_header_size = 4096;
  h.ehlo();
  h.envelope();
  std::string flood;
  for (int i = 0; i < 2000; ++i) flood += "From:a\r\n";
  std::string out = h.talk("BDAT " + std::to_string(flood.size()) + "\r\n" + flood);
  CHECK(out.rfind("552 5.3.4", 0) == 0);
  out = h.talk("BDAT 6 LAST\r\nbody\r\nNOOP\r\n");
  CHECK(out == "552 5.3.4 Error: message header size exceeds limit\r\n250 2.0.0 Ok\r\n");
  CHECK(h.host.committed.empty());
}

TEST_CASE("leading continuation line: 554 5.6.0") {
  Harness h;
  CHECK(data(h, " folded\r\nFrom: a@example.com\r\n\r\n.\r\n").rfind("554 5.6.0", 0) == 0);
}

TEST_CASE("spool failures answer 451 4.3.0") {
  Harness open;
  open.host.fail_open = true;
  open.ehlo();
  open.envelope();
  CHECK(open.talk("DATA\r\n") == "451 4.3.0 Error: queue file write error\r\n");
  Harness write;
  write.host.fail_write = true;
  CHECK(data(write, "x\r\n.\r\n") == "451 4.3.0 Error: queue file write error\r\n");
  Harness commit;
  commit.host.commit_ok = false;
  CHECK(data(commit, "x\r\n.\r\n") == "451 4.3.0 Error: queue file write error\r\n");
  CHECK(commit.talk("RCPT TO:<x@example.com>\r\n").rfind("503", 0) == 0);
}

TEST_CASE("a full disk answers 452 4.3.1 (RFC 3463 mail system full), at DATA, end of data and commit") {
  const std::string full = "452 4.3.1 Error: insufficient system storage\r\n";
  Harness open;
  open.host.fail_open = open.host.disk_full = true;
  open.ehlo();
  open.envelope();
  CHECK(open.talk("DATA\r\n") == full);
  Harness write;
  write.host.fail_write = write.host.disk_full = true;
  CHECK(data(write, "x\r\n.\r\n") == full);
  Harness commit;
  commit.host.commit_ok = false;
  commit.host.disk_full = true;
  CHECK(data(commit, "x\r\n.\r\n") == full);
  CHECK(commit.host.committed.empty());
}

TEST_CASE("MAIL is refused 452 4.3.1 while the spool has less than min_free_space (+1.5 x SIZE) free") {
  Harness h;
  h.policy->limits.min_free_space = 1000000;
  h.reset();
  h.ehlo();
  h.host.free_bytes = 999999;
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "452 4.3.1 Error: insufficient system storage\r\n");
  CHECK(h.talk("RCPT TO:<b@example.com>\r\n").rfind("503", 0) == 0);  // no transaction was started
  h.host.free_bytes = 1000000;
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(h.talk("RSET\r\n").rfind("250", 0) == 0);
  // SIZE=2000 needs 1,000,000 + 3,000 bytes free.
  h.host.free_bytes = 1002999;
  CHECK(h.talk("MAIL FROM:<a@example.com> SIZE=2000\r\n") == "452 4.3.1 Error: insufficient system storage\r\n");
  h.host.free_bytes = 1003000;
  CHECK(h.talk("MAIL FROM:<a@example.com> SIZE=2000\r\n") == "250 2.1.0 Ok\r\n");
  // A refusal for low storage is not a client error: it never closes the session.
  CHECK(!h.host.closed);
}

TEST_CASE("min_free_space 0 never asks the host for free space") {
  Harness h;
  h.policy->limits.min_free_space = 0;
  h.reset();
  h.ehlo();
  h.host.free_bytes = 0;
  CHECK(h.talk("MAIL FROM:<a@example.com>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(h.host.storage_checks == 0);
}

TEST_CASE("BDAT chunks, LAST, BDAT 0 LAST, binary content") {
  Harness h;
  h.ehlo();
  h.envelope();
  std::string p1 = "Subject: b\r\n\r\n.stays\r\n";
  std::string p2("bin \0\xff\r\n.\r\nmore\r\n", 18);
  CHECK(h.talk("BDAT " + std::to_string(p1.size()) + "\r\n" + p1).rfind("250 2.0.0 ", 0) == 0);
  CHECK(h.talk("DATA\r\n").rfind("503 5.5.1", 0) == 0);
  CHECK(h.talk("BDAT " + std::to_string(p2.size()) + " LAST\r\n" + p2) == "250 2.0.0 Ok: queued as QID1\r\n");
  CHECK(body_of(h.host.committed.at(0)) == p1 + p2);
  std::string out = h.talk("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n");
  CHECK(codes(out) == std::vector<int>{250, 250, 250, 250});
  CHECK(out.find("queued as QID2") != std::string::npos);
  CHECK(body_of(h.host.committed.at(1)) == "abc");
  CHECK(h.talk("DATA\r\n").rfind("503 5.5.1", 0) == 0);
}

TEST_CASE("BDAT split across reads and out of sequence") {
  Harness h;
  h.ehlo();
  // refused at once; exactly its 5 octets are consumed, even across reads
  CHECK(h.talk("BDAT 5\r\nhel") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(h.talk("lo") == "");
  CHECK(h.talk("BDAT 10 LAST\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(h.talk("0123456789NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(h.talk("BDAT 3 x\r\nabcNOOP\r\n") == "501 5.5.4 Syntax: BDAT size [LAST]\r\n250 2.0.0 Ok\r\n");
  h.envelope();
  CHECK(h.trickle("BDAT 4 LAST\r\nab\r\n") == "250 2.0.0 Ok: queued as QID1\r\n");
  CHECK(body_of(h.host.committed.at(0)) == "ab\r\n");
}

TEST_CASE("BDAT size limit and bare LF") {
  Harness h;  // limit 10000
  h.ehlo();
  h.envelope();
  std::string chunk(6000, 'x');
  CHECK(h.talk("BDAT 6000\r\n" + chunk).rfind("250", 0) == 0);
  CHECK(h.talk("BDAT 6000\r\n" + chunk).rfind("552 5.3.4", 0) == 0);
  CHECK(h.talk("BDAT 0 LAST\r\n").rfind("552 5.3.4", 0) == 0);
  CHECK(h.host.committed.empty());
  h.envelope();
  CHECK(h.talk("BDAT 4 LAST\r\na\nb\n").rfind("550 5.5.2", 0) == 0);
}

TEST_CASE("Received header with auth and HELO") {
  Harness h;
  h.policy->auth = relay::config::AuthMode::Optional;
  h.talk("HELO old.client\r\n");
  h.envelope();
  h.talk("DATA\r\nx\r\n.\r\n");
  CHECK(h.host.committed.at(0).find("with SMTP id QID1") != std::string::npos);
  Harness a;
  a.policy->auth = relay::config::AuthMode::Optional;
  a.ehlo();
  a.talk("AUTH PLAIN AHNjYW5uZXIxAHMzY3JldA==\r\n");
  data(a, "x\r\n.\r\n");
  CHECK(a.host.committed.at(0).find("with ESMTPA id QID1") != std::string::npos);
  CHECK(a.host.committed.at(0).find("(authenticated user scanner1)") != std::string::npos);
  CHECK(a.host.txns.at(0).auth_user == "scanner1");
}
