// relay::net::Cidr — see cidr.hpp.
#include "common/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace relay::net {
namespace {

constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

IpAddress unmap(IpAddress a) {
  if (a.family == AF_INET6 && std::memcmp(a.bytes.data(), kMappedPrefix, 12) == 0) {
    IpAddress v4;
    std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
    return v4;
  }
  return a;
}

bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, int bits) {
  int whole = bits / 8;
  if (std::memcmp(a, b, static_cast<size_t>(whole)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool host_bits_zero(const std::uint8_t* a, int bits, int total) {
  for (int i = bits; i < total; ++i) {
    if (a[i / 8] & (0x80 >> (i % 8))) return false;
  }
  return true;
}

}  // namespace

std::optional<IpAddress> parse_address(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return unmap(a);
  }
  return std::nullopt;
}

std::optional<IpAddress> from_sockaddr(const sockaddr* sa) {
  if (sa == nullptr) return std::nullopt;
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(a.bytes.data(), &in->sin_addr, 4);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    a.family = AF_INET6;
    std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
    return unmap(a);
  }
  return std::nullopt;
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<Cidr> {
    if (why) *why = reason;
    return std::nullopt;
  };
  auto slash = text.find('/');
  std::string_view host = text.substr(0, slash);
  // Parse the literal without unmapping: "::ffff:10.0.0.0/104" stays v6.
  std::string s(host);
  Cidr c;
  if (inet_pton(AF_INET, s.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET;
    c.prefix = 32;
  } else if (inet_pton(AF_INET6, s.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET6;
    c.prefix = 128;
  } else {
    return fail("expected an IPv4 or IPv6 network like 10.0.0.0/8 or fd00::/8");
  }
  int max = c.prefix;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    int bits = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), bits);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || bits < 0 || bits > max)
      return fail(c.family == AF_INET ? "expected a prefix length 0-32" : "expected a prefix length 0-128");
    c.prefix = bits;
  }
  if (!host_bits_zero(c.addr.data(), c.prefix, max)) return fail("address has bits set below the prefix length");
  // A v4-mapped network is matched as the IPv4 network it denotes.
  if (c.family == AF_INET6 && c.prefix >= 96 && std::memcmp(c.addr.data(), kMappedPrefix, 12) == 0) {
    std::memmove(c.addr.data(), c.addr.data() + 12, 4);
    std::memset(c.addr.data() + 4, 0, 12);
    c.family = AF_INET;
    c.prefix -= 96;
  }
  return c;
}

bool Cidr::contains(int fam, const std::uint8_t* bytes) const {
  return fam == family && prefix_equal(addr.data(), bytes, prefix);
}

std::string Cidr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

std::optional<CidrList> CidrList::parse(const std::vector<std::string>& texts, std::string* why) {
  std::vector<Cidr> nets;
  nets.reserve(texts.size());
  for (const auto& t : texts) {
    std::string reason;
    auto c = Cidr::parse(t, &reason);
    if (!c) {
      if (why) *why = "'" + t + "': " + reason;
      return std::nullopt;
    }
    nets.push_back(*c);
  }
  return CidrList(std::move(nets));
}

bool CidrList::contains(const sockaddr* sa) const {
  auto a = from_sockaddr(sa);
  if (!a) return false;
  for (const auto& n : nets_) {
    if (n.contains(a->family, a->bytes.data())) return true;
  }
  return false;
}

bool CidrList::contains(std::string_view address) const {
  auto a = parse_address(address);
  if (!a) return false;
  for (const auto& n : nets_) {
    if (n.contains(a->family, a->bytes.data())) return true;
  }
  return false;
}

}  // namespace relay::net
