#include <doctest/doctest.h>

#include "dispatcher/providers/m365/large_send.hpp"

using namespace relay::provider::m365;

TEST_CASE("split_attachments removes attachments and decodes them") {
  std::string mime =
      "From: a@example.com\r\nTo: b@x.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
      "--B\r\nContent-Type: text/plain\r\n\r\nhello body\r\n"
      "--B\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gcGRm\r\n"
      "--B\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=\"i.png\"\r\nContent-ID: <img1>\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n"
      "--B--\r\n";
  auto s = split_attachments(mime);
  REQUIRE(s);
  REQUIRE(s->attachments.size() == 2);
  CHECK(s->attachments[0].name == "r.pdf");
  CHECK(s->attachments[0].content_type.rfind("application/pdf; name=", 0) == 0);  // parameters kept
  CHECK(s->attachments[0].bytes == "hello pdf");
  CHECK_FALSE(s->attachments[0].is_inline);
  CHECK(s->attachments[1].is_inline);
  CHECK(s->attachments[1].content_id == "img1");
  CHECK(s->attachments[1].bytes == std::string("\0\1\2", 3));
  CHECK(s->rest_mime.find("hello body") != std::string::npos);
  CHECK(s->rest_mime.find("aGVsbG8gcGRm") == std::string::npos);
  CHECK(s->rest_mime.find("Subject: s") != std::string::npos);
}

TEST_CASE("split_attachments never takes a signed or encrypted message apart") {
  for (const char* type : {"multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256",
                           "multipart/encrypted; protocol=\"application/pgp-encrypted\""}) {
    std::string mime = std::string("From: a@example.com\r\nTo: b@x.org\r\nMIME-Version: 1.0\r\nContent-Type: ") + type +
                       "; boundary=\"S\"\r\n\r\n--S\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
                       "--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n--B\r\nContent-Type: application/pdf\r\n"
                       "Content-Disposition: attachment; filename=\"a.pdf\"\r\n\r\npdf\r\n--B--\r\n"
                       "--S\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\r\nsig\r\n--S--\r\n";
    auto s = split_attachments(mime);
    REQUIRE(s);
    CHECK(s->attachments.empty());
    CHECK(s->rest_mime == mime);  // byte for byte
  }
}

TEST_CASE("split_attachments keeps part order: only attachments after the last body part leave") {
  std::string mime =
      "From: a@example.com\r\nTo: b@x.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
      "--B\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
      "--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"one.pdf\"\r\n\r\nONE\r\n"
      "--B\r\nContent-Type: text/plain\r\n\r\nsecond\r\n"
      "--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"two.pdf\"\r\n\r\nTWO\r\n"
      "--B\r\nContent-Type: text/calendar; method=REQUEST; charset=UTF-8\r\n"
      "Content-Disposition: attachment; filename=\"invite.ics\"\r\n\r\nBEGIN:VCALENDAR\r\n--B--\r\n";
  auto s = split_attachments(mime);
  REQUIRE(s);
  REQUIRE(s->attachments.size() == 2);
  CHECK(s->attachments[0].name == "two.pdf");
  CHECK(s->attachments[1].content_type == "text/calendar; method=REQUEST; charset=UTF-8");
  const auto first = s->rest_mime.find("first"), one = s->rest_mime.find("ONE"), second = s->rest_mime.find("second");
  CHECK(first < one);
  CHECK(one < second);
  CHECK(s->rest_mime.find("TWO") == std::string::npos);
}

TEST_CASE("split_attachments: related images without a disposition go inline with their Content-ID") {
  std::string mime =
      "From: a@example.com\r\nTo: b@x.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n"
      "--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<img src=\"cid:logo@x\">\r\n"
      "--R\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--R--\r\n";
  auto s = split_attachments(mime);
  REQUIRE(s);
  REQUIRE(s->attachments.size() == 1);
  CHECK(s->attachments[0].is_inline);
  CHECK(s->attachments[0].content_id == "logo@x");
  CHECK(s->rest_mime.find("cid:logo@x") != std::string::npos);
}

TEST_CASE("split_attachments: a single-part payload becomes the draft's one attachment") {
  std::string mime =
      "From: a@example.com\r\nTo: b@x.org\r\nSubject: scan\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf; "
      "name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n";
  auto s = split_attachments(mime);
  REQUIRE(s);
  REQUIRE(s->attachments.size() == 1);
  CHECK(s->attachments[0].bytes == "%PDF-1.4");
  CHECK(s->attachments[0].name == "scan.pdf");
  CHECK(s->rest_mime.find("JVBERi0") == std::string::npos);
  CHECK(s->rest_mime.find("Subject: scan") != std::string::npos);
  CHECK(s->rest_mime.find("text/plain") != std::string::npos);
}
