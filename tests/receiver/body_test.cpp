// DotDecoder and BodyScanner on their own.
#include <doctest/doctest.h>

#include <string>

#include "common/header_reader.hpp"
#include "receiver/smtp/body.hpp"

using namespace relay::smtp;

namespace {
struct Decoded {
  std::string content;
  std::size_t consumed = 0;
  bool done = false;
};
Decoded decode(std::string_view wire, std::size_t piece = 0) {
  DotDecoder d;
  Decoded r;
  if (piece == 0) piece = wire.size();
  for (std::size_t i = 0; i < wire.size() && !d.done(); i += piece) {
    r.consumed += d.feed(wire.substr(i, piece), [&](std::string_view s) { r.content += s; });
  }
  r.done = d.done();
  return r;
}
}  // namespace

TEST_CASE("DotDecoder unstuffs and stops at CRLF.CRLF, for every split") {
  std::string wire = "a\r\n..b\r\n.\r.\r\n...\r\n.\r\nNEXT";
  for (std::size_t piece : {0, 1, 2, 3, 5, 7}) {
    CAPTURE(piece);
    Decoded r = decode(wire, piece);
    CHECK(r.done);
    CHECK(r.content == "a\r\n.b\r\n\r.\r\n..\r\n");
    CHECK(r.consumed == wire.size() - 4);
  }
}

TEST_CASE("DotDecoder: no other end marker") {
  for (std::string w : {"x\n.\n", "x\r.\r", "x\n.\r\n", "x\r\n.\n", "x\r\n. \r\n"}) {
    CAPTURE(w);
    CHECK_FALSE(decode(w).done);
  }
  CHECK(decode(".\r\n").done);
  CHECK(decode(".\r\n").content.empty());
}

TEST_CASE("BodyScanner flags") {
  BodyScanner s;
  s.feed("a\r\nb\r\n");
  s.finish();
  CHECK_FALSE(s.bare_cr());
  CHECK_FALSE(s.bare_lf());
  BodyScanner lf;
  lf.feed("a\nb");
  CHECK(lf.bare_lf());
  BodyScanner cr;
  cr.feed("a\r");
  cr.feed("b");
  CHECK(cr.bare_cr());
  BodyScanner split;
  split.feed("a\r");
  split.feed("\nb");
  CHECK_FALSE(split.bare_cr());
  BodyScanner nul;
  nul.feed(std::string_view("a\0", 2));
  CHECK(nul.nul());
  BodyScanner lng;
  lng.feed(std::string(998, 'x') + "\r\n");
  CHECK_FALSE(lng.long_line());
  lng.feed(std::string(999, 'x'));
  CHECK(lng.long_line());
}

TEST_CASE("BodyScanner keeps From/Sender values as written (folded), headers only") {
  BodyScanner s;
  s.feed("Subject: x\r\nfrom: A <a@x.example>,\r\n\tb@y.example\r\nSENDER : s@z.example\r\n");
  s.feed("\r\nFrom: body@evil.example\r\n");
  s.finish();
  REQUIRE(s.from_headers().size() == 1);
  CHECK(s.from_headers()[0] == " A <a@x.example>,\r\n\tb@y.example");
  REQUIRE(s.sender_headers().size() == 1);
  CHECK(s.sender_headers()[0] == " s@z.example");
  CHECK_FALSE(s.malformed_header());
}

TEST_CASE("BodyScanner: white space before the colon still names the field (issue 9.2)") {
  for (const char* h : {"From : ceo@contoso.example\r\n", "From\t: ceo@contoso.example\r\n",
                        "FROM \t : ceo@contoso.example\r\n"}) {
    BodyScanner s;
    s.feed(std::string(h) + "Subject: x\r\n\r\nbody\r\n");
    s.finish();
    REQUIRE_MESSAGE(s.from_headers().size() == 1, h);
    CHECK(s.from_headers()[0] == " ceo@contoso.example");
  }
}

