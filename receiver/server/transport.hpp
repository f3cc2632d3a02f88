// relay::receiver::Transport — plain TCP or TLS behind one interface,
// swapped at STARTTLS (pgbouncer SBufIO style).
//
// Does: turns wire bytes into plaintext (decode) and plaintext into wire
// bytes (encode). The connection does the socket I/O; a transport only
// transforms buffers, so TLS runs over libuv through OpenSSL memory BIOs.
// Does not: touch sockets or libuv.
// Thread: the loop thread of its connection.
// Fails: decode/encode return nullopt/false on a fatal protocol error
// (garbage instead of a TLS handshake, bad record): close that connection.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace relay::receiver {

class Transport {
 public:
  virtual ~Transport() = default;
  // Plaintext decoded from `wire` (valid until the next call); bytes that
  // must go back to the peer (handshake records) are appended to wire_out.
  virtual std::optional<std::string_view> decode(std::string_view wire, std::string& wire_out) = 0;
  virtual bool encode(std::string_view plain, std::string& wire_out) = 0;
  // True once, right after the handshake completed.
  virtual bool take_established() = 0;
  virtual std::string description() const = 0;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"
  virtual std::string error() const = 0;        // why decode/encode failed
  // The peer ended its side cleanly (TLS close_notify): no more input, but
  // replies can still be sent (a half-close at the TLS level).
  virtual bool peer_closed() const { return false; }
};

}  // namespace relay::receiver
