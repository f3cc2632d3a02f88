// relay::provider::m365 token client — the OAuth 2.0 client credentials
// request to the Microsoft identity platform v2.0 endpoint.
//
// Does: builds POST <login_url>/<tenant>/oauth2/v2.0/token (form encoded:
// client_id, scope=<graph resource>/.default, grant_type=client_credentials
// and client_secret or client_assertion_type+client_assertion), parses the
// answer {"token_type":"Bearer","expires_in":..,"access_token":..} and makes
// the Fetcher that TokenCache uses.
// Does not: cache (TokenCache does) or log the secret/token.
// Runs on: the loop thread. Fails: FetchResult::error, classified by
// classify_token().
#pragma once
#include <memory>
#include <string>

#include "common/config.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"

namespace relay::provider::m365 {

class JwtSigner;

// "https://graph.microsoft.com/.default" for the global cloud and every
// unknown host (tests); "<graph_url>/.default" for national clouds.
std::string graph_scope(const std::string& graph_url);
std::string token_url(const config::M365Provider& cfg);

// signer == nullptr: client secret. scope "" = graph_scope(cfg.graph_url)
// (the smtp provider asks for Outlook's, docs/smtp-oauth.md).
Request build_token_request(const config::M365Provider& cfg, const JwtSigner* signer, std::int64_t now_unix,
                            const std::string& scope = {});
FetchResult parse_token_response(const Response& resp, const config::M365Provider& cfg);

Fetcher make_fetcher(net::CurlMulti& curl, HttpOptions opt, const config::M365Provider& cfg,
                     std::shared_ptr<const JwtSigner> signer, std::string scope = {});


}  // namespace relay::provider::m365
