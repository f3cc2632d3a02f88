// The receiver and the dispatcher read From/Sender alike (issue 9 item 2):
// over a corpus of tricky headers and thousands of generated ones, the
// receiver's BodyScanner + read_originator refuses exactly what
// mime_prepare refuses, and otherwise names the mailbox mime_prepare sends
// as. Links the receiver's relay_smtp into this dispatcher test on purpose.
#include <doctest/doctest.h>

#include <random>

#include "common/header_reader.hpp"
#include "dispatcher/providers/cloud/mime_prepare.hpp"
#include "receiver/smtp/body.hpp"

using namespace relay;

namespace {

struct Verdict {
  bool refused = false;
  std::string mailbox;
};

// What the receiver concludes (nullopt: refused for another reason, e.g. line length).
std::optional<Verdict> receiver_view(const std::string& content) {
  smtp::BodyScanner s;
  for (std::size_t i = 0; i < content.size(); i += 97) s.feed(std::string_view(content).substr(i, 97));
  s.finish();
  if (s.long_line() || s.bare_cr() || s.bare_lf() || s.nul() || s.malformed_header()) return std::nullopt;
  const std::vector<std::string_view> f(s.from_headers().begin(), s.from_headers().end());
  const std::vector<std::string_view> sd(s.sender_headers().begin(), s.sender_headers().end());
  auto o = mail::read_originator(f, sd);
  if (!o.error.empty()) return Verdict{true, {}};
  return Verdict{false, o.from.empty() ? std::string("default@relay.example") : o.sending_address()};
}

Verdict dispatcher_view(const std::string& content) {
  static const std::vector<std::string> rcpts{"x@example.org"};
  static config::SenderConfig s = [] {
    config::SenderConfig c;
    c.default_sender = "default@relay.example";
    return c;
  }();
  // The spooled file starts with the receiver's Received: header.
  const std::string raw = "Received: from client.test ([192.0.2.1])\r\n\tby relay.test (relay) with ESMTP id Q;\r\n"
                          "\tWed, 3 Dec 2026 06:00:00 +0000\r\n" + content;
  auto p = provider::cloud::prepare(provider::cloud::PrepareInput{raw, "", &rcpts, &s, "Q", 1764072000});
  return Verdict{!p.ok, p.ok ? p.mailbox : std::string()};
}

void agree(const std::string& content) {
  auto r = receiver_view(content);
  if (!r) return;
  auto d = dispatcher_view(content);
  CHECK_MESSAGE(r->refused == d.refused, "content: ", content);
  if (!r->refused && !d.refused) CHECK_MESSAGE(r->mailbox == d.mailbox, "content: ", content);
}

const char* const kCorpus[] = {
    "From: a@x.example\r\n\r\nb\r\n",
    "From : ceo@x.example\r\n\r\nb\r\n",
    "From\t: ceo@x.example\r\n\r\nb\r\n",
    "FROM:ceo@x.example\r\nSubject: s\r\n\r\nb\r\n",
    "From: (c) <a@x.example> (d)\r\n\r\nb\r\n",
    "From: \"a@x\" <ceo@x.example>\r\n\r\nb\r\n",
    "From: =?utf-8?q?a=40x?= <ceo@x.example>\r\n\r\nb\r\n",
    "From: =?utf-8?q?ceo?=@x.example\r\n\r\nb\r\n",
    "From: Team: a@x.example;\r\n\r\nb\r\n",
    "From: a@x.example\r\nFrom: ceo@x.example\r\n\r\nb\r\n",
    "From: a@x.example, ceo@x.example\r\n\r\nb\r\n",
    "From: a@x.example, ceo@x.example\r\nSender: ceo@x.example\r\n\r\nb\r\n",
    "Sender: s@x.example\r\nFrom: a@x.example,\r\n ceo@x.example\r\n\r\nb\r\n",
    "From: a@x.example (open\r\n\r\nb\r\n",
    "From: \"open <a@x.example>\r\n\r\nb\r\n",
    "From: A <a@x.example\r\n\r\nb\r\n",
    "From: a@x.example ceo@x.example\r\n\r\nb\r\n",
    "From: <@r.example:ceo@x.example>\r\n\r\nb\r\n",
    "From: john . doe @ x . example\r\n\r\nb\r\n",
    "From: \"john\"@x.example\r\n\r\nb\r\n",
    "Subject: s\r\nnot a field\r\nFrom: ceo@x.example\r\n\r\nb\r\n",
    "Subject: s\r\nFr\xc3\xb6m: ceo@x.example\r\nFrom: a@x.example\r\n\r\nb\r\n",
    "From: a@x.example\r\n",
    "From: a@x.example",
    "To: t@x.example\r\n\r\nFrom: ceo@x.example\r\n",
    "From:\r\n\r\nb\r\n",
    "From: a@x.example\r\nSender:\r\n\r\nb\r\n",
    "Sender: a@x.example\r\n\r\nb\r\n",
};

}  // namespace

TEST_CASE("receiver and dispatcher agree on a corpus of tricky From/Sender headers") {
  for (const char* c : kCorpus) agree(c);
  std::string comment = "(pad";
  while (comment.size() < 5000) comment += "\r\n " + std::string(60, 'x');
  agree("From: " + comment + ") ceo@x.example\r\n\r\nb\r\n");
  while (comment.size() < mail::kMaxOriginatorField + 200) comment += "\r\n " + std::string(60, 'x');
  agree("From: " + comment + ") ceo@x.example\r\n\r\nb\r\n");
}

TEST_CASE("receiver and dispatcher agree on generated headers") {
  static const char* const pieces[] = {"From", "FROM ", "Sender", "Subject", ":", " ", "\t", "(", ")", "\"",
                                       "<", ">", "@", ",", ";", ".", "a", "ceo", "x.example", "\r\n ", "\r\n",
                                       "=?utf-8?q?", "?=", "\\", "[", "]", "From: a@x.example\r\n"};
  std::mt19937 rng(20261203);
  for (int n = 0; n < 5000; ++n) {
    std::string h;
    const int len = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < len; ++i) h += pieces[rng() % std::size(pieces)];
    agree(h + "\r\n\r\nbody\r\n");
  }
}
