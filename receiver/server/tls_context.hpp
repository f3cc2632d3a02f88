// relay::receiver::TlsContext — the server SSL_CTX (certificate, key,
// minimum version, ciphers) and TlsTransport, TLS over memory BIOs.
//
// Does: TlsContext::load() builds a fresh SSL_CTX from the config; SIGHUP
// makes a new one and swaps the shared_ptr, so new connections get the new
// certificate while running ones keep theirs (each SSL holds a reference to
// its SSL_CTX). TlsTransport is one server-side SSL with a read and a write
// memory BIO.
// Does not: verify client certificates.
// Thread: load() anywhere; a TlsTransport on its connection's loop thread.
// Fails: load() returns nullptr and an error string naming the file;
// TlsTransport::decode returns nullopt on a handshake/record error.
#pragma once
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "common/config.hpp"
#include "receiver/server/transport.hpp"

namespace relay::receiver {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};

class TlsContext {
 public:
  static std::shared_ptr<TlsContext> load(const config::TlsConfig& cfg, std::string* error);
  SSL_CTX* get() const noexcept { return ctx_.get(); }

 private:
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
};

class TlsTransport final : public Transport {
 public:
  explicit TlsTransport(const TlsContext& ctx);
  std::optional<std::string_view> decode(std::string_view wire, std::string& wire_out) override;
  bool encode(std::string_view plain, std::string& wire_out) override;
  bool take_established() override;
  std::string description() const override;
  std::string error() const override { return error_; }
  bool peer_closed() const override { return peer_closed_; }
  bool ok() const noexcept { return ssl_ != nullptr; }

 private:
  bool drain(std::string& wire_out);
  bool fail(int ret, const char* what);

  std::unique_ptr<SSL, SslFree> ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  bool established_ = false;
  bool announce_ = false;
  bool peer_closed_ = false;  // close_notify received
  std::string plain_;    // decoded plaintext of the last decode()
  std::string pending_;  // plaintext written before the handshake finished
  std::string error_;
};

}  // namespace relay::receiver
