// relay::provider::smtp_oauth — OAuth 2.0 access tokens for the smtp
// provider's XOAUTH2 (docs/smtp-oauth.md), and how to read the upstream's
// verdict on one.
//
// Does: builds the provider's one cloud::TokenCache (the cache the m365 and
// gmail adapters use: refresh ahead of expiry, single in-flight request,
// configuration errors backed off) over the token requests those adapters
// already make: Microsoft identity platform v2 client credentials (client
// secret or certificate assertion, m365/token_client) with scope
// https://outlook.office365.com/.default, or a Google service-account JWT
// bearer grant (gmail/token_client) with scope https://mail.google.com/ and
// sub = the mailbox. Builds and reads the XOAUTH2 SASL strings (the string
// libcurl sends is the same; tests compare the two on the wire).
// Does not: speak SMTP (libcurl does, smtp_provider.cpp), log tokens.
// Runs on: the loop thread of the CurlMulti. Fails: make_token_cache throws
// config::ConfigError for an unreadable key/certificate/service-account
// file; token failures arrive as TokenResult errors.
#pragma once
#include <curl/curl.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/config.hpp"
#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider {
class SmtpTranscript;
}

namespace relay::provider::smtp_oauth {

inline constexpr const char* kOutlookScope = "https://outlook.office365.com/.default";
inline constexpr const char* kGoogleScope = "https://mail.google.com/";

// The configured scope, else the one of the credential's kind.
std::string scope(const config::SmtpOAuth& o);
// "Microsoft identity platform <url>" / "Google <token_url>" for texts.
std::string endpoint(const config::SmtpOAuth& o);

std::unique_ptr<cloud::TokenCache> make_token_cache(net::CurlMulti& curl, const cloud::HttpOptions& opt,
                                                    const config::SmtpProvider& cfg, const std::string& name);

// "user=" user "\x01auth=Bearer " token "\x01\x01" (before base64).
std::string sasl_string(std::string_view user, std::string_view token);
// The decoded XOAUTH2 error challenge ("334 <base64 JSON>", e.g.
// {"status":"401","schemes":"bearer","scope":"..."}) as a short text, or ""
// when `challenge` is not one. Never longer than 200 characters.
std::string describe_challenge(std::string_view challenge);

// True when the upstream refused the token itself: AUTH answered 535, or
// the XOAUTH2 error challenge (334 after our response; libcurl then ends
// the session with CURLE_LOGIN_DENIED). The provider then drops the cached
// token and retries once with a fresh one.
bool token_refused(const SmtpTranscript& t, CURLcode rc);
// The Result for a refusal that a fresh token did not cure (a
// configuration error: the app lacks SMTP.SendAsApp / the mailbox
// permission, or SMTP AUTH is disabled for it): held, never bounced.
Result refused_result(const SmtpTranscript& t, const std::string& user);

}  // namespace relay::provider::smtp_oauth
