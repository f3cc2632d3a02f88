// Command-line and path parsing, base64.
#include <doctest/doctest.h>

#include "receiver/smtp/command.hpp"
#include "receiver/smtp/text.hpp"

using namespace relay::smtp;

TEST_CASE("split_command") {
  auto c = split_command("MAIL FROM:<a@b>  SIZE=1 ");
  CHECK(c.verb == "MAIL");
  CHECK(c.arg == "FROM:<a@b>  SIZE=1");
  CHECK(split_command("QUIT").arg.empty());
}

TEST_CASE("parse_path") {
  Path p;
  CHECK(parse_path("FROM:<a@example.com> SIZE=10 BODY=8BITMIME", "FROM:", p) == PathError::None);
  CHECK(p.address == "a@example.com");
  REQUIRE(p.params.size() == 2);
  CHECK(p.params[0].key == "SIZE");
  CHECK(p.params[0].value == "10");
  CHECK(parse_path("from: <>", "FROM:", p) == PathError::None);
  CHECK(p.address.empty());
  CHECK(parse_path("FROM:<a@example.com", "FROM:", p) == PathError::Syntax);
  CHECK(parse_path("FROM:<a@example.com>x", "FROM:", p) == PathError::Syntax);
  CHECK(parse_path("TO:<@a,@b:c@d.example>", "TO:", p) == PathError::None);
  CHECK(p.address == "c@d.example");
  CHECK(check_address("\"a b\"@example.com", false) == PathError::None);
  CHECK(check_address("a\x01@example.com", false) == PathError::BadAddress);
  CHECK(check_address("@example.com", false) == PathError::BadAddress);
  CHECK(check_address("\xc3\xa4@example.com", false) == PathError::NeedSmtpUtf8);
  CHECK(check_address("\xc3\xa4@example.com", true) == PathError::None);
}

TEST_CASE("base64") {
  CHECK(base64_encode(std::string("\0u\0p", 4)) == "AHUAcA==");
  CHECK(base64_decode("AHUAcA==").value() == std::string("\0u\0p", 4));
  CHECK(base64_decode("dGVzdA==").value() == "test");
  CHECK(base64_decode("").value().empty());
  CHECK_FALSE(base64_decode("abc"));
  CHECK_FALSE(base64_decode("ab=c"));
  CHECK_FALSE(base64_decode("a!bc"));
  CHECK(parse_decimal("123") == 123u);
  CHECK_FALSE(parse_decimal("-1"));
  CHECK_FALSE(parse_decimal("99999999999999999999"));
}
