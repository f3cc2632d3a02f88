// Client keys (IPv6 counted per /64) and the per-client connection rate
// (issue 9 item 8).
#include <doctest/doctest.h>

#include "receiver/server/client_limits.hpp"

using relay::receiver::client_key;
using relay::receiver::ConnectionRate;

TEST_CASE("IPv4 clients are keyed by address, IPv6 clients by their /64") {
  CHECK(client_key("192.0.2.7") == "192.0.2.7");
  CHECK(client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
  CHECK(client_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64");
  CHECK(client_key("2001:db8:1:3::1") == "2001:db8:1:3::/64");
  CHECK(client_key("::1") == "::/64");
  CHECK(client_key("::ffff:192.0.2.7") == "192.0.2.7");  // v4-mapped: the IPv4 address
  CHECK(client_key("") == "");
}

TEST_CASE("connection rate: N per sliding minute per key, others unaffected") {
  ConnectionRate r;
  std::uint64_t t = 1'000'000;
  for (int i = 0; i < 5; ++i) CHECK(r.admit("a", t + i, 5));
  CHECK_FALSE(r.admit("a", t + 10, 5));
  CHECK(r.admit("b", t + 10, 5));
  CHECK(r.admit("a", t + 10, 0));  // 0 = no limit
  // 10 s into the next minute 5/6 of the previous one still counts: 4.2, room for one
  CHECK(r.admit("a", t + 60'000 + 10'000, 5));
  CHECK_FALSE(r.admit("a", t + 60'000 + 10'001, 5));
  CHECK(r.admit("a", t + 60'000 + 40'000, 5));  // 5 * (1 - 40/60) + 1 = 2.7 < 5
  // quiet for two minutes: forgotten
  r.prune(t + 5 * 60'000);
  CHECK(r.tracked() == 0);
  for (int i = 0; i < 5; ++i) CHECK(r.admit("a", t + 5 * 60'000 + i, 5));
}
