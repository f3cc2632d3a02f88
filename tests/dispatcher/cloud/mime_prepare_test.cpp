#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "dispatcher/providers/cloud/mime_prepare.hpp"

using namespace relay::provider::cloud;
using relay::config::SenderConfig;
using relay::config::SenderPolicy;

namespace {

Prepared run(const std::string& raw, std::vector<std::string> rcpts, SenderConfig s, std::string mail_from = "") {
  static std::vector<std::string> keep;
  keep = std::move(rcpts);
  return prepare(PrepareInput{raw, mail_from, &keep, &s, "01JTESTQUEUEID0000000", 1764072000});
}

SenderConfig allow_example(SenderPolicy p = SenderPolicy::Reject) {
  SenderConfig s;
  s.allowed = {"@example.com"};
  s.default_sender = "relay@example.com";
  s.policy = p;
  return s;
}

}  // namespace

TEST_CASE("complete message with all recipients listed is sent as-is") {
  std::string raw =
      "From: Scanner <scan@example.com>\r\nTo: a@x.org\r\nCc: \"B, Bee\" <b@y.org>\r\nMessage-ID: <1@h>\r\n"
      "Date: Tue, 25 Nov 2026 12:00:00 +0000\r\nSubject: hi\r\n\r\nbody\r\n";
  auto p = run(raw, {"a@x.org", "B@Y.org"}, allow_example());
  REQUIRE(p.ok);
  CHECK(p.mailbox == "scan@example.com");
  CHECK(p.added.empty());
  CHECK(p.mime(raw) == raw);
}

TEST_CASE("envelope-only recipients become one Bcc header; Message-ID and Date are added on top") {
  std::string raw = "From: scan@example.com\r\nTo: a@x.org\r\nSubject: s\r\n\r\nbody\r\n";
  auto p = run(raw, {"a@x.org", "hidden1@z.org", "hidden2@z.org"}, allow_example());
  REQUIRE(p.ok);
  std::string mime = p.mime(raw);
  CHECK(mime.find("Bcc: hidden1@z.org,\r\n hidden2@z.org\r\n") == 0);
  CHECK(mime.find("Message-ID: <01JTESTQUEUEID0000000@example.com>\r\n") != std::string::npos);
  CHECK(mime.find("Date: Tue, 25 Nov 2025 12:00:00 +0000\r\n") != std::string::npos);
  CHECK(mime.substr(mime.size() - raw.size()) == raw);  // original untouched below
}

TEST_CASE("LF-only messages get LF headers") {
  std::string raw = "From: scan@example.com\nTo: a@x.org\nMessage-ID: <x@y>\nDate: x\n\nbody\n";
  auto p = run(raw, {"a@x.org", "b@x.org"}, allow_example());
  REQUIRE(p.ok);
  CHECK(p.mime(raw) == "Bcc: b@x.org\n" + raw);
}

TEST_CASE("disallowed From with policy reject is permanent 5.7.1") {
  std::string raw = "From: evil@other.net\r\nTo: a@x.org\r\n\r\nb\r\n";
  auto p = run(raw, {"a@x.org"}, allow_example());
  CHECK_FALSE(p.ok);
  CHECK(p.reject.outcome == relay::provider::Outcome::Permanent);
  CHECK(p.reject.enhanced == "5.7.1");
  CHECK(p.reject.text.find("evil@other.net") != std::string::npos);
}

TEST_CASE("disallowed From with policy rewrite goes out as default_sender, original in Reply-To") {
  std::string raw = "Subject: s\r\nFrom: \"Evil\" <evil@other.net>\r\nTo: a@x.org\r\nMessage-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n";
  auto p = run(raw, {"a@x.org"}, allow_example(SenderPolicy::Rewrite));
  REQUIRE(p.ok);
  CHECK(p.rewritten);
  CHECK(p.mailbox == "relay@example.com");
  std::string mime = p.mime(raw);
  CHECK(mime == "Reply-To: \"Evil\" <evil@other.net>\r\nSubject: s\r\nFrom: relay@example.com\r\nTo: a@x.org\r\n"
                "Message-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n");
}

