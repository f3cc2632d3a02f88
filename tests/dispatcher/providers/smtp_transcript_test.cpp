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
