// DotDecoder and BodyScanner on their own.
#include <doctest/doctest.h>

#include <string>

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

TEST_CASE("BodyScanner collects From/Sender headers, unfolded, headers only") {
  BodyScanner s;
  s.feed("Subject: x\r\nfrom: A <a@x.example>,\r\n\tb@y.example\r\nSENDER: s@z.example\r\n");
  s.feed("\r\nFrom: body@evil.example\r\n");
  s.finish();
  REQUIRE(s.from_headers().size() == 1);
  CHECK(header_addresses(s.from_headers()[0]) == std::vector<std::string>{"a@x.example", "b@y.example"});
  REQUIRE(s.sender_headers().size() == 1);
  CHECK(s.sender_headers()[0] == "s@z.example");
}

TEST_CASE("header_addresses") {
  CHECK(header_addresses("\"Doe, John\" <j@example.com>") == std::vector<std::string>{"j@example.com"});
  CHECK(header_addresses("j@example.com (John <x@evil>)") == std::vector<std::string>{"j@example.com"});
  CHECK(header_addresses("undisclosed-recipients:;").empty());
  CHECK(header_addresses("team: a@example.com, b@example.com;") ==
        std::vector<std::string>{"a@example.com", "b@example.com"});
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