TEST_CASE("BodyScanner: a 5 KB folded comment is kept whole, in any pieces (issue 9.2)") {
  std::string value = " (pad";
  while (value.size() < 5000) value += "\r\n " + std::string(60, 'x');
  value += ") ceo@contoso.example";
  const std::string msg = "From:" + value + "\r\nSubject: s\r\n\r\nbody\r\n";
  for (std::size_t piece : {1, 7, 100, 4096}) {
    BodyScanner s;
    for (std::size_t i = 0; i < msg.size(); i += piece) s.feed(std::string_view(msg).substr(i, piece));
    s.finish();
    REQUIRE(s.from_headers().size() == 1);
    CHECK(s.from_headers()[0] == value);
  }
}

TEST_CASE("BodyScanner: a non-field line starts the body; a leading continuation is flagged") {
  BodyScanner s;
  s.feed("X-A: 1\r\nthis is no field\r\nFrom: ceo@x\r\n\r\n");
  s.finish();
  CHECK_FALSE(s.malformed_header());
  CHECK(s.from_headers().empty());  // as read_header() sees it: the From is in the body
  BodyScanner first_folded;
  first_folded.feed(" folded\r\nFrom: a@x\r\n\r\n");
  first_folded.finish();
  CHECK(first_folded.malformed_header());
  BodyScanner ok;
  ok.feed("A: 1\r\n\r\nno field in the body is fine\r\n");
  ok.finish();
  CHECK_FALSE(ok.malformed_header());
}

TEST_CASE("BodyScanner bounds what it keeps: field count and size (issue 9.3)") {
  BodyScanner s;
  std::string flood;
  for (int i = 0; i < 10000; ++i) flood += "From:a\r\nSender:b\r\n";
  s.feed(flood);
  s.finish();
  CHECK(s.from_headers().size() == BodyScanner::kMaxKeptFields);
  CHECK(s.sender_headers().size() == BodyScanner::kMaxKeptFields);
  BodyScanner big;
  std::string value = " (c";
  while (value.size() < 3 * relay::mail::kMaxOriginatorField) value += "\r\n " + std::string(70, 'x');
  big.feed("From:" + value + ") a@x\r\n\r\n");
  big.finish();
  REQUIRE(big.from_headers().size() == 1);
  CHECK(big.from_headers()[0].size() == relay::mail::kMaxOriginatorField + 1);  // over the cap: refused later
}

TEST_CASE("BodyScanner: header section over max_header_size stops the scan (issue 9.3)") {
  BodyScanner s(4096);
  std::string flood;
  for (int i = 0; i < 2000; ++i) flood += "X-Pad: aaaaaaaaaa\r\n";
  s.feed(flood);
  CHECK(s.header_too_big());
  CHECK(s.size() == flood.size());
  BodyScanner under(4096);
  under.feed("From: a@x\r\n\r\n" + std::string(8000, 'b'));
  under.finish();
  CHECK_FALSE(under.header_too_big());
  BodyScanner exact(13);
  exact.feed("From: a@x\r\n\r\nbody");  // 11 octets + the empty line
  exact.finish();
  CHECK_FALSE(exact.header_too_big());
  BodyScanner over(12);
  over.feed("From: a@x\r\n\r\nbody");
  CHECK(over.header_too_big());
}

TEST_CASE("BodyScanner::stop() keeps counting octets and nothing else") {
  BodyScanner s;
  s.feed("From: a@x\r\n");
  s.stop();
  s.feed(std::string_view("From: b@x\r\nX: \0\r\n\r\n", 19));
  s.finish();
  CHECK(s.size() == 11 + 19);
  CHECK(s.from_headers().empty());
  CHECK_FALSE(s.nul());
}

