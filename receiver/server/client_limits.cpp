#include "receiver/server/client_limits.hpp"

#include <arpa/inet.h>

#include "common/cidr.hpp"

namespace relay::receiver {

namespace {
constexpr std::uint64_t kMinute = 60000;
}

std::string client_key(const std::string& ip) {
  auto a = net::parse_address(ip);
  if (!a) return ip;
  char buf[INET6_ADDRSTRLEN] = {};
  if (a->family == AF_INET) {  // also a v4-mapped IPv6 address: the IPv4 address
    return inet_ntop(AF_INET, a->bytes.data(), buf, sizeof buf) ? std::string(buf) : ip;
  }
  std::array<std::uint8_t, 16> net = a->bytes;
  for (int i = 8; i < 16; ++i) net[i] = 0;
  if (!inet_ntop(AF_INET6, net.data(), buf, sizeof buf)) return ip;
  return std::string(buf) + "/64";
}

void ConnectionRate::roll(Bucket& b, std::uint64_t now_ms) {
  if (now_ms < b.start_ms + kMinute) return;
  bool adjacent = now_ms < b.start_ms + 2 * kMinute;
  b.previous = adjacent ? b.current : 0;
  b.current = 0;
  b.start_ms = adjacent ? b.start_ms + kMinute : now_ms;
}

bool ConnectionRate::admit(const std::string& key, std::uint64_t now_ms, int per_minute) {
  if (per_minute <= 0) return true;
  auto [it, fresh] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  if (fresh) b.start_ms = now_ms;
  roll(b, now_ms);
  double into = static_cast<double>(now_ms - b.start_ms) / kMinute;  // 0..1 into the current minute
  double estimate = b.previous * (1.0 - into) + b.current;
  if (estimate >= per_minute) return false;
  b.current += 1;
  return true;
}

void ConnectionRate::prune(std::uint64_t now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = now_ms >= it->second.start_ms + 2 * kMinute ? buckets_.erase(it) : std::next(it);
  }
}

}  // namespace relay::receiver
