// relay::provider::gmail service account — the Google service-account key
// file and the RS256 JWT assertion of the OAuth 2.0 JWT bearer grant
// (RFC 7523; Google "Using OAuth 2.0 for Server to Server Applications").
//
// Does: reads the JSON key file Google Cloud hands out ({"type":
// "service_account","client_email","private_key","private_key_id",
// "token_uri",...}) once, keeps the RSA key, and signs assertions:
// header {"alg":"RS256","typ":"JWT","kid":private_key_id}, claims {iss =
// client_email, scope, aud = the token endpoint, iat = now, exp = now + 1h,
// sub = the Workspace user to impersonate (domain-wide delegation)}.
// Does not: talk to the network, cache (token_client/TokenCache do).
// Runs on: any thread (read-only after construction).
// Fails: load_service_account()/from_json() throw config::ConfigError naming
// the file and the missing/bad field; assertion() returns "" if signing fails.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace relay::provider::gmail {

class ServiceAccount {
 public:
  static ServiceAccount load(const std::filesystem::path& file);
  static ServiceAccount from_json(std::string_view json, const std::string& what);
  ServiceAccount(ServiceAccount&&) noexcept;
  ServiceAccount& operator=(ServiceAccount&&) noexcept;
  ~ServiceAccount();

  const std::string& client_email() const noexcept { return client_email_; }
  const std::string& client_id() const noexcept { return client_id_; }
  const std::string& key_id() const noexcept { return key_id_; }
  const std::string& token_uri() const noexcept { return token_uri_; }

  // subject "" = no sub claim (the service account itself).
  std::string assertion(std::string_view scope, std::string_view audience, std::string_view subject,
                        std::int64_t now_unix) const;

 private:
  ServiceAccount();
  struct Key;
  std::unique_ptr<Key> key_;
  std::string client_email_, client_id_, key_id_, token_uri_;
};

}  // namespace relay::provider::gmail
