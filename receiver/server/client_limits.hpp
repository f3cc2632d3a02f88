// relay::receiver client limits — who "one client" is for the per-client
// limits, and the per-client connection rate (issue 9 item 8).
//
// Does: client_key() maps a peer address to the key every per-client limit
// counts by (max_connections_per_ip, max_connection_rate, AUTH failures):
// the address itself for IPv4, its /64 for IPv6 (one IPv6 host usually owns
// a whole /64, so counting single addresses would let it multiply every
// limit by 2^64). ConnectionRate counts admitted connections per key over a
// sliding minute (two one-minute buckets, weighted: O(1) memory per key).
// Does not: decide admission on its own (Server::admit does).
// Thread: the loop thread. Fails: never; an unparsable address is its own key.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>

namespace relay::receiver {

std::string client_key(const std::string& ip);

class ConnectionRate {
 public:
  // True (and counted) when `key` has made fewer than `per_minute`
  // connections in the last minute; per_minute <= 0 means no limit.
  bool admit(const std::string& key, std::uint64_t now_ms, int per_minute);
  void prune(std::uint64_t now_ms);  // forgets clients quiet for 2 minutes
  std::size_t tracked() const noexcept { return buckets_.size(); }

 private:
  struct Bucket {
    std::uint64_t start_ms = 0;  // start of the current minute
    double previous = 0;         // connections in the minute before it
    double current = 0;
  };
  static void roll(Bucket& b, std::uint64_t now_ms);
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace relay::receiver
