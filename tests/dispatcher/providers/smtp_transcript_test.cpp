// SmtpTranscript classification: replies that must never count as delivered
// (found by the smtp_replies fuzz target, tests/fuzz).
#include <doctest/doctest.h>

#include "dispatcher/providers/smtp_transcript.hpp"

using namespace relay::provider;

namespace {
SmtpTranscript until_data(std::string_view data_reply, std::string_view eod_reply) {
  SmtpTranscript t;
  t.on_debug(CURLINFO_HEADER_IN, "220 up ESMTP\r\n");
  t.on_debug(CURLINFO_HEADER_OUT, "EHLO relay\r\n");
  t.on_debug(CURLINFO_HEADER_IN, "250 up\r\n");
  t.on_debug(CURLINFO_HEADER_OUT, "MAIL FROM:<s@x>\r\n");
  t.on_debug(CURLINFO_HEADER_IN, "250 ok\r\n");
  t.on_debug(CURLINFO_HEADER_OUT, "RCPT TO:<a@x>\r\n");
  t.on_debug(CURLINFO_HEADER_IN, "250 ok\r\n");
  t.on_debug(CURLINFO_HEADER_OUT, "DATA\r\n");
  t.on_debug(CURLINFO_HEADER_IN, data_reply);
  if (!eod_reply.empty()) t.on_debug(CURLINFO_HEADER_IN, eod_reply);
  return t;
}
}  // namespace

TEST_CASE("transcript: only a 2xx to the message is delivery") {
  // 354 or 1xx answering the end of data: libcurl reports an error; the mail
  // was not taken and must be retried, not marked sent.
  for (const char* eod : {"354 again\r\n", "199 hmm\r\n", "300 what\r\n"}) {
    Result r = classify_delivery(until_data("354 go\r\n", eod), CURLE_WEIRD_SERVER_REPLY, {"a@x"});
    CHECK_MESSAGE(r.outcome == Outcome::Transient, eod);
    REQUIRE(r.rcpts.size() == 1);
    CHECK(r.rcpts[0].outcome == Outcome::Transient);
  }
  Result d = classify_delivery(until_data("334 odd\r\n", ""), CURLE_WEIRD_SERVER_REPLY, {"a@x"});
  CHECK(d.outcome == Outcome::Transient);
  // The normal case stays sent.
  Result ok = classify_delivery(until_data("354 go\r\n", "250 2.0.0 queued\r\n"), CURLE_OK, {"a@x"});
  CHECK(ok.outcome == Outcome::Sent);
}

TEST_CASE("transcript: a 2xx to DATA (no 354) is no delivery; 4xx/5xx to DATA decide") {
  Result r = classify_delivery(until_data("250 2.0.0 sure\r\n", ""), CURLE_SEND_ERROR, {"a@x"});
  CHECK(r.outcome == Outcome::Transient);
  REQUIRE(r.rcpts.size() == 1);
  CHECK(r.rcpts[0].outcome == Outcome::Transient);
  CHECK(r.text.find("instead of 354") != std::string::npos);
  CHECK(classify_delivery(until_data("554 5.0.0 no\r\n", ""), CURLE_SEND_ERROR, {"a@x"}).outcome ==
        Outcome::Permanent);
  CHECK(classify_delivery(until_data("451 4.3.0 later\r\n", ""), CURLE_SEND_ERROR, {"a@x"}).outcome ==
        Outcome::Transient);
}

TEST_CASE("transcript: EHLO capabilities, reply text bounded, a greeting after QUIT") {
  SmtpTranscript t;
  t.on_debug(CURLINFO_HEADER_IN, "220 up\r\n");
  t.on_debug(CURLINFO_HEADER_OUT, "EHLO relay\r\n");
  t.on_debug(CURLINFO_HEADER_IN, "250-up.example hello\r\n250-SIZE 1000\r\n250-auth plain LOGIN\r\n");
  t.on_debug(CURLINFO_HEADER_IN, "250-8BITMIME\r\n250 STARTTLS\r\n");
  const SmtpCapabilities& c = t.capabilities();
  CHECK(c.seen);
  CHECK(c.size == 1000);
  CHECK(c.auth);
  CHECK(c.auth_mechs == "PLAIN LOGIN");
  CHECK(c.eightbitmime);
  CHECK(c.starttls);
  CHECK(!c.smtputf8);
  t.on_debug(CURLINFO_HEADER_OUT, "MAIL FROM:<s@x>\r\n");
  t.on_debug(CURLINFO_HEADER_IN, "550 5.7.1 " + std::string(70000, 'y') + "\r\n");
  REQUIRE(t.last("MAIL") != nullptr);
  CHECK(t.last("MAIL")->text.size() <= kMaxReplyText);
  t.on_debug(CURLINFO_HEADER_OUT, "QUIT\r\n");
  CHECK(t.quitting());
  t.on_debug(CURLINFO_HEADER_IN, "221 bye\r\n");
  CHECK(!t.quitting());
  t.on_debug(CURLINFO_HEADER_IN, "220 next connection\r\n");
  CHECK(t.steps().back().verb == "CONNECT");
}
