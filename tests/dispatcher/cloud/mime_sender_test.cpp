// mime_prepare's choice of sending mailbox (issue 9 item 2): the header is
// read by common/header_reader, ambiguous or unreadable From/Sender fields
// are permanent 5.7.1, and the mailbox is re-checked against the envelope's
// AUTH user's allowed_senders (defence in depth behind the receiver).
#include <doctest/doctest.h>

#include "dispatcher/providers/cloud/mime_prepare.hpp"

using namespace relay::provider::cloud;
using relay::config::AuthUser;
using relay::config::SenderConfig;
using relay::config::SenderPolicy;

namespace {

const std::vector<AuthUser> kUsers{{"scanner1", "h", {"scan@contoso.example"}}, {"erp", "h", {}}};

Prepared run(const std::string& raw, SenderPolicy pol = SenderPolicy::Reject, std::string_view auth = "scanner1",
             std::string_view mail_from = "scan@contoso.example") {
  static const std::vector<std::string> rcpts{"x@example.org"};
  static SenderConfig s;
  s.allowed = {"@contoso.example"};
  s.default_sender = "relay@contoso.example";
  s.policy = pol;
  PrepareInput in{raw, mail_from, &rcpts, &s, "01JTESTQUEUEID0000000", 1764072000};
  in.auth_user = auth;
  in.users = &kUsers;
  return prepare(in);
}

void refused(const Prepared& p, const char* what) {
  CHECK_MESSAGE(!p.ok, what, " was sent as ", p.mailbox);
  CHECK(p.reject.outcome == relay::provider::Outcome::Permanent);
  CHECK(p.reject.enhanced == "5.7.1");
}

std::string folded_comment(std::size_t size) {
  std::string c = "(pad";
  while (c.size() < size) c += "\r\n " + std::string(60, 'x');
  return c + ")";
}

}  // namespace

TEST_CASE("the AUTH user's allowed_senders is re-checked against the mailbox sent as") {
  auto ok = run("From: Scan <scan@contoso.example>\r\nTo: x@example.org\r\n\r\nb\r\n");
  REQUIRE(ok.ok);
  CHECK(ok.mailbox == "scan@contoso.example");
  refused(run("From: ceo@contoso.example\r\nTo: x@example.org\r\n\r\nb\r\n"), "per-user list");
  refused(run("From: scan@contoso.example\r\nSender: ceo@contoso.example\r\n\r\nb\r\n"), "Sender");
  refused(run("From: scan@contoso.example\r\n\r\nb\r\n", SenderPolicy::Reject, "scanner1", "ceo@contoso.example"),
          "envelope");
  // A user without a list of its own has senders.allowed.
  auto erp = run("From: ceo@contoso.example\r\n\r\nb\r\n", SenderPolicy::Reject, "erp", "");
  REQUIRE(erp.ok);
  CHECK(erp.mailbox == "ceo@contoso.example");
}

TEST_CASE("obsolete and tricky syntax is read as the receiver reads it") {
  refused(run("From : ceo@contoso.example\r\n\r\nb\r\n"), "space before colon");
  refused(run("From\t: ceo@contoso.example\r\n\r\nb\r\n"), "tab before colon");
  refused(run("From: " + folded_comment(5000) + " ceo@contoso.example\r\n\r\nb\r\n"), "5 KB comment");
  refused(run("From: (scan@contoso.example) ceo@contoso.example\r\n\r\nb\r\n"), "comment");
  refused(run("From: \"scan@contoso.example\" <ceo@contoso.example>\r\n\r\nb\r\n"), "quoted display name");
  refused(run("From: =?utf-8?q?scan=40contoso.example?= <ceo@contoso.example>\r\n\r\nb\r\n"), "encoded word");
  auto quoted = run("From: \"scan\"@contoso.example\r\n\r\nb\r\n");
  REQUIRE(quoted.ok);
  CHECK(quoted.mailbox == "scan@contoso.example");
}

TEST_CASE("ambiguous or unreadable From/Sender is permanent 5.7.1, with policy rewrite too") {
  for (auto pol : {SenderPolicy::Reject, SenderPolicy::Rewrite}) {
    CAPTURE(static_cast<int>(pol));
    for (const char* h : {"From: scan@contoso.example\r\nFrom: ceo@contoso.example\r\n",
                          "From: scan@contoso.example\r\nFROM : ceo@contoso.example\r\n",
                          "From: scan@contoso.example, ceo@contoso.example\r\n",
                          "From: scan@contoso.example ceo@contoso.example\r\n",
                          "From: Team: scan@contoso.example;\r\n", "From: scan@contoso.example (open\r\n",
                          "From: \"Scan <scan@contoso.example>\r\n", "From: =?utf-8?q?ceo?=@contoso.example\r\n",
                          "From: scan@contoso.example\r\nSender: a@contoso.example\r\nSender: b@contoso.example\r\n"}) {
      CAPTURE(h);
      refused(run(std::string(h) + "To: x@example.org\r\n\r\nb\r\n", pol, "erp", ""), "ambiguous");
    }
  }
  const std::string huge = "From: " + folded_comment(17000) + " scan@contoso.example\r\n\r\nb\r\n";
  refused(run(huge), "over-long From");
}

TEST_CASE("policy rewrite does not rewrite a per-user violation; it still rewrites the global list") {
  refused(run("From: ceo@contoso.example\r\n\r\nb\r\n", SenderPolicy::Rewrite), "rewrite, per-user");
  auto g = run("From: evil@other.example\r\n\r\nb\r\n", SenderPolicy::Rewrite, "", "");
  REQUIRE(g.ok);
  CHECK(g.rewritten);
  CHECK(g.mailbox == "relay@contoso.example");
}

TEST_CASE("several From addresses with a Sender go out as the Sender") {
  auto p = run("From: scan@contoso.example, ceo@contoso.example\r\nSender: ceo@contoso.example\r\n\r\nb\r\n",
               SenderPolicy::Reject, "erp", "");
  REQUIRE(p.ok);
  CHECK(p.mailbox == "ceo@contoso.example");
  refused(run("From: scan@contoso.example, ceo@contoso.example\r\nSender: scan@contoso.example\r\n\r\nb\r\n"),
          "one From address outside the user's list");
}

TEST_CASE("missing From: default_sender, unless the user's list forbids it") {
  auto p = run("To: x@example.org\r\n\r\nb\r\n", SenderPolicy::Reject, "erp", "");
  REQUIRE(p.ok);
  CHECK(p.mailbox == "relay@contoso.example");
  refused(run("To: x@example.org\r\n\r\nb\r\n"), "scanner1 may not send as the default sender");
}

TEST_CASE("a non-field line starts the body: the empty line is put in, so Graph sees the same split") {
  const std::string raw = "From: scan@contoso.example\r\nSubject: s\r\nnot a field\r\nFrom: ceo@contoso.example\r\n";
  auto p = run(raw + "\r\nbody\r\n");
  REQUIRE(p.ok);
  CHECK(p.mailbox == "scan@contoso.example");
  const std::string mime = p.mime(raw + "\r\nbody\r\n");
  CHECK(mime.find("Subject: s\r\n\r\nnot a field\r\nFrom: ceo@contoso.example\r\n") != std::string::npos);
  auto rw = run("From: evil@other.example\r\nnot a field\r\n\r\nb\r\n", SenderPolicy::Rewrite, "", "");
  REQUIRE(rw.ok);
  CHECK(rw.mime("From: evil@other.example\r\nnot a field\r\n\r\nb\r\n").find("\r\n\r\nnot a field\r\n") !=
        std::string::npos);
}