TEST_CASE("disallowed envelope sender or Sender header counts as disallowed") {
  std::string raw = "From: ok@example.com\r\nSender: bad@other.net\r\nTo: a@x.org\r\n\r\nb\r\n";
  CHECK_FALSE(run(raw, {"a@x.org"}, allow_example()).ok);
  std::string raw2 = "From: ok@example.com\r\nTo: a@x.org\r\n\r\nb\r\n";
  CHECK_FALSE(run(raw2, {"a@x.org"}, allow_example(), "bad@other.net").ok);
  CHECK(run(raw2, {"a@x.org"}, allow_example(), "").ok);  // null sender (bounce) is fine
}

TEST_CASE("missing From uses default_sender") {
  std::string raw = "To: a@x.org\r\nSubject: s\r\n\r\nb\r\n";
  auto p = run(raw, {"a@x.org"}, allow_example());
  REQUIRE(p.ok);
  CHECK(p.mailbox == "relay@example.com");
  CHECK(p.mime(raw).find("From: relay@example.com\r\n") == 0);
}

TEST_CASE("extract_addresses handles groups, comments, quotes") {
  auto a = extract_addresses("\"Doe, J\" <j@d.com>, k@e.com (Kay), undisclosed: m@f.com, n@g.com;");
  REQUIRE(a.size() == 4);
  CHECK(a[0] == "j@d.com");
  CHECK(a[1] == "k@e.com");
  CHECK(a[2] == "m@f.com");
  CHECK(a[3] == "n@g.com");
  CHECK(extract_addresses("undisclosed-recipients:;").empty());
}

TEST_CASE("load_and_prepare reads the spooled file whole and tells a read error from a refusal") {
  const std::string dir = "/tmp/relay-mime-load-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::vector<std::string> rcpts{"a@x.org", "hidden@z.org"};
  const SenderConfig s = allow_example();
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
    return std::filesystem::path(dir + "/" + name);
  };
  // 3 MB of body behind the header: read whole, body bytes untouched.
  std::string body;
  for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) body += "line " + std::to_string(i) + " of the body\r\n";
  const std::string head = "From: scan@example.com\r\nTo: a@x.org\r\nSubject: s\r\n\r\n";
  Loaded ok = load_and_prepare(write("ok.eml", head + body), PrepareInput{{}, "", &rcpts, &s, "ID1", 1764072000});
  REQUIRE(ok.ok());
  CHECK(ok.read_ok);
  CHECK(ok.prepared.mailbox == "scan@example.com");
  CHECK(ok.mime.size() > head.size() + body.size());  // Bcc, Message-ID and Date were added
  CHECK(ok.mime.compare(ok.mime.size() - body.size(), body.size(), body) == 0);
  CHECK(ok.mime.find("Bcc: hidden@z.org") != std::string::npos);
  // Refused by the sender policy: read, not ok, permanent 5.7.1.
  Loaded refused = load_and_prepare(write("bad.eml", "From: x@evil.org\r\nTo: a@x.org\r\n\r\nb\r\n"),
                                    PrepareInput{{}, "", &rcpts, &s, "ID2", 1764072000});
  CHECK_FALSE(refused.ok());
  CHECK(refused.read_ok);
  CHECK(refused.error().outcome == relay::provider::Outcome::Permanent);
  // Missing file: not read, transient (the spool may be back on the next attempt).
  Loaded missing = load_and_prepare(dir + "/missing.eml", PrepareInput{{}, "", &rcpts, &s, "ID3", 1764072000});
  CHECK_FALSE(missing.ok());
  CHECK_FALSE(missing.read_ok);
  CHECK(missing.error().outcome == relay::provider::Outcome::Transient);
  CHECK(missing.error().text.find("missing.eml") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a header naming someone outside the envelope is replaced by the pending recipients") {
  std::string raw =
      "From: scan@example.com\r\nTo: X <x@ext.org>, \"Why\" <y@ext.org>\r\nCc: c@ext.org,\r\n d@ext.org\r\n"
      "Bcc: secret@ext.org\r\nMessage-ID: <m@h>\r\nDate: d\r\nSubject: s\r\n\r\nbody\r\n";
  auto p = run(raw, {"X@ext.org", "d@ext.org", "e@ext.org"}, allow_example());
  REQUIRE(p.ok);
  CHECK(p.added == std::vector<std::string>{"Recipients(rewritten)"});
  CHECK(p.mime(raw) ==
        "To: X@ext.org\r\nCc: d@ext.org\r\nBcc: e@ext.org\r\nFrom: scan@example.com\r\n"
        "X-Relay-Original-To: X <x@ext.org>, \"Why\" <y@ext.org>\r\nX-Relay-Original-Cc: c@ext.org,\r\n d@ext.org\r\n"
        "Message-ID: <m@h>\r\nDate: d\r\nSubject: s\r\n\r\nbody\r\n");
}

