#include "receiver/server/tls_context.hpp"

#include <openssl/err.h>

namespace relay::receiver {

namespace {
std::string ssl_errors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}
}  // namespace

std::shared_ptr<TlsContext> TlsContext::load(const config::TlsConfig& cfg, std::string* error) {
  ERR_clear_error();
  auto tc = std::make_shared<TlsContext>();
  tc->ctx_.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = tc->ctx_.get();
  if (!ctx) {
    *error = "SSL_CTX_new: " + ssl_errors();
    return nullptr;
  }
  int min = cfg.min_version == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (!cfg.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, cfg.ciphers.c_str()) != 1) {
    *error = "receiver.tls.ciphers: no usable cipher in '" + cfg.ciphers + "'";
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1) {
    *error = "receiver.tls.cert_file " + cfg.cert_file.string() + ": " + ssl_errors();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    *error = "receiver.tls.key_file " + cfg.key_file.string() + ": " + ssl_errors();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    *error = "receiver.tls: key does not match certificate: " + ssl_errors();
    return nullptr;
  }
  return tc;
}

TlsTransport::TlsTransport(const TlsContext& ctx) : ssl_(SSL_new(ctx.get())) {
  if (!ssl_) return;
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (!rbio_ || !wbio_) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    ssl_.reset();
    return;
  }
  BIO_set_mem_eof_return(rbio_, -1);  // empty read BIO means "want more", not EOF
  SSL_set_bio(ssl_.get(), rbio_, wbio_);
  SSL_set_accept_state(ssl_.get());
}

bool TlsTransport::fail(int ret, const char* what) {
  int err = SSL_get_error(ssl_.get(), ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
  error_ = err == SSL_ERROR_ZERO_RETURN ? std::string("peer closed TLS") : std::string(what) + ": " + ssl_errors();
  ERR_clear_error();
  return false;
}

bool TlsTransport::drain(std::string& wire_out) {
  char buf[16384];
  int n;
  while ((n = BIO_read(wbio_, buf, sizeof buf)) > 0) wire_out.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::string_view> TlsTransport::decode(std::string_view wire, std::string& wire_out) {
  plain_.clear();
  if (!wire.empty() && BIO_write(rbio_, wire.data(), static_cast<int>(wire.size())) != static_cast<int>(wire.size())) {
    error_ = "BIO_write failed";
    return std::nullopt;
  }
  if (!established_) {
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
      established_ = announce_ = true;
      if (!pending_.empty()) {
        std::string p = std::move(pending_);
        pending_.clear();
        if (!encode(p, wire_out)) return std::nullopt;
      }
    } else if (!fail(r, "TLS handshake")) {
      drain(wire_out);  // the alert
      return std::nullopt;
    }
  }
  if (established_) {
    char buf[16384];
    while (!peer_closed_) {
      int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n <= 0 && SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN) {
        // close_notify after the client's last data: hand that data on and
        // let the connection answer it (receiver half-close rule).
        peer_closed_ = true;
        ERR_clear_error();
        break;
      }
      if (n <= 0) {
        if (!fail(n, "TLS read")) {
          drain(wire_out);
          return std::nullopt;
        }
        break;
      }
      plain_.append(buf, static_cast<std::size_t>(n));
    }
  }
  drain(wire_out);
  return std::string_view(plain_);
}

bool TlsTransport::encode(std::string_view plain, std::string& wire_out) {
  if (!established_) {
    pending_.append(plain);  // implicit TLS greeting queued before the handshake
    return true;
  }
  if (!plain.empty()) {
    int n = SSL_write(ssl_.get(), plain.data(), static_cast<int>(plain.size()));
    if (n <= 0 && !fail(n, "TLS write")) return false;
  }
  return drain(wire_out);
}

bool TlsTransport::take_established() {
  bool a = announce_;
  announce_ = false;
  return a;
}

std::string TlsTransport::description() const {
  if (!established_) return {};
  return std::string(SSL_get_version(ssl_.get())) + " " + SSL_get_cipher_name(ssl_.get());
}

}  // namespace relay::receiver
