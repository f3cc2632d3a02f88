// Tests for relay::net::CidrList: parsing and matching v4, v6 and v4-mapped.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstring>

#include "common/cidr.hpp"

using namespace relay::net;

TEST_CASE("parse good and bad networks") {
  CHECK(Cidr::parse("127.0.0.0/8")->str() == "127.0.0.0/8");
  CHECK(Cidr::parse("::1/128")->str() == "::1/128");
  CHECK(Cidr::parse("192.0.2.7")->prefix == 32);
  CHECK(Cidr::parse("fd00::")->prefix == 128);
  CHECK(Cidr::parse("0.0.0.0/0"));
  CHECK(Cidr::parse("::/0"));
  std::string why;
  CHECK_FALSE(Cidr::parse("10.0.0.0/33", &why));
  CHECK(why.find("0-32") != std::string::npos);
  CHECK_FALSE(Cidr::parse("fd00::/129"));
  CHECK_FALSE(Cidr::parse("10.1.2.3/8", &why));  // host bits set
  CHECK(why.find("bits set") != std::string::npos);
  CHECK_FALSE(Cidr::parse("example.com/8"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/8x"));
  CHECK_FALSE(Cidr::parse(""));
  CHECK_FALSE(CidrList::parse({"127.0.0.0/8", "bad"}, &why));
  CHECK(why.rfind("'bad'", 0) == 0);
}

TEST_CASE("match address strings") {
  auto l = *CidrList::parse({"127.0.0.0/8", "::1/128", "10.20.0.0/15", "2001:db8::/32"});
  CHECK(l.contains("127.0.0.1"));
  CHECK(l.contains("127.255.255.255"));
  CHECK_FALSE(l.contains("128.0.0.1"));
  CHECK(l.contains("10.21.255.1"));
  CHECK_FALSE(l.contains("10.22.0.1"));
  CHECK(l.contains("::1"));
  CHECK(l.contains("[::1]"));
  CHECK_FALSE(l.contains("::2"));
  CHECK(l.contains("2001:db8:ffff::1"));
  CHECK_FALSE(l.contains("2001:db9::1"));
  CHECK(l.contains("::ffff:127.0.0.1"));  // dual-stack listener view of an IPv4 peer
  CHECK_FALSE(l.contains("not an address"));
  CHECK_FALSE(CidrList().contains("127.0.0.1"));
}

TEST_CASE("match sockaddrs") {
  auto l = *CidrList::parse({"192.0.2.0/24", "fd00::/8"});
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.55", &in.sin_addr);
  CHECK(l.contains(reinterpret_cast<sockaddr*>(&in)));
  inet_pton(AF_INET, "192.0.3.55", &in.sin_addr);
  CHECK_FALSE(l.contains(reinterpret_cast<sockaddr*>(&in)));
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "fd12::1", &in6.sin6_addr);
  CHECK(l.contains(reinterpret_cast<sockaddr*>(&in6)));
  inet_pton(AF_INET6, "::ffff:192.0.2.1", &in6.sin6_addr);
  CHECK(l.contains(reinterpret_cast<sockaddr*>(&in6)));
  inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr);
  CHECK_FALSE(l.contains(reinterpret_cast<sockaddr*>(&in6)));
  CHECK_FALSE(l.contains(static_cast<const sockaddr*>(nullptr)));
}

TEST_CASE("v4-mapped network entries match IPv4 peers") {
  auto l = *CidrList::parse({"::ffff:10.0.0.0/104"});
  CHECK(l.contains("10.1.2.3"));
  CHECK_FALSE(l.contains("11.1.2.3"));
}
