// Recipients as Gmail sees them (To/Cc/Bcc) and the per-message limits.
#include <doctest/doctest.h>

#include "dispatcher/providers/gmail/gmail_limits.hpp"

using namespace relay::provider;
using namespace relay::provider::gmail;

TEST_CASE("header recipients: To/Cc/Bcc, folded, display names, duplicates once") {
  std::string head =
      "Received: from x\r\n by y\r\n"
      "From: A <a@example.com>\r\n"
      "To: \"Doe, John\" <j@x.org>, k@x.org\r\n"
      "cc: L <l@x.org>,\r\n M <m@x.org>\r\n"
      "Bcc: J@X.org\r\n"
      "Subject: To: fake@x.org\r\n"
      "\r\n"
      "To: body@x.org\r\n";
  auto r = header_recipients(head);
  REQUIRE(r.size() == 4);
  CHECK(r[0] == "j@x.org");
  CHECK(r[1] == "k@x.org");
  CHECK(r[2] == "l@x.org");
  CHECK(r[3] == "m@x.org");
}

// White space before the colon still names a recipient field (RFC 5322 4.5.3):
// a count that missed them would let a message past the 100-recipient limit.
TEST_CASE("limits: recipient fields written with white space before the colon count") {
  auto r = header_recipients("To : a@x.org\r\nCc\t: b@x.org,\r\n\tc@x.org\r\nBCC  :d@x.org\r\n\r\n");
  CHECK(r == std::vector<std::string>{"a@x.org", "b@x.org", "c@x.org", "d@x.org"});
}

TEST_CASE("limits: size and recipient count are permanent with a clear reason") {
  CHECK_FALSE(check_limits(1000, 100, 35u << 20, 100).has_value());
  auto big = check_limits((35u << 20) + 1, 1, 35u << 20, 100);
  REQUIRE(big.has_value());
  CHECK(big->outcome == Outcome::Permanent);
  CHECK(big->enhanced == "5.3.4");
  CHECK(big->text.find("max_message_size") != std::string::npos);
  auto many = check_limits(1000, 101, 35u << 20, 100);
  REQUIRE(many.has_value());
  CHECK(many->outcome == Outcome::Permanent);
  CHECK(many->enhanced == "5.5.3");
  CHECK(many->text.find("101 recipients") != std::string::npos);
}
