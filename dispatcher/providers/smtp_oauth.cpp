// See smtp_oauth.hpp.
#include "dispatcher/providers/smtp_oauth.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dispatcher/providers/cloud/codec.hpp"
#include "dispatcher/providers/gmail/service_account.hpp"
#include "dispatcher/providers/gmail/token_client.hpp"
#include "dispatcher/providers/m365/jwt_assertion.hpp"
#include "dispatcher/providers/m365/token_client.hpp"
#include "dispatcher/providers/outcome_table.hpp"
#include "dispatcher/providers/smtp_transcript.hpp"

namespace relay::provider::smtp_oauth {
namespace {

// The m365 token client's view of the oauth: section.
config::M365Provider as_m365(const config::SmtpProvider& cfg) {
  const auto& o = cfg.oauth;
  config::M365Provider m;
  m.tenant_id = o.tenant_id;
  m.client_id = o.client_id;
  m.client_secret = o.client_secret;
  m.certificate_file = o.certificate_file;
  m.private_key_file = o.private_key_file;
  m.login_url = o.login_url;
  m.ca_file = o.ca_file;
  m.timeout = cfg.timeout;
  return m;
}

// The gmail token client's view of it.
config::GmailProvider as_gmail(const config::SmtpProvider& cfg) {
  config::GmailProvider g;
  g.service_account_file = cfg.oauth.service_account_file;
  g.token_url = cfg.oauth.token_url;
  g.ca_file = cfg.oauth.ca_file;
  g.scope = scope(cfg.oauth);
  g.timeout = cfg.timeout;
  return g;
}

cloud::Fetcher make_fetcher(net::CurlMulti& curl, const cloud::HttpOptions& opt, const config::SmtpProvider& cfg) {
  const auto& o = cfg.oauth;
  if (o.google()) {
    auto sa = std::make_shared<const gmail::ServiceAccount>(gmail::ServiceAccount::load(o.service_account_file));
    const std::string subject = o.subject.empty() ? cfg.username : o.subject;
    return gmail::make_fetcher(curl, opt, as_gmail(cfg), std::move(sa), subject);
  }
  std::shared_ptr<const m365::JwtSigner> signer;
  if (!o.certificate_file.empty()) signer = std::make_shared<m365::JwtSigner>(o.private_key_file, o.certificate_file);
  return m365::make_fetcher(curl, opt, as_m365(cfg), std::move(signer), scope(o));
}

}  // namespace

std::string scope(const config::SmtpOAuth& o) {
  if (!o.scope.empty()) return o.scope;
  return o.google() ? kGoogleScope : kOutlookScope;
}

std::string endpoint(const config::SmtpOAuth& o) {
  if (o.google()) return "Google token endpoint " + o.token_url;
  return "Microsoft identity platform " + m365::token_url(config::M365Provider{.tenant_id = o.tenant_id,
                                                                                .login_url = o.login_url});
}

std::unique_ptr<cloud::TokenCache> make_token_cache(net::CurlMulti& curl, const cloud::HttpOptions& opt,
                                                    const config::SmtpProvider& cfg, const std::string& name) {
  auto cache = std::make_unique<cloud::TokenCache>(make_fetcher(curl, opt, cfg), &cloud::Clock::now, name);
  cache->set_metrics_provider(name);
  return cache;
}

std::string sasl_string(std::string_view user, std::string_view token) {
  std::string s = "user=";
  s.append(user).append("\x01").append("auth=Bearer ").append(token).append("\x01\x01");
  return s;
}

std::string describe_challenge(std::string_view challenge) {
  std::string json;
  if (challenge.empty() || !cloud::base64_decode(challenge, &json)) return {};
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {};
  std::string out;
  for (const char* k : {"status", "schemes", "scope"}) {
    auto it = j.find(k);
    if (it == j.end()) continue;
    std::string v = it->is_string() ? it->get<std::string>() : it->dump();
    v.erase(std::remove_if(v.begin(), v.end(), [](char c) { return c < 0x20 || c == 0x7f; }), v.end());
    out += (out.empty() ? "" : " ") + std::string(k) + "=" + v;
  }
  if (out.size() > 200) out.resize(200);
  return out;
}

bool token_refused(const SmtpTranscript& t, CURLcode rc) {
  const SmtpStep* a = t.last("AUTH");
  if (a == nullptr) return false;
  if (a->code == 535) return true;
  // The error challenge: a 334 that answers our response, not the first
  // (empty) 334 to "AUTH XOAUTH2"; libcurl gives up on it with LOGIN_DENIED.
  return a->code == 334 && rc == CURLE_LOGIN_DENIED;
}

Result refused_result(const SmtpTranscript& t, const std::string& user) {
  const SmtpStep* a = t.last("AUTH");
  Result r = make_result(Cause::AuthFailed);
  std::string what = a == nullptr ? std::string("no AUTH reply") : std::to_string(a->code) + " " + a->text;
  if (a != nullptr && a->code == 334) {
    r.code = 535;
    std::string why = describe_challenge(a->text);
    what = "334 error challenge" + (why.empty() ? std::string() : " (" + why + ")");
  } else if (a != nullptr) {
    r.code = a->code;
    if (auto e = parse_enhanced(a->text); !e.empty()) r.enhanced = e;
  }
  if (what.size() > 300) what.resize(300);
  r.text = "upstream refused a freshly issued OAuth token for " + user + ": AUTH " + what +
           "; check that the app may send as this mailbox (Microsoft: SMTP.SendAsApp and the mailbox permission; "
           "Google: domain-wide delegation of https://mail.google.com/)";
  return r;
}

}  // namespace relay::provider::smtp_oauth
