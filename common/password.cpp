// relay::auth — PBKDF2 password hashes; see password.hpp.
#include "common/password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

namespace relay::auth {
namespace {

constexpr std::string_view kPrefix = "$pbkdf2-sha256$i=";
constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr size_t kSaltLen = 16;
constexpr size_t kKeyLen = 32;

std::string b64_encode(const unsigned char* p, size_t n) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kB64[(acc << (6 - bits)) & 63];
  return out;
}

std::optional<std::vector<unsigned char>> b64_decode(std::string_view s) {
  std::vector<unsigned char> out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : s) {
    auto v = kB64.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // a dangling sextet is not base64
  return out;
}

struct Parsed {
  int iterations = 0;
  std::vector<unsigned char> salt, key;
};

std::optional<Parsed> parse(std::string_view h, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<Parsed> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (h.substr(0, kPrefix.size()) != kPrefix)
    return fail("expected a hash from 'relayctl hash-password' starting with $pbkdf2-sha256$i=");
  h.remove_prefix(kPrefix.size());
  Parsed p;
  auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), p.iterations);
  if (ec != std::errc() || end == h.data() || *end != '$') return fail("bad iteration count");
  if (p.iterations < kMinIterations || p.iterations > kMaxIterations)
    return fail("iteration count out of range 1000-10000000");
  h.remove_prefix(static_cast<size_t>(end - h.data()) + 1);
  auto dollar = h.find('$');
  if (dollar == std::string_view::npos) return fail("missing hash part");
  auto salt = b64_decode(h.substr(0, dollar));
  auto key = b64_decode(h.substr(dollar + 1));
  if (!salt || salt->size() < 8) return fail("bad salt (expected base64 of at least 8 bytes)");
  if (!key || key->size() != kKeyLen) return fail("bad hash part (expected base64 of 32 bytes)");
  p.salt = std::move(*salt);
  p.key = std::move(*key);
  return p;
}

bool derive(std::string_view pw, const std::vector<unsigned char>& salt, int iterations, unsigned char* out) {
  return PKCS5_PBKDF2_HMAC(pw.data(), static_cast<int>(pw.size()), salt.data(), static_cast<int>(salt.size()),
                           iterations, EVP_sha256(), static_cast<int>(kKeyLen), out) == 1;
}

}  // namespace

std::string hash_password(std::string_view password, int iterations) {
  std::vector<unsigned char> salt(kSaltLen);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
    throw std::runtime_error("hash_password: OpenSSL RAND_bytes failed");
  unsigned char key[kKeyLen];
  if (!derive(password, salt, iterations, key)) throw std::runtime_error("hash_password: PBKDF2 failed");
  std::string out(kPrefix);
  out += std::to_string(iterations);
  out += '$';
  out += b64_encode(salt.data(), salt.size());
  out += '$';
  out += b64_encode(key, kKeyLen);
  OPENSSL_cleanse(key, sizeof key);
  return out;
}

bool verify_password(std::string_view password, std::string_view hash) {
  auto p = parse(hash, nullptr);
  if (!p) return false;
  unsigned char key[kKeyLen];
  if (!derive(password, p->salt, p->iterations, key)) return false;
  bool ok = CRYPTO_memcmp(key, p->key.data(), kKeyLen) == 0;
  OPENSSL_cleanse(key, sizeof key);
  return ok;
}

bool password_hash_valid(std::string_view hash, std::string* why) { return parse(hash, why).has_value(); }

}  // namespace relay::auth
