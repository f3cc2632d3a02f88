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
