// Unit tests for relay::spool::Envelope serialise/parse and crc32: round
// trips with hostile bytes, and every kind of damage is a parse error value.
#include <doctest/doctest.h>

#include <random>

#include "spool/envelope.hpp"
#include "test_util.hpp"

using namespace relay::spool;

TEST_CASE("crc32 matches the IEEE check value") {
  CHECK(crc32("") == 0u);
  CHECK(crc32("123456789") == 0xCBF43926u);
  std::string big(100003, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 13);
  // Incremental (seeded) computation equals the one-shot one, at any split.
  for (std::size_t cut : {0u, 1u, 7u, 8u, 9u, 4096u, 100002u}) {
    std::string_view v(big);
    CHECK(crc32(v.substr(cut), crc32(v.substr(0, cut))) == crc32(v));
  }
}

TEST_CASE("envelope round trip, including hostile bytes") {
  Envelope e = test::sample_envelope();
  e.client_helo = "bad\r\nhelo: injected\x7f %41 end 00000000";
  e.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
  e.auth_user = "erp";
  e.mail_from = "";  // null sender
  e.rcpts.push_back({"ü@例え.jp", "ORCPT=rfc822;x y", RcptState::Sent, "250 2.0.0 ok\nqueued as X"});
  e.rcpts.push_back({"f@x", "", RcptState::Failed, "550 5.1.1 no such user"});
  e.size = 123456789012ull;
  e.data_crc32 = 0xdeadbeef;
  e.attempts = 3;
  e.next_attempt = 1700003600;
  e.last_error = "451 4.4.1 timeout\t(upstream)";
  e.provider = "m365";
  std::string text = serialize(e);
  // One record per line: the injected newline did not create a line.
  CHECK(text.find("\nhelo: injected") == std::string::npos);
  CHECK(text.rfind("end ", text.size() - 13) == text.size() - 13);
  ParseResult r = parse(text);
  REQUIRE_MESSAGE(r.envelope, r.error.reason);
  const Envelope& g = *r.envelope;
  CHECK(g.id == e.id);
  CHECK(g.received_at == e.received_at);
  CHECK(g.client_addr == e.client_addr);
  CHECK(g.client_helo == e.client_helo);
  CHECK(g.tls == e.tls);
  CHECK(g.auth_user == "erp");
  CHECK(g.mail_from == "");
  CHECK(g.mail_params == e.mail_params);
  REQUIRE(g.rcpts.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(g.rcpts[i].address == e.rcpts[i].address);
    CHECK(g.rcpts[i].params == e.rcpts[i].params);
    CHECK(g.rcpts[i].state == e.rcpts[i].state);
    CHECK(g.rcpts[i].last_reply == e.rcpts[i].last_reply);
  }
  CHECK(g.pending_count() == 2);
  CHECK(g.size == e.size);
  CHECK(g.data_crc32 == e.data_crc32);
  CHECK(g.attempts == 3);
  CHECK(g.next_attempt == e.next_attempt);
  CHECK(g.last_error == e.last_error);
  CHECK(g.provider == "m365");
  CHECK(serialize(g) == text);
}

TEST_CASE("envelope parse errors are values") {
  std::string good = serialize(test::sample_envelope());
  auto reason = [](std::string_view bytes) {
    ParseResult r = parse(bytes);
    CHECK_FALSE(r.envelope);
    return r.error.reason;
  };
  CHECK(reason("") == "empty file");
  CHECK(reason(std::string_view("\x00\x01garbage\xff", 11)).find("not an envelope") == 0);
  CHECK(reason("hello world\n").find("not an envelope") == 0);
  CHECK(reason("relay-envelope 7\nid: X\nend 00000000\n") == "unsupported version 7");
  CHECK(reason("relay-envelope x\n").find("not an envelope") == 0);
  CHECK(reason("relay-envelope 1") == "truncated: no end line");

  SUBCASE("every truncation is detected") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      ParseResult r = parse(std::string_view(good).substr(0, n));
      REQUIRE_MESSAGE(!r.envelope, "prefix of length " << n << " parsed");
      CHECK(!r.error.reason.empty());
    }
  }
  SUBCASE("every single-byte change is detected") {
    std::mt19937 rng(42);
    for (std::size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 + rng() % 255));
      REQUIRE_MESSAGE(!parse(bad).envelope, "flip at " << i << " parsed");
    }
  }
  SUBCASE("valid frame, invalid content") {
    auto framed = [](std::string body) {
      body = "relay-envelope 1\n" + body;
      char end[16];
      snprintf(end, sizeof end, "end %08x\n", crc32(body));
      return body + end;
    };
    std::string base = "id: 0123456789ABCDEFGHJK\nreceived-at: 1\nmail-from: a@b\nsize: 0\ndata-crc32: 00000000\n";
    CHECK(parse(framed(base)).envelope);
    CHECK(reason(framed(base + "size: 5\n")) == "line 7: duplicate key size");
    CHECK(reason(framed("id: nope\n" + base)).find("bad id") != std::string::npos);
    CHECK(reason(framed(base + "attempts: -1\n")).find("bad attempts") != std::string::npos);
    CHECK(reason(framed(base + "no colon here\n")).find("not a key") != std::string::npos);
    CHECK(reason(framed(base + "rcpt: to=x\n")).find("rcpt without") != std::string::npos);
    CHECK(reason(framed(base + "rcpt: state=maybe to=x\n")).find("bad rcpt state") != std::string::npos);
    CHECK(reason(framed(base + "last-error: %4\n")).find("%-escape") != std::string::npos);
    CHECK(reason(framed("received-at: 1\nmail-from: a@b\nsize: 0\ndata-crc32: 00000000\n")) == "missing key id");
    CHECK(parse(framed(base + "future-key: ignored\n")).envelope);  // additions within version 1
  }
}

TEST_CASE("the example envelope in spool/README.md parses") {
  std::string readme = test::slurp(std::string(RELAY_SRC_DIR) + "/spool/README.md");
  auto start = readme.find("relay-envelope 1\n");
  REQUIRE(start != std::string::npos);
  auto end = readme.find("\nend ", start);
  REQUIRE(end != std::string::npos);
  std::string text = readme.substr(start, end + 14 - start);  // "\nend " + 8 hex + "\n"
  ParseResult r = parse(text);
  REQUIRE_MESSAGE(r.envelope, r.error.reason);
  CHECK(r.envelope->rcpts.size() == 2);
  CHECK(r.envelope->rcpts[0].last_reply == "250 2.0.0 OK");
}
