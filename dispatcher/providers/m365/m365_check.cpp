// Adapter::test() (relayctl provider test) and client-secret expiry
// tracking. See m365_adapter.hpp.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "dispatcher/providers/m365/cloud_names.hpp"
#include "dispatcher/providers/m365/graph_errors.hpp"
#include "dispatcher/providers/m365/m365_adapter.hpp"
#include "dispatcher/providers/m365/secret_expiry.hpp"

namespace relay::provider::m365 {
namespace {

Result fail(std::string text, int code = 0) {
  Result r;
  r.outcome = Outcome::Permanent;
  r.code = code;
  r.enhanced = "5.7.0";
  r.text = std::move(text);
  r.config_error = true;
  return r;
}

// Application permissions of the token (its "roles" claim), when the token
// is a readable JWT; nullopt when it is opaque.
std::optional<std::vector<std::string>> token_roles(const std::string& token) {
  auto a = token.find('.');
  auto b = token.find('.', a == std::string::npos ? a : a + 1);
  if (a == std::string::npos || b == std::string::npos) return std::nullopt;
  std::string payload;
  if (!base64_decode(std::string_view(token).substr(a + 1, b - a - 1), &payload)) return std::nullopt;
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  std::vector<std::string> roles;
  if (j.contains("roles") && j["roles"].is_array()) {
    for (const auto& r : j["roles"])
      if (r.is_string()) roles.push_back(r.get<std::string>());
  }
  return roles;
}

}  // namespace

std::optional<SecretStatus> Adapter::secret_status() const {
  if (!signer_ && !cfg_.client_secret.empty()) return secret_;
  return std::nullopt;  // certificate credentials: expiry is the certificate's
}

void Adapter::set_expiry(const std::string& date, const std::string& source) {
  // What the token endpoint says wins: a date (config, or Graph read with a
  // token cached from before) does not turn an expired secret back to ok;
  // only a token issued for it again does (token_verdict).
  if (secret_.source == "token" && source != "token") return;
  secret_ = secret_status_from(date, source, std::time(nullptr), cfg_.expiry_warn_days);
  if (secret_.state == "expired") {
    log::error("provider={} event=secret_expired expires={} source={} detail={}", name_, secret_.expires, source,
               log::quote(secret_.detail));
  } else if (secret_.state == "warning") {
    auto w = warn_threshold(secret_.days_left, cfg_.expiry_warn_days);
    if (w != warned_at_) {
      log::warn("provider={} event=secret_expiry_warning days_left={} expires={} source={} warn_at={}", name_,
                secret_.days_left, secret_.expires, source, *w);
    }
    warned_at_ = w;
  }
}

void Adapter::token_verdict(const FetchResult& r) {
  if (signer_ || cfg_.client_secret.empty()) return;
  if (!r.ok && r.error.text.find("AADSTS7000222") != std::string::npos) {
    if (secret_.source == "token") return;
    SecretStatus s;
    s.expires = secret_.expires;  // the date we believed, for the record
    s.days_left = 0;
    s.source = "token";
    s.state = "expired";
    s.detail = "the token endpoint rejects the client secret as expired (AADSTS7000222)" +
               (secret_.expires.empty() ? std::string() : "; believed to expire " + secret_.expires);
    secret_ = std::move(s);
    log::error("provider={} event=secret_expired source=token detail={}", name_, log::quote(secret_.detail));
  } else if (r.ok && secret_.source == "token") {  // the secret works again (renewed in Entra)
    secret_.source.clear();
    set_expiry(cfg_.client_secret_expires, "config");
    expiry_checked_ = 0;  // look the real date up again at the next send
    log::info("provider={} event=secret_accepted_again state={}", name_, secret_.state);
  }
}

void Adapter::refresh_expiry(std::function<void()> then) {
  expiry_checked_ = std::time(nullptr);
  if (signer_ || cfg_.client_secret.empty()) return then();
  Request req;
  req.url = graph_.base + "/v1.0/applications(appId='" + url_escape(cfg_.client_id) + "')?$select=passwordCredentials";
  graph_.call(std::move(req), [this, then = std::move(then)](CallResult cr) {
    if (cr.token_ok && cr.resp.ok() && cr.resp.status == 200) {
      if (auto date = expiry_from_graph(cr.resp.body, cfg_.client_secret)) set_expiry(*date, "graph");
    } else {
      // Application.Read.All is optional: keep the configured date.
      log::debug("provider={} event=secret_expiry_lookup_skipped status={}", name_, cr.resp.status);
    }
    then();
  });
}

// Every application permission the configured paths need, with the path.
std::vector<std::pair<std::string, std::string>> Adapter::needed_permissions() const {
  std::vector<std::pair<std::string, std::string>> need{{"Mail.Send", "every send (sendMail, draft send)"}};
  if (max_message_size_ > cfg_.max_mime_size) {
    need.emplace_back("Mail.ReadWrite", fmt::format("the draft + upload path for messages over max_mime_size ({} bytes; "
                                                    "receiver.limits.max_message_size is {})",
                                                    cfg_.max_mime_size, max_message_size_));
  }
  return need;
}

std::string Adapter::missing_permission(const std::vector<std::string>& roles) const {
  std::string have;
  for (const auto& r : roles) have += (have.empty() ? "" : ",") + r;
  for (const auto& [role, why] : needed_permissions()) {
    if (std::find(roles.begin(), roles.end(), role) != roles.end()) continue;
    return fmt::format("missing permission: app {} has no {} application permission with admin consent, needed by {} "
                       "(token roles: {})", cfg_.client_id, role, why, have.empty() ? "none" : have);
  }
  return {};
}

void Adapter::test(Done done) {
  auto post_done = [loop = loop_, done = std::move(done)](Result r) {
    post(loop, [done, r = std::move(r)] { done(r); });
  };
  expiry_checked_ = std::time(nullptr);  // test() looks it up itself: the start-up timer need not
  tokens_->get([this, post_done](const TokenResult& t) {
    if (!t.ok) {
      Result r = t.error;
      r.outcome = Outcome::Permanent;
      return post_done(r);
    }
    auto roles = token_roles(t.token);
    if (roles) {
      if (auto missing = missing_permission(*roles); !missing.empty()) return post_done(fail(missing));
    }
    refresh_expiry([this, token = t.token, post_done] { test_mailbox(token, post_done); });
  });
}

void Adapter::test_mailbox(const std::string& /*token*/, Done done) {
  std::string mailbox = senders_->default_sender;
  if (mailbox.empty()) {
    for (const auto& a : senders_->allowed)
      if (!a.empty() && a[0] != '@' && a[0] != '*') mailbox = a;
  }
  const std::string secret = secret_.state == "unknown" ? "" : "; " + secret_.detail;
  std::string granted;
  for (const auto& [role, why] : needed_permissions()) granted += (granted.empty() ? "" : ", ") + role + " granted";
  if (mailbox.empty()) {
    Result r;
    r.outcome = Outcome::Sent;
    r.text = "ok: token acquired, " + granted + " (no default sender to check a mailbox)" + secret;
    return done(r);
  }
  Request req;
  req.url = graph_.user_url(mailbox) + "?$select=id,mail";
  graph_.call(std::move(req), [mailbox, secret, granted, done](CallResult cr) {
    Result r = classify(cr, mailbox);
    if (r.outcome == Outcome::Sent) {
      r.text = fmt::format("ok: token acquired, {}, mailbox {} found{}", granted, mailbox, secret);
    } else if (cr.token_ok && cr.resp.ok() && cr.resp.status == 403) {
      auto e = parse_graph_error(cr.resp.body);
      if (e.code == "Authorization_RequestDenied") {  // no User.Read.All: fine for sending
        r.outcome = Outcome::Sent;
        r.text = fmt::format("ok: token acquired, {}; mailbox {} not verified (app lacks User.Read.All){}", granted,
                             mailbox, secret);
      }
    } else if (cr.resp.status == 404 && parse_graph_error(cr.resp.body).code != "MailboxNotEnabledForRESTAPI") {
      r.text = fmt::format("mailbox not found: {} does not exist in the tenant", mailbox);
    }
    if (r.outcome == Outcome::Transient && r.code != 429 && r.code < 500 && r.code != 0) r.outcome = Outcome::Permanent;
    done(r);
  });
}

}  // namespace relay::provider::m365
