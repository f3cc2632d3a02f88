// Service-account key loading, the RS256 assertion (signature checked with
// the public key), and the two token request bodies.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "dispatcher/providers/gmail/service_account.hpp"
#include "dispatcher/providers/gmail/token_client.hpp"
#include "dispatcher/providers/cloud/codec.hpp"
#include "tests/dispatcher/m365/test_keys.hpp"

using namespace relay::provider::gmail;
using relay::provider::cloud::base64_decode;

namespace {

std::string sa_json(const char* type = "service_account", bool email = true) {
  nlohmann::json j = {{"type", type}, {"private_key", kTestKeyPem}, {"private_key_id", "kid-1"},
                      {"client_id", "42"}, {"token_uri", "https://oauth2.googleapis.com/token"}};
  if (email) j["client_email"] = "sa@proj.iam.gserviceaccount.com";
  return j.dump();
}

bool verify_rs256(const std::string& jwt) {
  auto dot = jwt.rfind('.');
  std::string input = jwt.substr(0, dot), sig;
  REQUIRE(base64_decode(jwt.substr(dot + 1), &sig));
  BIO* b = BIO_new_mem_buf(kTestKeyPem, -1);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

nlohmann::json part(const std::string& jwt, int i) {
  std::size_t a = 0;
  for (int k = 0; k < i; ++k) a = jwt.find('.', a) + 1;
  std::string raw;
  REQUIRE(base64_decode(jwt.substr(a, jwt.find('.', a) - a), &raw));
  return nlohmann::json::parse(raw);
}

std::string form_value(const std::string& body, const std::string& key) {
  auto p = body.find(key + "=");
  REQUIRE(p != std::string::npos);
  auto e = body.find('&', p);
  return body.substr(p + key.size() + 1, e == std::string::npos ? std::string::npos : e - p - key.size() - 1);
}

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

TEST_CASE("service account assertion: RS256 over header.claims, Google's claims, sub = impersonated user") {
  ServiceAccount sa = ServiceAccount::from_json(sa_json(), "sa.json");
  CHECK(sa.client_email() == "sa@proj.iam.gserviceaccount.com");
  std::string jwt = sa.assertion("https://www.googleapis.com/auth/gmail.send", "https://tok.test/token",
                                 "scan@example.com", 1700000000);
  CHECK(verify_rs256(jwt));
  auto h = part(jwt, 0), c = part(jwt, 1);
  CHECK(h["alg"] == "RS256");
  CHECK(h["typ"] == "JWT");
  CHECK(h["kid"] == "kid-1");
  CHECK(c["iss"] == "sa@proj.iam.gserviceaccount.com");
  CHECK(c["scope"] == "https://www.googleapis.com/auth/gmail.send");
  CHECK(c["aud"] == "https://tok.test/token");
  CHECK(c["sub"] == "scan@example.com");
  CHECK(c["iat"] == 1700000000);
  CHECK(c["exp"] == 1700000000 + 3600);  // Google's maximum
  // A tampered claim no longer verifies.
  std::string bad = jwt;
  bad[bad.find('.') + 5] ^= 1;
  CHECK_FALSE(verify_rs256(bad));
  CHECK_FALSE(part(sa.assertion("s", "a", "", 1), 1).contains("sub"));
}

TEST_CASE("service account key errors name the file and the field") {
  auto err = [](const std::string& json) {
    try {
      ServiceAccount::from_json(json, "/etc/relay/sa.json");
    } catch (const relay::config::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(err("nope") == "/etc/relay/sa.json: service account key is not JSON");
  CHECK(err(sa_json("authorized_user")).find("\"type\" must be \"service_account\"") != std::string::npos);
  CHECK(err(sa_json("service_account", false)) == "/etc/relay/sa.json: service account key has no \"client_email\"");
  auto j = nlohmann::json::parse(sa_json());
  j["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  CHECK(err(j.dump()).find("not a readable PEM private key") != std::string::npos);
  CHECK_THROWS_AS(ServiceAccount::load("/nonexistent/sa.json"), relay::config::ConfigError);
}

TEST_CASE("token requests: JWT bearer grant and refresh token grant") {
  relay::config::GmailProvider cfg;
  cfg.token_url = "https://tok.test/token";
  ServiceAccount sa = ServiceAccount::from_json(sa_json(), "sa.json");
  auto req = build_token_request(cfg, &sa, "scan@example.com", 1700000000);
  CHECK(req.method == "POST");
  CHECK(req.url == "https://tok.test/token");
  CHECK(unescape(form_value(req.body, "grant_type")) == "urn:ietf:params:oauth:grant-type:jwt-bearer");
  std::string jwt = unescape(form_value(req.body, "assertion"));
  CHECK(verify_rs256(jwt));
  CHECK(part(jwt, 1)["sub"] == "scan@example.com");
  CHECK(req.body.find("client_secret") == std::string::npos);

  cfg.client_id = "cid.apps";
  cfg.client_secret = "s&cret";
  cfg.refresh_token = "1//r/t";
  auto r2 = build_token_request(cfg, nullptr, "", 0);
  CHECK(form_value(r2.body, "grant_type") == "refresh_token");
  CHECK(unescape(form_value(r2.body, "client_secret")) == "s&cret");
  CHECK(unescape(form_value(r2.body, "refresh_token")) == "1//r/t");
  CHECK(unescape(form_value(r2.body, "client_id")) == "cid.apps");
}