// The scanners skip through lines with memchr; these oracles are the plain
// octet-at-a-time definitions, and random wire data in random pieces must
// give the same verdicts.
namespace {
struct Verdict {
  bool bare_cr = false, bare_lf = false, nul = false, long_line = false;
  bool operator==(const Verdict&) const = default;
};
Verdict oracle_scan(std::string_view content) {  // content after the header section
  Verdict v;
  bool prev_cr = false;
  std::size_t len = 0;
  for (char c : content) {
    if (prev_cr && c != '\n') v.bare_cr = true;
    if (c == '\n') {
      if (!prev_cr) v.bare_lf = true;
      prev_cr = false;
      len = 0;
      continue;
    }
    prev_cr = c == '\r';
    if (c == '\0') v.nul = true;
    if (!prev_cr && ++len > BodyScanner::kMaxLine) v.long_line = true;
  }
  if (prev_cr) v.bare_cr = true;
  return v;
}
// End of data: the first CRLF "." CRLF at a line start (or "." CRLF at the
// very start); returns the unstuffed content and the wire octets consumed.
Decoded oracle_decode(std::string_view w) {
  Decoded r;
  bool line_start = true;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (line_start && w[i] == '.') {
      if (w.substr(i, 3) == ".\r\n") {
        r.done = true;
        r.consumed = i + 3;
        return r;
      }
      continue;  // a stuffed dot is dropped
    }
    r.content += w[i];
    line_start = w[i] == '\n' && i > 0 && w[i - 1] == '\r' && !r.content.empty() &&
                 r.content.size() >= 2 && r.content[r.content.size() - 2] == '\r';
  }
  r.consumed = w.size();
  return r;
}
std::string random_wire(std::uint32_t& seed, std::size_t n) {
  static const char alphabet[] = {'a', 'b', '.', '\r', '\n', '\0', ' '};
  std::string s;
  while (s.size() < n) {
    seed = seed * 1103515245u + 12345u;
    std::uint32_t r = (seed >> 8) % 100;
    if (r < 70) s += "text";
    else if (r < 75) s += std::string(300 + (seed >> 20) % 800, 'x');  // sometimes over 998
    else if (r < 90) s += "\r\n";
    else s += alphabet[(seed >> 12) % sizeof alphabet];
  }
  return s;
}
}  // namespace

TEST_CASE("BodyScanner body fast path gives the octet-at-a-time verdicts, in any pieces") {
  std::uint32_t seed = 7;
  for (int round = 0; round < 400; ++round) {
    std::string body = random_wire(seed, 50 + (seed >> 16) % 3000);
    std::size_t piece = 1 + (seed >> 4) % 700;
    CAPTURE(round);
    BodyScanner s;
    std::string msg = "From: a@example.com\r\n\r\n" + body;
    for (std::size_t i = 0; i < msg.size(); i += piece) s.feed(std::string_view(msg).substr(i, piece));
    s.finish();
    Verdict want = oracle_scan(body);
    CHECK(s.bare_cr() == want.bare_cr);
    CHECK(s.bare_lf() == want.bare_lf);
    CHECK(s.nul() == want.nul);
    CHECK(s.long_line() == want.long_line);
    CHECK(s.size() == msg.size());
    REQUIRE(s.from_headers().size() == 1);
  }
}

TEST_CASE("DotDecoder fast path gives the octet-at-a-time result, in any pieces") {
  std::uint32_t seed = 11;
  int ended = 0;
  for (int round = 0; round < 400; ++round) {
    std::string wire = random_wire(seed, 20 + (seed >> 16) % 2000);
    if (round % 2 == 0) wire += "\r\n.\r\nNEXT COMMAND\r\n";
    std::size_t piece = 1 + (seed >> 4) % 300;
    CAPTURE(round);
    Decoded want = oracle_decode(wire);
    Decoded got = decode(wire, piece);
    CHECK(got.done == want.done);
    CHECK(got.content == want.content);
    if (want.done) {
      CHECK(got.consumed == want.consumed);
      ++ended;
    }
  }
  CHECK(ended >= 200);
}
