// relay::provider::gmail token client — the two OAuth 2.0 token requests
// relay makes to Google's token endpoint (config token_url).
//
// Does: builds POST token_url, application/x-www-form-urlencoded:
//   service account: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
//     &assertion=<RS256 JWT, sub = the user to impersonate, aud = token_url>
//   user refresh token: grant_type=refresh_token&client_id&client_secret
//     &refresh_token
// parses {"access_token","expires_in","token_type":"Bearer"}, classifies
// failures (gmail_errors.hpp) and makes the Fetcher a cloud::TokenCache runs
// (the adapter keeps one cache per impersonated user).
// Does not: cache, log secrets/tokens/assertions.
// Runs on: the loop thread. Fails: FetchResult::error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/gmail/gmail_errors.hpp"

namespace relay::provider::gmail {

class ServiceAccount;

inline constexpr const char* kJwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";

// sa == nullptr: refresh token. `subject` is the sub claim ("" = none).
cloud::Request build_token_request(const config::GmailProvider& cfg, const ServiceAccount* sa,
                                  const std::string& subject, std::int64_t now_unix);
cloud::FetchResult parse_token_response(const cloud::Response& resp, const TokenContext& ctx);

cloud::Fetcher make_fetcher(net::CurlMulti& curl, cloud::HttpOptions opt, const config::GmailProvider& cfg,
                           std::shared_ptr<const ServiceAccount> sa, const std::string& subject);

// A transport failure (no HTTP answer) as a Result, by CURLcode.
Result classify_transport(const cloud::Response& resp, std::string_view what);

}  // namespace relay::provider::gmail
