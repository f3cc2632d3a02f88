// Session and size-aware routes (docs/routing.md): EHLO SIZE advertises what
// some route carries, MAIL FROM SIZE= over what any route for that sender
// carries is refused, and so is data that turns out too big or falls
// between routes' size bounds — 552 5.3.4 naming the limit, nothing stored.
#include <doctest/doctest.h>

#include "common/route_table.hpp"
#include "tests/receiver/fake_host.hpp"

using namespace relay::smtp;
using namespace relay::smtp::test;
using relay::config::Route;
using relay::config::RouteTable;

namespace {

// @small.example up to 2000 bytes on `small`; @gap.example from 3000 bytes
// on `up` (8000 at most); everything else on the default `big`, 1000 at most.
// The receiver's own limit is 10000.
void route(Harness& h) {
  h.policy->routes = std::make_shared<const RouteTable>(
      std::vector<Route>{{"@small.example", "", "small", 0, 2000}, {"@gap.example", "", "up", 3000, 0}}, "big",
      RouteTable::Limits{{"big", 1000}, {"up", 8000}});
}

std::string message(std::string_view from, std::size_t body_bytes) {
  std::string m = "From: <" + std::string(from) + ">\r\nSubject: s\r\n\r\n";
  while (body_bytes >= 100) m += std::string(98, 'x') + "\r\n", body_bytes -= 100;
  return m + ".\r\n";
}

std::string send(Harness& h, std::string_view mail_from, std::string_view header_from, std::size_t body_bytes) {
  std::string out = h.talk("MAIL FROM:<" + std::string(mail_from) + ">\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  REQUIRE(out.find("354 ") != std::string::npos);
  return h.talk(message(header_from, body_bytes));
}

}  // namespace

TEST_CASE("EHLO SIZE is the largest any route carries, capped by max_message_size") {
  Harness h;
  route(h);
  CHECK(h.ehlo().find("250-SIZE 8000\r\n") != std::string::npos);
  h.policy->limits.max_message_size = 5000;
  CHECK(h.ehlo().find("250-SIZE 5000\r\n") != std::string::npos);
}

TEST_CASE("MAIL FROM SIZE= over what this sender's routes carry: 552 5.3.4 naming the limit") {
  Harness h;
  route(h);
  h.ehlo();
  CHECK(h.talk("MAIL FROM:<a@other.example> SIZE=1001\r\n") ==
        "552 5.3.4 Error: message size exceeds fixed maximum message size for this sender (1000 bytes: the largest "
        "any route carries)\r\n");
  CHECK(h.talk("MAIL FROM:<a@other.example> SIZE=1000\r\n") == "250 2.1.0 Ok\r\n");
  h.talk("RSET\r\n");
  CHECK(h.talk("MAIL FROM:<a@small.example> SIZE=2000\r\n") == "250 2.1.0 Ok\r\n");
  h.talk("RSET\r\n");
  CHECK(h.talk("MAIL FROM:<a@small.example> SIZE=2001\r\n").rfind("552 5.3.4 ", 0) == 0);
  CHECK(h.talk("MAIL FROM:<> SIZE=8000\r\n") == "250 2.1.0 Ok\r\n");  // the header From decides later
}

TEST_CASE("data over this sender's limit without SIZE=: 552 5.3.4 after DATA, nothing stored") {
  Harness h;
  route(h);
  h.ehlo();
  CHECK(send(h, "a@other.example", "a@other.example", 1500) ==
        "552 5.3.4 Error: message size exceeds fixed maximum message size for this sender (1000 bytes: the largest "
        "any route carries)\r\n");
  CHECK(h.host.committed.empty());
  CHECK(h.host.discarded == 1);
  CHECK(send(h, "a@small.example", "a@small.example", 1500).rfind("250 2.0.0 Ok: queued as", 0) == 0);
  CHECK(h.host.committed.size() == 1);
}

TEST_CASE("a size between routes' bounds, and a null sender's header From: refused at end of data") {
  Harness h;
  route(h);
  h.ehlo();
  std::string gap = send(h, "a@gap.example", "a@gap.example", 1500);  // over big's 1000, under up's 3000
  CHECK(gap.rfind("552 5.3.4 Error: no route carries a message of ", 0) == 0);
  CHECK(gap.find("bytes from this sender (largest 8000 bytes)") != std::string::npos);
  CHECK(send(h, "a@gap.example", "a@gap.example", 4000).rfind("250 ", 0) == 0);
  CHECK(send(h, "", "a@other.example", 1500).rfind("552 5.3.4 Error: no route carries", 0) == 0);
  CHECK(send(h, "", "a@small.example", 1500).rfind("250 ", 0) == 0);
  CHECK(h.host.committed.size() == 2);
}
