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
  CHECK(s->attachments[0].content_type == "application/pdf");
  CHECK(s->attachments[0].bytes == "hello pdf");
  CHECK_FALSE(s->attachments[0].is_inline);
  CHECK(s->attachments[1].is_inline);
  CHECK(s->attachments[1].content_id == "img1");
  CHECK(s->attachments[1].bytes == std::string("\0\1\2", 3));
  CHECK(s->rest_mime.find("hello body") != std::string::npos);
  CHECK(s->rest_mime.find("aGVsbG8gcGRm") == std::string::npos);
  CHECK(s->rest_mime.find("Subject: s") != std::string::npos);
}
