// See token_client.hpp.
#include "dispatcher/providers/m365/token_client.hpp"

#include <fmt/format.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"
#include "dispatcher/providers/m365/graph_errors.hpp"
#include "dispatcher/providers/m365/jwt_assertion.hpp"

namespace relay::provider::m365 {

std::string graph_scope(const std::string& graph_url) {
  const std::string base = trim_slash(graph_url);
  for (const char* known : {"https://graph.microsoft.us", "https://dod-graph.microsoft.us",
                            "https://microsoftgraph.chinacloudapi.cn", "https://graph.microsoft.de"}) {
    if (base == known) return base + "/.default";
  }
  return "https://graph.microsoft.com/.default";
}

std::string token_url(const config::M365Provider& cfg) {
  return fmt::format("{}/{}/oauth2/v2.0/token", trim_slash(cfg.login_url), url_escape(cfg.tenant_id));
}

Request build_token_request(const config::M365Provider& cfg, const JwtSigner* signer, std::int64_t now_unix,
                            const std::string& scope) {
  Request req;
  req.method = "POST";
  req.url = token_url(cfg);
  req.timeout = std::min<std::int64_t>(cfg.timeout, 60);
  req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
  req.headers.push_back("Accept: application/json");
  std::string body = "client_id=" + url_escape(cfg.client_id) + "&scope=" + url_escape(scope.empty() ? graph_scope(cfg.graph_url) : scope) +
                     "&grant_type=client_credentials";
  if (signer) {
    body += "&client_assertion_type=" + url_escape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    body += "&client_assertion=" + url_escape(signer->assertion(cfg.client_id, req.url, now_unix, random_uuid()));
  } else {
    body += "&client_secret=" + url_escape(cfg.client_secret);
  }
  req.body = std::move(body);
  return req;
}

FetchResult parse_token_response(const Response& resp, const config::M365Provider& cfg) {
  FetchResult r;
  if (!resp.ok()) {
    r.error = classify_transport(resp.curl, resp.curl_error);
    r.error.text = "token endpoint unreachable: " + r.error.text;
    return r;
  }
  if (resp.status >= 300 && resp.status < 400) {
    r.error = classify_token(resp.status, "", TokenContext{cfg.tenant_id, cfg.client_id, cfg.login_url});
    r.error.text = fmt::format("token endpoint answered a redirect (HTTP {} to {}); relay never follows redirects: "
                               "check login_url and any proxy in between", resp.status,
                               resp.header("location").empty() ? "no Location" : resp.header("location"));
    return r;
  }
  if (resp.status != 200) {
    r.error = classify_token(resp.status, resp.body, TokenContext{cfg.tenant_id, cfg.client_id, cfg.login_url});
    return r;
  }
  const cloud::TokenGrant g = cloud::parse_token_grant(resp.body);
  if (!g.ok) {
    r.error.outcome = Outcome::Transient;
    r.error.code = 200;
    r.error.enhanced = "4.4.3";
    r.error.text = "token endpoint answered 200 without an access_token (not JSON, or no token in it)";
    return r;
  }
  if (g.expires_in_defaulted) {
    log::warn("m365 event=token_expires_in_unusable assumed={} reason=\"the token endpoint's expires_in is missing, "
              "not a positive number, or not a number; a 401 will refresh it sooner\"", g.expires_in);
  }
  r.ok = true;
  r.access_token = g.access_token;
  r.expires_in = g.expires_in;
  return r;
}

Fetcher make_fetcher(net::CurlMulti& curl, HttpOptions opt, const config::M365Provider& cfg,
                     std::shared_ptr<const JwtSigner> signer, std::string scope) {
  return [&curl, opt, cfg, signer, scope](FetchDone done) {
    Request req = build_token_request(cfg, signer.get(), static_cast<std::int64_t>(std::time(nullptr)), scope);
    perform(curl, opt, std::move(req), [cfg, done = std::move(done)](Response resp) {
      done(parse_token_response(resp, cfg));
    });
  };
}

}  // namespace relay::provider::m365
