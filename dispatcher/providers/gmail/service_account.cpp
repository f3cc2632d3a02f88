// See service_account.hpp.
#include "dispatcher/providers/gmail/service_account.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/config.hpp"
#include "dispatcher/providers/cloud/codec.hpp"

namespace relay::provider::gmail {
namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };

std::string field(const nlohmann::json& j, const char* name, const std::string& what, bool required) {
  auto it = j.find(name);
  if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) return it->get<std::string>();
  if (required) throw config::ConfigError(what + ": service account key has no \"" + name + "\"");
  return {};
}

}  // namespace

struct ServiceAccount::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

ServiceAccount::ServiceAccount() : key_(std::make_unique<Key>()) {}
ServiceAccount::ServiceAccount(ServiceAccount&&) noexcept = default;
ServiceAccount& ServiceAccount::operator=(ServiceAccount&&) noexcept = default;
ServiceAccount::~ServiceAccount() = default;

ServiceAccount ServiceAccount::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw config::ConfigError(file.string() + ": cannot read service_account_file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_json(ss.str(), file.string());
}

ServiceAccount ServiceAccount::from_json(std::string_view json, const std::string& what) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw config::ConfigError(what + ": service account key is not JSON");
  if (field(j, "type", what, false) != "service_account") {
    throw config::ConfigError(what + ": not a service account key (\"type\" must be \"service_account\")");
  }
  ServiceAccount sa;
  sa.client_email_ = field(j, "client_email", what, true);
  sa.client_id_ = field(j, "client_id", what, false);
  sa.key_id_ = field(j, "private_key_id", what, false);
  sa.token_uri_ = field(j, "token_uri", what, false);
  const std::string pem = field(j, "private_key", what, true);
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  sa.key_->pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!sa.key_->pkey) throw config::ConfigError(what + ": \"private_key\" is not a readable PEM private key");
  if (EVP_PKEY_base_id(sa.key_->pkey) != EVP_PKEY_RSA) {
    throw config::ConfigError(what + ": \"private_key\" must be an RSA key (RS256)");
  }
  return sa;
}

std::string ServiceAccount::assertion(std::string_view scope, std::string_view audience, std::string_view subject,
                                      std::int64_t now_unix) const {
  nlohmann::ordered_json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key_id_.empty()) header["kid"] = key_id_;
  nlohmann::ordered_json claims = {{"iss", client_email_}, {"scope", scope}, {"aud", audience},
                                   {"iat", now_unix},      {"exp", now_unix + 3600}};
  if (!subject.empty()) claims["sub"] = subject;
  const std::string input = cloud::base64url(header.dump()) + "." + cloud::base64url(claims.dump());
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
    return {};
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1) return {};
  sig.resize(len);
  return input + "." + cloud::base64url(sig);
}

}  // namespace relay::provider::gmail
