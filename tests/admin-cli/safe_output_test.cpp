// relayctl never puts control characters from messages, envelopes, the
// database or remote servers on the operator's terminal (issue 9 item 9).
#include <doctest/doctest.h>
#include <stdio.h>

#include <cstdlib>
#include <string>

#include "admin-cli/format.hpp"
#include "admin-cli/queue_format.hpp"
#include "admin-cli/safe_output.hpp"

using namespace relay::admin;
namespace spool = relay::spool;

TEST_CASE("printable: C0, DEL, C1 and invalid UTF-8 are escaped; UTF-8 text is kept") {
  CHECK(printable("plain text") == "plain text");
  CHECK(printable("\x1b[2J\x1b]0;owned\x07") == "\\x1b[2J\\x1b]0;owned\\x07");
  CHECK(printable("a\r\nb\tc\x7f") == "a\\x0d\\x0ab\\x09c\\x7f");
  CHECK(printable("\xc2\x9b" "31m") == "\\xc2\\x9b31m");         // U+009B, the one-byte CSI
  CHECK(printable("\x9b" "31m") == "\\x9b31m");                   // a bare C1 byte
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7");
  CHECK(printable("\xe2\x82") == "\\xe2\\x82");                   // cut-off sequence
  CHECK(printable("\xc3\x1b") == "\\xc3\\x1b");
  CHECK(printable(std::string("nul\0x", 5)) == "nul\\x00x");
}

TEST_CASE("ControlFilter keeps newlines and tabs and judges a UTF-8 sequence split across writes") {
  ControlFilter f(true);
  std::string out;
  f.feed("line 1\n\tfolded \xc2", out);
  f.feed("\x9b" "x \xc3", out);
  f.feed("\xa9\x1b\n", out);
  f.finish(out);
  CHECK(out == "line 1\n\tfolded \\xc2\\x9bx \xc3\xa9\\x1b\n");
}

TEST_CASE("escaping_stream filters everything printed through it") {
  char* buf = nullptr;
  size_t len = 0;
  FILE* mem = open_memstream(&buf, &len);
  REQUIRE(mem);
  FILE* f = escaping_stream(mem);
  REQUIRE(f != mem);
  fputs("provider said: \x1b[31mred\x1b[0m\n", f);
  fclose(f);
  fclose(mem);
  CHECK(std::string(buf, len) == "provider said: \\x1b[31mred\\x1b[0m\n");
  free(buf);
}

TEST_CASE("queue list/show fields from a hostile sender are printed escaped") {
  spool::Envelope env;
  env.received_at = 1700000000;
  env.mail_from = "evil\x1b]0;pwned\x07@example.com";
  env.client_helo = "helo\x1b[2J";
  env.rcpts.push_back({"a@example.org", "", spool::RcptState::Failed, "550 \x1b[8mhidden"});
  env.last_error = "remote: \x9b" "1m";
  spool::EntryInfo e{env.id, spool::State::Failed, env, "", false};
  for (const std::string& text : {format_entry(e, 0), format_envelope(env)}) {
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find('\x07') == std::string::npos);
    CHECK(text.find('\x9b') == std::string::npos);
    CHECK(text.find("evil\\x1b]0;pwned\\x07@example.com") != std::string::npos);
    CHECK(text.find("550 \\x1b[8mhidden") != std::string::npos);
  }
  CHECK(format_envelope(env).find("helo\\x1b[2J") != std::string::npos);
}

TEST_CASE("json_string: no raw control characters, valid UTF-8 kept, so --json passes the filter unchanged") {
  CHECK(json_string("a\x1b[31m\x7f") == "\"a\\u001b[31m\\u007f\"");
  CHECK(json_string("\xc2\x9b" "1m caf\xc3\xa9 \xe9") == "\"\\u009b1m caf\xc3\xa9 \\u00e9\"");
  const std::string j = json_string("evil\x1b]0;x\x07 \xc2\x85 \xff \xf0\x9f\x93\xa7");
  ControlFilter f(true);
  std::string out;
  f.feed(j, out);
  f.finish(out);
  CHECK(out == j);
}
