// See jwt_assertion.hpp.
#include "dispatcher/providers/m365/jwt_assertion.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/config.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"

namespace relay::provider::m365 {
namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw config::ConfigError(fmt::format("{}: cannot read file", p.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string digest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), n);
}

}  // namespace

struct JwtSigner::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

JwtSigner::JwtSigner(JwtSigner&&) noexcept = default;
JwtSigner& JwtSigner::operator=(JwtSigner&&) noexcept = default;
JwtSigner::~JwtSigner() = default;

JwtSigner::JwtSigner(const std::filesystem::path& key_file, const std::filesystem::path& cert_file) {
  load(read_file(key_file), read_file(cert_file), key_file.string() + " / " + cert_file.string());
}

JwtSigner JwtSigner::from_pem(std::string_view key_pem, std::string_view cert_pem) {
  JwtSigner s;
  s.load(key_pem, cert_pem, "PEM");
  return s;
}

void JwtSigner::load(std::string_view key_pem, std::string_view cert_pem, const std::string& what) {
  key_ = std::make_unique<Key>();
  BioPtr kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  key_->pkey = PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr);
  if (!key_->pkey) throw config::ConfigError(what + ": private_key_file is not a readable PEM private key");
  if (EVP_PKEY_base_id(key_->pkey) != EVP_PKEY_RSA) {
    throw config::ConfigError(what + ": private_key_file must hold an RSA key (RS256)");
  }
  BioPtr cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!cert) throw config::ConfigError(what + ": certificate_file is not a readable PEM certificate");
  if (X509_check_private_key(cert.get(), key_->pkey) != 1) {
    throw config::ConfigError(what + ": certificate_file does not match private_key_file");
  }
  unsigned char* der = nullptr;
  int n = i2d_X509(cert.get(), &der);
  if (n <= 0) throw config::ConfigError(what + ": cannot encode certificate");
  std::string d(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  x5t_ = base64url(digest(EVP_sha1(), d));
  x5t_s256_ = base64url(digest(EVP_sha256(), d));
}

std::string JwtSigner::assertion(std::string_view client_id, std::string_view audience, std::int64_t now_unix,
                                 std::string_view jti) const {
  nlohmann::ordered_json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5t", x5t_}, {"x5t#S256", x5t_s256_}};
  nlohmann::ordered_json claims = {{"aud", audience}, {"iss", client_id}, {"sub", client_id},
                                   {"jti", jti},      {"nbf", now_unix},  {"iat", now_unix},
                                   {"exp", now_unix + 600}};
  std::string input = base64url(header.dump()) + "." + base64url(claims.dump());
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t siglen = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &siglen, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return {};
  }
  std::string sig(siglen, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &siglen,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return {};
  }
  sig.resize(siglen);
  return input + "." + base64url(sig);
}

std::string random_uuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) std::abort();  // no entropy: broken invariant
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

}  // namespace relay::provider::m365
