// relay::net::Cidr — IPv4/IPv6 network lists ("127.0.0.0/8", "::1/128",
// "192.0.2.7") and matching a peer address against them.
//
// Does: parses CIDR text (a bare address means a single host), matches a
// sockaddr or an address literal. An IPv4-mapped IPv6 peer
// (::ffff:192.0.2.7, what a dual-stack [::] listener reports) matches the
// IPv4 entries. Host bits set below the prefix ("10.1.2.3/8") are rejected:
// they are almost always a typo for a different network.
// Does not: resolve host names, do I/O.
// Thread: pure values; safe to share read-only between threads.
// Fails: parse() returns std::nullopt (and a reason) on bad input.
#pragma once
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::net {

struct Cidr {
  int family = AF_INET;               // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};  // network bytes; IPv4 uses the first 4
  int prefix = 32;

  // nullopt and *why set on bad input.
  static std::optional<Cidr> parse(std::string_view text, std::string* why = nullptr);
  // family/addr as produced by parse_address(); a v4-mapped v6 address must
  // already be unmapped.
  bool contains(int fam, const std::uint8_t* bytes) const;
  std::string str() const;  // canonical "net/prefix"
};

class CidrList {
 public:
  CidrList() = default;
  explicit CidrList(std::vector<Cidr> nets) : nets_(std::move(nets)) {}
  // nullopt when any entry is bad; *why names the entry and the problem.
  static std::optional<CidrList> parse(const std::vector<std::string>& texts, std::string* why = nullptr);

  bool contains(const sockaddr* sa) const;
  bool contains(std::string_view address) const;  // "127.0.0.1", "::1", "[::1]"
  bool empty() const noexcept { return nets_.empty(); }
  const std::vector<Cidr>& nets() const noexcept { return nets_; }

 private:
  std::vector<Cidr> nets_;
};

// An address literal into family + network bytes (v4-mapped v6 unmapped to
// v4). Accepts "[::1]" brackets. nullopt if not an IP literal.
struct IpAddress {
  int family = AF_INET;
  std::array<std::uint8_t, 16> bytes{};
};
std::optional<IpAddress> parse_address(std::string_view text);
std::optional<IpAddress> from_sockaddr(const sockaddr* sa);

}  // namespace relay::net
