#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"  // base64, base64url, base64_decode
#include "dispatcher/providers/m365/jwt_assertion.hpp"
#include "test_keys.hpp"

using namespace relay::provider::m365;

TEST_CASE("certificate assertion: header, claims and a signature the certificate verifies") {
  auto signer = JwtSigner::from_pem(kTestKeyPem, kTestCertPem);
  const std::string aud = "https://login.example/tenant/oauth2/v2.0/token";
  std::string jwt = signer.assertion("app-1", aud, 1764072000, "jti-1");
  auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
  REQUIRE(d1 != d2);
  std::string header, claims, sig;
  REQUIRE(base64_decode(jwt.substr(0, d1), &header));
  REQUIRE(base64_decode(jwt.substr(d1 + 1, d2 - d1 - 1), &claims));
  REQUIRE(base64_decode(jwt.substr(d2 + 1), &sig));
  auto h = nlohmann::json::parse(header);
  CHECK(h["alg"] == "RS256");
  CHECK(h["typ"] == "JWT");
  CHECK(h["x5t"] == signer.x5t());
  CHECK(h["x5t#S256"] == signer.x5t_s256());
  CHECK(signer.x5t().size() == 27);       // base64url of 20 bytes
  CHECK(signer.x5t_s256().size() == 43);  // of 32 bytes
  auto c = nlohmann::json::parse(claims);
  CHECK(c["aud"] == aud);
  CHECK(c["iss"] == "app-1");
  CHECK(c["sub"] == "app-1");
  CHECK(c["jti"] == "jti-1");
  CHECK(c["nbf"] == 1764072000);
  CHECK(c["exp"] == 1764072600);

  BIO* bio = BIO_new_mem_buf(kTestCertPem, -1);
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  EVP_PKEY* pub = X509_get_pubkey(cert);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string input = jwt.substr(0, d2);
  REQUIRE(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub) == 1);
  CHECK(EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
  input[5] ^= 1;  // any change breaks it
  REQUIRE(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pub) == 1);
  CHECK(EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  X509_free(cert);
  BIO_free(bio);
}

TEST_CASE("unreadable key is a config error") {
  CHECK_THROWS_AS(JwtSigner::from_pem("not a key", kTestCertPem), relay::config::ConfigError);
  CHECK_THROWS_AS(JwtSigner("/nonexistent/key.pem", "/nonexistent/cert.pem"), relay::config::ConfigError);
}

TEST_CASE("base64 round trips and uuid shape") {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    std::string out;
    REQUIRE(base64_decode(base64(s), &out));
    CHECK(out == s);
    REQUIRE(base64_decode(base64url(s), &out));
    CHECK(out == s);
  }
  CHECK(base64("hello") == "aGVsbG8=");
  auto u = random_uuid();
  CHECK(u.size() == 36);
  CHECK(u[14] == '4');
  CHECK(u != random_uuid());
}