TEST_CASE("partial retry: the recipient already delivered is not named any more") {
  std::string raw = "From: scan@example.com\r\nTo: a@x.org, b@x.org\r\nMessage-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n";
  auto p = run(raw, {"b@x.org"}, allow_example());
  REQUIRE(p.ok);
  CHECK(p.mime(raw) == "To: b@x.org\r\nFrom: scan@example.com\r\nX-Relay-Original-To: a@x.org, b@x.org\r\n"
                       "Message-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n");
}

TEST_CASE("Resent-* fields count as recipient fields; Resent-Bcc is dropped") {
  std::string raw = "From: scan@example.com\r\nTo: a@x.org\r\nResent-To: r@x.org\r\nResent-Bcc: rb@x.org\r\n"
                    "Message-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n";
  auto p = run(raw, {"a@x.org"}, allow_example());
  REQUIRE(p.ok);
  CHECK(p.mime(raw) == "To: a@x.org\r\nFrom: scan@example.com\r\nX-Relay-Original-To: a@x.org\r\n"
                       "X-Relay-Original-Resent-To: r@x.org\r\nMessage-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n");
  // Resent-To naming only pending recipients leaves the message untouched.
  std::string ok = "From: scan@example.com\r\nTo: a@x.org\r\nResent-To: a@x.org\r\nMessage-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n";
  auto q = run(ok, {"a@x.org"}, allow_example());
  CHECK(q.mime(ok) == ok);
}

TEST_CASE("sender rewrite and recipient rewrite together") {
  std::string raw = "From: evil@other.net\r\nTo: a@x.org, b@x.org\r\nMessage-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n";
  auto p = run(raw, {"a@x.org"}, allow_example(SenderPolicy::Rewrite));
  REQUIRE(p.ok);
  CHECK(p.mime(raw) == "Reply-To: evil@other.net\r\nTo: a@x.org\r\nFrom: relay@example.com\r\n"
                       "X-Relay-Original-To: a@x.org, b@x.org\r\nMessage-ID: <m@h>\r\nDate: d\r\n\r\nb\r\n");
}

TEST_CASE("LF-only message with a recipient rewrite keeps LF") {
  std::string raw = "From: scan@example.com\nTo: a@x.org\nMessage-ID: <x@y>\nDate: x\n\nbody\n";
  auto p = run(raw, {"b@x.org"}, allow_example());
  REQUIRE(p.ok);
  CHECK(p.mime(raw) == "Bcc: b@x.org\nFrom: scan@example.com\nX-Relay-Original-To: a@x.org\nMessage-ID: <x@y>\n"
                       "Date: x\n\nbody\n");
}
