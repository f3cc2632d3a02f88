// relay::provider::m365::JwtSigner — the certificate client assertion of the
// Microsoft identity platform (RFC 7523 private_key_jwt).
//
// Does: loads a PEM private key (RSA) and its PEM certificate once, and
// builds signed assertions: header {"alg":"RS256","typ":"JWT","x5t":
// base64url(SHA-1 of cert DER),"x5t#S256": base64url(SHA-256 of cert DER)},
// claims {aud: <login_url>/<tenant>/oauth2/v2.0/token, iss = sub =
// client_id, jti: random UUID, nbf = iat = now, exp = now + 10 min}.
// Does not: talk to the network; cache assertions (they are cheap, one per
// token request).
// Runs on: any thread (the key is read-only after construction).
// Fails: the constructor throws config::ConfigError naming the file when a
// key or certificate cannot be read or the key is not RSA.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace relay::provider::m365 {

class JwtSigner {
 public:
  JwtSigner(const std::filesystem::path& key_file, const std::filesystem::path& cert_file);
  // From PEM text (tests).
  static JwtSigner from_pem(std::string_view key_pem, std::string_view cert_pem);
  JwtSigner(JwtSigner&&) noexcept;
  JwtSigner& operator=(JwtSigner&&) noexcept;
  ~JwtSigner();

  std::string assertion(std::string_view client_id, std::string_view audience, std::int64_t now_unix,
                        std::string_view jti) const;
  const std::string& x5t() const noexcept { return x5t_; }
  const std::string& x5t_s256() const noexcept { return x5t_s256_; }

 private:
  JwtSigner() = default;
  void load(std::string_view key_pem, std::string_view cert_pem, const std::string& what);
  struct Key;
  std::unique_ptr<Key> key_;
  std::string x5t_, x5t_s256_;
};

// A random RFC 4122 version 4 UUID (jti, client-request-id).
std::string random_uuid();

}  // namespace relay::provider::m365
