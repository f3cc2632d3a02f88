// See token_client.hpp.
#include "dispatcher/providers/gmail/token_client.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "dispatcher/providers/gmail/service_account.hpp"
#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider::gmail {

using cloud::url_escape;

cloud::Request build_token_request(const config::GmailProvider& cfg, const ServiceAccount* sa,
                                  const std::string& subject, std::int64_t now_unix) {
  cloud::Request req;
  req.method = "POST";
  req.url = cfg.token_url;
  req.timeout = std::min<std::int64_t>(cfg.timeout, 60);
  req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
  req.headers.push_back("Accept: application/json");
  req.headers.push_back("User-Agent: relay/0.1 (gmail)");
  if (sa) {
    req.body = "grant_type=" + url_escape(kJwtBearer) + "&assertion=" +
               url_escape(sa->assertion(cfg.scope, cfg.token_url, subject, now_unix));
  } else {
    req.body = "grant_type=refresh_token&client_id=" + url_escape(cfg.client_id) +
               "&client_secret=" + url_escape(cfg.client_secret) + "&refresh_token=" + url_escape(cfg.refresh_token);
  }
  return req;
}

Result classify_transport(const cloud::Response& resp, std::string_view what) {
  Result r = make_result(cause_for_curl(resp.curl), std::string(what) + ": " + resp.curl_error);
  return r;
}

cloud::FetchResult parse_token_response(const cloud::Response& resp, const TokenContext& ctx) {
  cloud::FetchResult r;
  if (!resp.ok()) {
    r.error = classify_transport(resp, "token endpoint unreachable");
    return r;
  }
  if (resp.status >= 300 && resp.status < 400) {
    r.error = make_result(Cause::ConfigError,
                          "token endpoint answered a redirect (HTTP " + std::to_string(resp.status) + " to " +
                              (resp.header("location").empty() ? "no Location" : resp.header("location")) +
                              "); relay never follows redirects: check token_url and any proxy in between");
    r.error.code = static_cast<int>(resp.status);
    return r;
  }
  if (resp.status != 200) {
    r.error = classify_token(resp.status, resp.body, ctx);
    return r;
  }
  const cloud::TokenGrant g = cloud::parse_token_grant(resp.body);
  if (!g.ok) {
    r.error = make_result(Cause::ServiceUnavailable, "token endpoint answered 200 without an access_token");
    r.error.code = 200;
    return r;
  }
  if (g.expires_in_defaulted) {
    log::warn("gmail event=token_expires_in_unusable assumed={} reason=\"the token endpoint's expires_in is missing, "
              "not a positive number, or not a number; a 401 will refresh it sooner\"", g.expires_in);
  }
  r.ok = true;
  r.access_token = g.access_token;
  r.expires_in = g.expires_in;
  return r;
}

cloud::Fetcher make_fetcher(net::CurlMulti& curl, cloud::HttpOptions opt, const config::GmailProvider& cfg,
                           std::shared_ptr<const ServiceAccount> sa, const std::string& subject) {
  TokenContext ctx{sa != nullptr, subject, sa ? sa->client_email() : cfg.client_id};
  return [&curl, opt, cfg, sa, subject, ctx](cloud::FetchDone done) {
    auto req = build_token_request(cfg, sa.get(), subject, static_cast<std::int64_t>(std::time(nullptr)));
    cloud::perform(curl, opt, std::move(req), [ctx, done = std::move(done)](cloud::Response resp) {
      done(parse_token_response(resp, ctx));
    });
  };
}

}  // namespace relay::provider::gmail
